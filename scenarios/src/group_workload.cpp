#include "smalti/scenarios/group_workload.hpp"

#include <algorithm>

namespace smalti::scenarios {

namespace {
std::string at(const sim::World& world) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%.3fs]",
                std::chrono::duration<double>(world.now().since_origin()).count());
  return buf;
}
}  // namespace

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
      Result<groups::Index> r = co_await group.execute(sim::KvCommand{key, value});
      if (r.is_ok()) {
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

std::vector<CheckResult> GroupRecorder::evaluate() const {
  std::vector<CheckResult> out;
  for (const Check& c : scenario_.checks) {
    if (c.kind == CheckKind::kGroupSafety) {
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
        }
      }
      out.push_back(std::move(r));
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
