// Cluster: N smalti::Network nodes on either backend, so one protocol test runs on both:
// in the simulator (sim::World, virtual time) or on real QUIC over 127.0.0.1 (one Runtime, one
// thread, wall time). Test thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "smalti/real/real_network.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::real::support {

enum class Backend { kSim, kReal };

inline std::string backend_name(Backend b) {
  return b == Backend::kSim ? "Sim" : "Real";
}

class Cluster {
 public:
  explicit Cluster(Backend backend) : backend_(backend) {
    if (backend_ == Backend::kSim)
      world_ = std::make_unique<sim::World>(sim::WorldOptions{.seed = 5});
  }
  ~Cluster() {
    real_nodes_.clear();  // networks before the runtime
  }

  // Adds a node; returns its index.
  std::size_t add(NetworkOptions options) {
    if (backend_ == Backend::kSim) {
      sim::NodeSpec spec{.name = "n" + std::to_string(hosts_.size())};
      spec.options = std::move(options);
      hosts_.push_back(world_->add_node(std::move(spec)));
      return hosts_.size() - 1;
    }
    RealNetworkOptions real_options;
    real_options.network = std::move(options);
    auto node = RealNetwork::create(runtime_, std::move(real_options));
    if (!node.is_ok()) throw std::runtime_error(node.status().to_string());
    real_nodes_.push_back(std::move(node).value());
    return real_nodes_.size() - 1;
  }
  Network& net(std::size_t i) {
    return backend_ == Backend::kSim ? *world_->network(hosts_[i]) : real_nodes_[i]->network();
  }
  PeerAddr addr(std::size_t i) { return net(i).addr(); }
  std::size_t size() const {
    return backend_ == Backend::kSim ? hosts_.size() : real_nodes_.size();
  }
  // Runs until `done` (checked every few milliseconds of the backend's time) or `limit`.
  bool run_until(const std::function<bool()>& done, Duration limit) {
    if (backend_ == Backend::kSim) return world_->run_until(done, limit);
    const Instant deadline = runtime_.monotonic() + limit;
    while (!done() && runtime_.monotonic() < deadline) runtime_.run_for(5ms);
    return done();
  }
  // Removes node i abruptly (a crash in the simulator, a dropped process on the real backend).
  void crash(std::size_t i) {
    if (backend_ == Backend::kSim) {
      world_->crash(hosts_[i]);
    } else {
      real_nodes_[i].reset();
    }
  }
  bool alive(std::size_t i) {
    return backend_ == Backend::kSim ? world_->network(hosts_[i]) != nullptr
                                     : real_nodes_[i] != nullptr;
  }

 private:
  Backend backend_;
  std::unique_ptr<sim::World> world_;
  std::vector<sim::HostId> hosts_;
  Runtime runtime_;
  std::vector<std::unique_ptr<RealNetwork>> real_nodes_;
};

}  // namespace smalti::real::support
