// World: many simulated nodes in one process, on one thread, in virtual time.
//
// One master seed derives every sub-seed (network, each node, each disk), and simultaneous events
// run in the order they were scheduled, so the same seed and build give the same run, byte for
// byte: the trace hash proves it. Test code uses the same smalti::Network a real node has:
//
//   sim::World world({.seed = 42});
//   auto a = world.add_node({.name = "a"});
//   auto b = world.add_node({.name = "b", .setup = [](Network& net) { /* spawn tasks */ }});
//   world.net().partition({a}, {b});
//   world.run_for(10s);
//   world.crash(b); world.restart(b);
//
// Faults: the network's (see network.hpp), node crash (volatile state gone, synced files and
// the groups' durable in-memory stores kept, the node's setup runs again on restart), pause (no
// events run, links stall), per-node clock drift, skew and jumps, the disk's (see
// sim_file_system.hpp) and named BUGGIFY points. Single-threaded: a World and its nodes are used
// from one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/groups/stores.hpp"
#include "smalti/network.hpp"
#include "smalti/sim/event_queue.hpp"
#include "smalti/sim/network.hpp"
#include "smalti/sim/sim_clock.hpp"
#include "smalti/sim/sim_file_system.hpp"
#include "smalti/sim/trace.hpp"

namespace smalti::sim {

struct WorldOptions {
  std::uint64_t seed = 1;
  NetworkConfig network;
  // Keep every trace record (for JSON Lines and first-divergence reports), not only the hash.
  bool record_trace = false;
  // BUGGIFY: each named point is enabled for a run with the first probability; an enabled point
  // fires with the second each time it is reached.
  bool buggify = false;
  double buggify_enable_probability = 0.25;
  double buggify_fire_probability = 0.05;
  // When not empty, only these points may be enabled (a test aiming at one rare path).
  std::vector<std::string> buggify_only;
  // Wall-clock time at virtual time zero: 2026-01-01T00:00:00Z.
  WallTime wall_epoch = WallTime::from_unix_nanos(1'767'225'600'000'000'000);
};

struct NodeSpec {
  std::string name;
  // Runs on the node at start and after every restart; spawn the application's tasks here.
  std::function<void(Network&)> setup;
  NetworkOptions options;
};

enum class HostState : std::uint8_t { kUp, kPaused, kCrashed };

// A frame a host handed to the network, as a send observer sees it (valid during the call).
struct SentFrame {
  HostId from = 0;
  HostId to = 0;
  LinkId link = 0;
  const std::string& alpn;
  ByteView frame;
};

struct FaultCount {
  std::string kind;
  std::uint64_t count = 0;
};

class World {
 public:
  explicit World(const WorldOptions& options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  HostId add_node(NodeSpec spec);
  std::size_t host_count() const { return hosts_.size(); }
  // The node's Network, or null while it is crashed.
  Network* network(HostId host);
  PeerId peer_id(HostId host) const;
  PeerAddr addr(HostId host) const;
  const std::string& name(HostId host) const;
  HostState state(HostId host) const;
  std::uint64_t seed() const { return options_.seed; }

  Instant now() const { return now_; }
  // Runs events up to and including `deadline`, then sets the time to it.
  void run_until(Instant deadline);
  void run_for(Duration d) { run_until(now_ + d); }
  // Runs until `done()` holds (checked after every event) or `limit` passes; true if it held.
  bool run_until(const std::function<bool()>& done, Duration limit);
  // Runs one event; false when none is left.
  bool step();

  // A world-level action at a virtual instant (fault schedules, checks).
  void at(Instant when, std::function<void()> fn);
  // Called after every event a node ran, with its host (checkers that watch every step). It
  // must not schedule events or change the world.
  void set_step_observer(std::function<void(HostId)> observer) {
    step_observer_ = std::move(observer);
  }

  // Called with every frame a node sends, when the network takes it (checkers of what a
  // message promises). It must not schedule events or change the world.
  void set_send_observer(std::function<void(const SentFrame&)> observer) {
    send_observer_ = std::move(observer);
  }

  SimNetwork& net() { return *network_; }
  void crash(HostId host);
  void restart(HostId host);
  void pause(HostId host);
  void resume(HostId host);
  SimClock& clock(HostId host);
  // Changes a node's clock rate and moves its pending timers with it (SimClock::set_drift_ppm
  // alone leaves them where they were).
  void set_drift(HostId host, std::int64_t ppm);
  SimFileSystem& disk(HostId host);
  // The durable side of the host's in-memory group stores (kept across its crashes).
  const groups::MemoryMedium& medium(HostId host) const;

  Trace& trace() { return trace_; }
  const Trace& trace() const { return trace_; }
  std::uint64_t events_processed() const { return events_processed_; }
  // Events waiting in the queue (not counting those held for paused nodes).
  std::size_t pending_events() const { return queue_.size(); }
  // Faults injected so far, by kind, in first-injection order.
  const std::vector<FaultCount>& faults() const { return fault_counts_; }

  // ---- for the simulator's own components ---------------------------------------------------
  // `local_deadline`: for timers, the node-clock instant they wait for.
  EventHandle schedule(Instant at, HostId host, EventKind kind, std::function<void()> fn,
                       Instant local_deadline = Instant());
  void cancel(EventHandle handle) { queue_.cancel(handle); }
  bool is_alive(HostId host) const;    // not crashed
  bool is_running(HostId host) const;  // up and not paused
  std::uint32_t incarnation(HostId host) const;
  void run_on_host(HostId host, const std::function<void()>& fn);
  bool has_listener(HostId host, const std::string& alpn) const;
  void accept_link(HostId host, const std::string& alpn, env::LinkPtr link);
  void record(HostId host, std::string_view kind, std::uint64_t a, std::uint64_t b,
              std::uint64_t detail);
  void record_fault(std::string_view kind, std::uint64_t a, std::uint64_t b);
  bool buggify(HostId host, std::string_view point);
  // Turns BUGGIFY on or off from now on (as faults end: checks of liveness and completeness
  // count from the last fault, and an enabled point is one). Which points are enabled for the
  // run does not change.
  void set_buggify(bool on) { options_.buggify = on; }
  // A Buggify function (base/buggify.hpp) asking for `host`, for code without a Node (stores).
  Buggify buggify_fn(HostId host) {
    return [this, host](std::string_view point) { return buggify(host, point); };
  }
  void observe_send(const SentFrame& sent) const {
    if (send_observer_) send_observer_(sent);
  }

 private:
  struct Host;
  class HostExecutor;
  class HostTransport;
  class HostEntropy;
  class HostTracer;

  Host& host(HostId id);
  const Host& host(HostId id) const;
  void start_host(Host& h);
  void stop_host(Host& h);

  WorldOptions options_;
  Rng rng_;
  Instant now_;
  EventQueue queue_;
  Trace trace_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::uint64_t events_processed_ = 0;
  std::vector<FaultCount> fault_counts_;
  std::map<std::string, bool, std::less<>> buggify_points_;
  Rng buggify_rng_;
  HostId current_host_ = kWorldHost;
  std::function<void(HostId)> step_observer_;
  std::function<void(const SentFrame&)> send_observer_;
  std::uint32_t timer_kind_ = 0;  // pre-interned trace kinds of the hot path
  std::uint32_t post_kind_ = 0;
  std::uint32_t net_kind_ = 0;
};

}  // namespace smalti::sim
