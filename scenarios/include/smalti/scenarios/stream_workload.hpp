// The stream workload of a scenario: a price feed from node 0 to every other node.
//
// `workload stream every D [slow HOSTS]`: node 0 produces a Tick every D; every other node
// consumes; slow hosts subscribe but never read, so the producer must cut them (TooSlow) without
// slowing the others. The StreamRecorder lives outside the nodes (it survives crashes) and
// records every tick sent and received. Checks:
//   stream-order: what each consumer received from one producer incarnation is strictly
//                 increasing: in order, no duplicates (safety);
//   stream-liveness within D: every live, fast consumer received every tick sent from D after
//                 the last fault until the end (minus the last second, still in flight).
// Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "smalti/scenarios/runner.hpp"
#include "smalti/scenarios/scenario.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::scenarios {

class StreamRecorder {
 public:
  explicit StreamRecorder(const Scenario& scenario) : scenario_(scenario) {}

  // Sets up node `host`'s part of the workload (called by its setup, after every restart).
  void start(sim::World& world, HostId host, Network& net);
  std::vector<CheckResult> evaluate(sim::World& world) const;
  std::uint64_t sent() const { return sent_.size(); }
  std::uint64_t received(HostId host) const;

 private:
  struct Sent {
    std::uint32_t incarnation = 0;
    std::uint64_t seq = 0;
    Instant at;
  };
  struct Received {
    std::uint32_t producer_incarnation = 0;
    std::uint64_t seq = 0;
    Instant at;
  };
  bool is_slow(HostId host) const;

  const Scenario& scenario_;
  std::vector<Sent> sent_;
  std::map<HostId, std::vector<Received>> received_;
};

}  // namespace smalti::scenarios
