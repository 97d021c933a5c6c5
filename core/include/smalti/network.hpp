// Network: what an application holds — one node with its protocols.
//
// The same class runs in the simulator (sim::World::add_node gives one per simulated node) and
// on the real backend. It owns the Node runtime and the protocol services (ping, discovery,
// streams and groups). Executor thread only, like its node.
#pragma once

#include <memory>

#include "smalti/discovery/discovery.hpp"
#include "smalti/env/environment.hpp"
#include "smalti/groups/groups.hpp"
#include "smalti/ping/ping_service.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/streams/streams.hpp"

namespace smalti {

struct NetworkOptions {
  NodeOptions node;
  ping::Config ping;
  // The network to join, its bootstrap peers, tags and timings.
  discovery::Config discovery;
  groups::GroupsOptions groups;
};

class Network {
 public:
  static Result<std::unique_ptr<Network>> create(const env::Environment& env,
                                                 NetworkOptions options);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  Node& node() { return *node_; }
  const PeerId& id() const { return node_->id(); }
  PeerAddr addr() const { return node_->addr(); }
  ping::PingService& ping() { return *ping_; }
  discovery::Discovery& discovery() { return *discovery_; }
  streams::Streams& streams() { return *streams_; }
  groups::Groups& groups() { return *groups_; }
  void spawn(Task<void> task) { node_->spawn(std::move(task)); }

 private:
  Network() = default;
  std::unique_ptr<Node> node_;
  std::unique_ptr<ping::PingService> ping_;
  std::unique_ptr<discovery::Discovery> discovery_;
  std::unique_ptr<streams::Streams> streams_;
  std::unique_ptr<groups::Groups> groups_;
};

}  // namespace smalti
