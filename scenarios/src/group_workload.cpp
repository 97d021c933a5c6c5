#include "smalti/scenarios/group_workload.hpp"

#include <algorithm>

#include "smalti/groups/stores.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/storage/sqlite_storage.hpp"

namespace smalti::scenarios {

namespace {
std::string at(const sim::World& world) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%.3fs]",
                std::chrono::duration<double>(world.now().since_origin()).count());
  return buf;
}

// A put acknowledged this shortly before the end may still be on its way to a lagging member:
// it must then be in some member's log, not yet in every one.
constexpr Duration kCatchUpGrace = 2s;

// The last index a member pruned into its snapshot (0 while logs are never pruned). Written
// against RaftLog::base() when the log has one, so the check stays right once logs compact.
template <typename Log>
groups::Index snapshot_base(const Log& log) {
  if constexpr (requires { log.base().index; }) {
    return log.base().index;
  } else {
    return 0;
  }
}

class VolatileStoreProvider final : public groups::StoreProvider {
 public:
  explicit VolatileStoreProvider(Node& node) : node_(node) {}
  Result<groups::GroupStores> open(const groups::GroupId& group) override {
    auto stores = std::make_shared<groups::MemoryStores>(node_.executor(), nullptr, group);
    return groups::GroupStores{stores, stores, stores};
  }
  std::string describe() const override { return "volatile, in memory"; }

 private:
  Node& node_;
};
}  // namespace

groups::StorageFactory volatile_storage() {
  return [](Node& node) -> Result<std::shared_ptr<groups::StoreProvider>> {
    return std::shared_ptr<groups::StoreProvider>(std::make_shared<VolatileStoreProvider>(node));
  };
}

groups::StorageFactory storage_of(GroupStorage storage) {
  switch (storage) {
    case GroupStorage::kDurable:
      return storage::sqlite_storage();
    case GroupStorage::kVolatile:
      return volatile_storage();
    case GroupStorage::kMemory:
      break;
  }
  return {};
}

void GroupRecorder::start(sim::World& world, HostId host, Network& net) {
  groups_.erase(host);
  auto group = net.groups()
                   .with_key(groups::GroupKey::from_secret("smalti.scenario." + scenario_.name))
                   .with_state_machine(sim::KvStateMachine{})
                   .with_consensus_config(
                       groups::ConsensusConfig{}.with_bootstrap_expect(scenario_.nodes / 2 + 1))
                   .join();
  SMALTI_ASSERT(group.is_ok(), "the scenario group could not be joined");
  groups_.emplace(host, std::move(group).value());
  net.spawn(client(world, host, net));
}

Task<void> GroupRecorder::client(sim::World& world, HostId host, Network& net) {
  Rng rng = net.node().make_rng("scenario.group.client");
  while (true) {
    co_await net.node().sleep(scenario_.group_every);
    auto it = groups_.find(host);
    if (it == groups_.end()) co_return;
    KvGroup& group = it->second;
    const std::uint64_t key = rng.below(kKeys);
    const std::size_t op = history_.size();
    const Instant invoked = world.now();
    if (rng.chance(0.5)) {
      const std::uint64_t value = next_value_++;
      history_.push_back({host, invoked, Instant::max(), sim::KvModel::put(key, value), {}});
      const sim::KvCommand command{key, value};
      Result<groups::Index> r = co_await group.execute(command);
      if (r.is_ok()) {
        acknowledge(*r, command, world.now());
        history_[op].completed = world.now();
        history_[op].output = 0;
        ++puts_ok_;
        last_put_ok_invoked_ = std::max(last_put_ok_invoked_, invoked);
      } else {
        ++failed_;
        if (r.status().code() == StatusCode::kCancelled) {
          // Replaced by a new leader's entry: it never took effect.
          history_[op] = {host, invoked, world.now(), sim::KvModel::get(key), std::nullopt};
        }
      }
    } else {
      history_.push_back({host, invoked, Instant::max(), sim::KvModel::get(key), {}});
      auto r = co_await group.query(sim::KvQuery{key}, groups::Consistency::kStrong);
      if (r.is_ok()) {
        history_[op].completed = world.now();
        history_[op].output = r->result;
        ++reads_ok_;
      } else {
        ++failed_;  // a failed read has no effect: it may stay unplaced
      }
    }
  }
}

void GroupRecorder::acknowledge(groups::Index index, const sim::KvCommand& command, Instant at) {
  auto [it, added] = acknowledged_.try_emplace(index, Acknowledged{command, at});
  if (!added && !(it->second.command == command) && acknowledged_conflict_.empty()) {
    acknowledged_conflict_ =
        "two different puts were acknowledged at index " + std::to_string(index) + " (values " +
        std::to_string(it->second.command.value) + " and " + std::to_string(command.value) + ")";
  }
}

void GroupRecorder::after_crash(const sim::World& world) {
  for (HostId h = 0; h < world.host_count(); ++h) {
    if (world.is_alive(h)) return;
  }
  ++whole_cluster_crashes_;
  last_whole_cluster_crash_ = world.now();
}

void GroupRecorder::observe(sim::World& world, HostId host) {
  auto it = groups_.find(host);
  if (it == groups_.end()) return;
  const std::uint32_t incarnation = world.incarnation(host);
  auto [inc, first] = incarnations_.try_emplace(host, incarnation);
  if (!first && inc->second != incarnation) {
    checker_.forget(host);  // a restarted member: its durable log is observed afresh
    inc->second = incarnation;
  }
  const groups::RaftMachine& raft = it->second.raft();
  checker_.observe(host, raft);
  if (raft.is_leader() && raft.term() > leader_term_) {
    if (leader_term_ != 0) ++leader_changes_;
    leader_term_ = raft.term();
    if (log_) {
      *log_ << at(world) << " group: n" << host << " leads term " << raft.term() << " ("
            << raft.voters().voters.size() << " voters, commit " << raft.commit_index() << ")\n";
    }
  }
}

std::string GroupRecorder::summary() const {
  return "group: " + std::to_string(puts_ok_) + " puts committed, " + std::to_string(reads_ok_) +
         " strong reads, " + std::to_string(failed_) + " calls failed or timed out, " +
         std::to_string(leader_changes_) + " leader changes, highest commit " +
         std::to_string(checker_.max_committed());
}

CheckResult GroupRecorder::check_safety() const {
  const bool durable = !durability_ || durability_->ok();
  CheckResult r{"group-safety", checker_.ok() && durable, false, ""};
  if (!checker_.ok()) {
    r.detail = checker_.violations().front();
  } else if (!durable) {
    r.detail = durability_->violations().front();
  } else {
    r.detail =
        "election safety, log matching, leader completeness and state machine "
        "safety held at every step over " +
        std::to_string(checker_.terms_with_leader()) + " terms with a leader";
    if (durability_) {
      r.detail += "; " + std::to_string(durability_->votes_checked()) + " votes and " +
                  std::to_string(durability_->appends_checked()) +
                  " acknowledged appends were durable when sent";
    } else {
      r.detail +=
          "; durability when sent not checked: volatile members keep nothing durable "
          "(group-log-survived shows what crashes lost)";
    }
  }
  return r;
}

CheckResult GroupRecorder::check_log_survived(sim::World& world) const {
  CheckResult r{"group-log-survived", true, false, ""};
  const Instant end = world.now();
  std::vector<const groups::RaftLog*> logs;
  std::uint64_t down = 0;
  for (HostId h = 0; h < world.host_count(); ++h) {
    auto it = groups_.find(h);
    if (world.network(h) == nullptr || it == groups_.end()) {
      ++down;
      continue;
    }
    logs.push_back(&it->second.raft().log());
  }
  std::uint64_t survived = 0, lost = 0, in_snapshot = 0, in_flight = 0;
  std::uint64_t before_crash = 0, survived_crash = 0;
  std::string first;
  for (const auto& [index, ack] : acknowledged_) {
    const bool settled = ack.at + kCatchUpGrace <= end;
    std::size_t holders = 0, missing = 0;
    std::string problem;
    for (const groups::RaftLog* log : logs) {
      if (index <= snapshot_base(*log)) {
        ++in_snapshot;
        ++holders;
        continue;
      }
      if (index > log->last_index()) {
        ++missing;
        continue;
      }
      const groups::LogEntry& entry = log->at(index);
      auto stored = entry.kind == groups::EntryKind::kCommand
                        ? decode<sim::KvCommand>(entry.payload.view())
                        : Result<sim::KvCommand>(error(StatusCode::kNotFound, "not a command"));
      if (stored.is_ok() && *stored == ack.command) {
        ++holders;
      } else if (problem.empty()) {
        problem = "a member holds a different entry there";
      }
    }
    if (problem.empty() && missing > 0 && (settled || holders == 0)) {
      problem = std::to_string(missing) + " of " + std::to_string(logs.size()) +
                " running members lack it";
    }
    if (problem.empty() && missing > 0) ++in_flight;
    const bool crashed_since = whole_cluster_crashes_ > 0 && ack.at < last_whole_cluster_crash_;
    before_crash += crashed_since ? 1 : 0;
    if (problem.empty()) {
      ++survived;
      survived_crash += crashed_since ? 1 : 0;
      continue;
    }
    ++lost;
    if (first.empty()) {
      first = "the put of key " + std::to_string(ack.command.key) + " value " +
              std::to_string(ack.command.value) + " acknowledged at index " +
              std::to_string(index) + " at " + format_duration(ack.at.since_origin()) + ": " +
              problem;
    }
  }
  r.passed = lost == 0 && acknowledged_conflict_.empty() && !logs.empty();
  r.detail = std::to_string(acknowledged_.size()) + " acknowledged puts checked in the logs of " +
             std::to_string(logs.size()) + " running members (" + std::to_string(down) +
             " down): " + std::to_string(survived) + " intact, " + std::to_string(lost) +
             " lost or changed; ";
  if (whole_cluster_crashes_ == 0) {
    r.detail += "there was no whole-cluster crash";
  } else {
    r.detail += std::to_string(survived_crash) + " of the " + std::to_string(before_crash) +
                " acknowledged before the last whole-cluster crash (at " +
                format_duration(last_whole_cluster_crash_.since_origin()) + ", " +
                std::to_string(whole_cluster_crashes_) + " in all) survived it";
  }
  if (in_snapshot > 0) {
    r.detail += "; " + std::to_string(in_snapshot) + " member entries skipped (in a snapshot)";
  }
  if (in_flight > 0) {
    r.detail += "; " + std::to_string(in_flight) + " acknowledged in the last " +
                format_duration(kCatchUpGrace) + " not yet at every member";
  }
  if (!acknowledged_conflict_.empty()) r.detail += "; " + acknowledged_conflict_;
  if (!first.empty()) r.detail += "; first: " + first;
  if (logs.empty()) r.detail += "; no member is running";
  return r;
}

std::vector<CheckResult> GroupRecorder::evaluate(sim::World& world) const {
  std::vector<CheckResult> out;
  for (const Check& c : scenario_.checks) {
    if (c.kind == CheckKind::kGroupSafety) {
      out.push_back(check_safety());
    } else if (c.kind == CheckKind::kGroupLogSurvived) {
      out.push_back(check_log_survived(world));
    } else if (c.kind == CheckKind::kGroupLinearizable) {
      auto result = sim::check_linearizability(history_);
      CheckResult r{"group-linearizable",
                    result.verdict == sim::LinearizabilityResult::Verdict::kLinearizable, false,
                    ""};
      r.detail = r.passed
                     ? std::to_string(history_.size()) +
                           " client operations (puts and strong reads) are linearizable"
                     : std::string(sim::verdict_name(result.verdict)) + ": " + result.explanation;
      out.push_back(std::move(r));
    } else if (c.kind == CheckKind::kGroupLiveness) {
      const Instant from = Instant() + last_fault_end(scenario_) + c.within;
      CheckResult r{"group-liveness within " + format_duration(c.within),
                    last_put_ok_invoked_ >= from, true, ""};
      r.detail =
          r.passed
              ? "puts invoked after " + format_duration(from.since_origin()) + " were committed"
              : "no put invoked after " + format_duration(from.since_origin()) + " was committed";
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace smalti::scenarios
