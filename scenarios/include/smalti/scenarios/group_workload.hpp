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
//   group-liveness within D: a put invoked from D after the last fault on was committed;
//   group-log-survived: every put execute() acknowledged at index i is, at the end, at index i of
//                 the log of every running member, the same command (an index at or below a
//                 member's snapshot base is skipped and counted); the detail counts how many
//                 were acknowledged before the last whole-cluster crash.
// Members keep their log in memory over the simulator's medium (the default), in SQLite on the
// simulated disks (`durable`, storage::sqlite_storage()), or in stores a crash wipes
// (`volatile`, to show what the checks catch). Single-threaded.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <string>
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

// In-memory stores with no medium: a crashed member loses its term, vote and log, and restarts
// as a new, empty member. For scenarios that show what a lost log does to the checks.
groups::StorageFactory volatile_storage();

// What the scenario's members keep their groups on: null for the in-memory default.
groups::StorageFactory storage_of(GroupStorage storage);

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
  // Checks every message the members of `world` send from now on (DurabilityChecker), against
  // the durable image of their in-memory or SQLite stores. Volatile members keep nothing
  // durable: they are not watched.
  void watch_durability(sim::World& world) {
    if (scenario_.group_storage != GroupStorage::kVolatile) {
      durability_ = std::make_unique<sim::DurabilityChecker>(world);
    }
  }
  // After a crash fault: notes a whole-cluster crash (every node down at once).
  void after_crash(const sim::World& world);
  std::vector<CheckResult> evaluate(sim::World& world) const;
  // Drops every member's handle; call before the World goes (a handle's stores may still
  // reach into their node's environment as they close, SQLite's do).
  void close() { groups_.clear(); }
  std::string summary() const;

  static constexpr std::uint64_t kKeys = 8;

 private:
  // A put execute() reported committed at an index.
  struct Acknowledged {
    sim::KvCommand command;
    Instant at;
  };
  Task<void> client(sim::World& world, HostId host, Network& net);
  void acknowledge(groups::Index index, const sim::KvCommand& command, Instant at);
  CheckResult check_safety() const;
  CheckResult check_log_survived(sim::World& world) const;

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
  std::map<groups::Index, Acknowledged> acknowledged_;
  std::string acknowledged_conflict_;  // two puts acknowledged at one index: the first such
  std::uint64_t whole_cluster_crashes_ = 0;
  Instant last_whole_cluster_crash_;
};

}  // namespace smalti::scenarios
