// The group workload of a scenario: every node joins one key-value group and, every D, puts a
// unique value or reads a key with a strong query.
//
// `workload group every D`. The GroupRecorder lives outside the nodes (it survives crashes),
// holds each node's handle, records the client history and watches every member's Raft after
// each event the member runs. It reports each new leader as it happens. Checks:
//   group-safety: the RaftChecker saw no violation (election safety, log matching, leader
//                 completeness, state machine safety), and the DurabilityChecker none (every
//                 vote and acknowledged append was durable when its message left);
//   group-linearizable: the client history (puts, strong reads) is linearizable;
//   group-liveness within D: a put invoked from D after the last fault on was committed.
// Single-threaded.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <vector>

#include "smalti/groups/groups.hpp"
#include "smalti/scenarios/runner.hpp"
#include "smalti/scenarios/scenario.hpp"
#include "smalti/sim/durability_checker.hpp"
#include "smalti/sim/kv_state_machine.hpp"
#include "smalti/sim/linearizability.hpp"
#include "smalti/sim/raft_checker.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::scenarios {

class GroupRecorder {
 public:
  using KvGroup = groups::Group<sim::KvStateMachine>;

  explicit GroupRecorder(const Scenario& scenario) : scenario_(scenario) {}

  // Joins node `host` to the group and starts its client (called by its setup, after every
  // restart).
  void start(sim::World& world, HostId host, Network& net);
  // After each event `host` ran.
  void observe(sim::World& world, HostId host);
  void set_log(std::ostream* out) { log_ = out; }
  // Checks every message the members of `world` send from now on (DurabilityChecker).
  void watch_durability(sim::World& world) {
    durability_ = std::make_unique<sim::DurabilityChecker>(world);
  }
  std::vector<CheckResult> evaluate() const;
  std::string summary() const;

  static constexpr std::uint64_t kKeys = 8;

 private:
  Task<void> client(sim::World& world, HostId host, Network& net);

  const Scenario& scenario_;
  std::ostream* log_ = nullptr;
  std::map<HostId, KvGroup> groups_;
  std::map<HostId, std::uint32_t> incarnations_;
  sim::RaftChecker checker_;
  std::unique_ptr<sim::DurabilityChecker> durability_;
  sim::History<sim::KvModel> history_;
  std::uint64_t next_value_ = 1;
  groups::Term leader_term_ = 0;
  std::uint64_t leader_changes_ = 0;
  std::uint64_t puts_ok_ = 0;
  std::uint64_t reads_ok_ = 0;
  std::uint64_t failed_ = 0;
  Instant last_put_ok_invoked_;
};

}  // namespace smalti::scenarios
