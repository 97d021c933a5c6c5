// The ping workload of a scenario and the checks over what it recorded.
//
// Every node pings every other node each `ping_every` (with a per-node phase offset). The
// PingRecorder lives outside the simulated nodes, so it survives their crashes, and records
// every ping started and every completion with the virtual time. Checks:
//   ping-safety:   every ping completes at most once; no RTT is shorter than two minimum one-way
//                  latencies (as read on the pinger's possibly slow clock) or longer than the
//                  timeout; every ping of a running node resolves within its timeout (stretched
//                  by the slowest clock, plus pauses);
//   ping-liveness: after the last fault ends, every ordered pair of running nodes completes a
//                  successful ping within the bound.
// Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "smalti/network.hpp"
#include "smalti/scenarios/runner.hpp"
#include "smalti/scenarios/scenario.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::scenarios {

class PingRecorder {
 public:
  explicit PingRecorder(const Scenario& scenario) : scenario_(scenario) {}

  // Returns the ping's index in the record.
  std::size_t on_start(HostId from, HostId to, std::uint32_t incarnation, Instant at);
  void on_complete(std::size_t index, const Result<Duration>& result, Instant at);

  Duration interval() const { return scenario_.ping_every; }
  std::uint64_t started() const { return pings_.size(); }
  std::uint64_t succeeded() const { return succeeded_; }
  std::uint64_t failed() const { return failed_; }

  std::vector<CheckResult> evaluate(sim::World& world, const Scenario& scenario) const;

 private:
  struct Ping {
    HostId from = 0;
    HostId to = 0;
    std::uint32_t incarnation = 0;
    Instant started;
    std::uint32_t completions = 0;
    bool succeeded = false;
    Duration rtt{0};
    Instant completed;
  };
  CheckResult check_safety(sim::World& world) const;
  CheckResult check_liveness(sim::World& world, Duration within) const;

  const Scenario& scenario_;
  std::vector<Ping> pings_;
  std::uint64_t succeeded_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t extra_completions_ = 0;
};

// Spawns the ping loop of host `self` on `net` (called from the node's setup, so again after
// every restart).
void start_ping_workload(sim::World& world, PingRecorder& recorder, HostId self, Network& net);

}  // namespace smalti::scenarios
