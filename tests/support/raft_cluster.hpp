// RaftCluster: RaftMachines wired by a seeded in-test network, for tests of Raft alone.
//
// Messages take a random delay and may be dropped; partitions cut pairs; a crash loses the
// machine and every Persist not yet completed, a restart rebuilds it from what was durable
// (or from nothing, to model a lost disk). A RaftChecker observes every member after each
// event. Deterministic for a seed. Single-threaded; header-only so any test can use it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/groups/raft_machine.hpp"
#include "smalti/sim/raft_checker.hpp"

namespace smalti::test {

struct RaftClusterOptions {
  std::size_t nodes = 3;
  std::uint64_t seed = 1;
  double drop_rate = 0.0;
  Duration min_delay = 1ms;
  Duration max_delay = 10ms;
  Duration persist_delay = 0ms;
  groups::ConsensusConfig consensus = groups::ConsensusConfig{}
                                          .with_heartbeat_interval(100ms)
                                          .with_heartbeat_jitter(30ms)
                                          .with_max_missed_heartbeats(5)
                                          .with_election_timeout(400ms)
                                          .with_election_timeout_jitter(200ms)
                                          .with_bootstrap_delay(200ms);
  std::vector<groups::LeadershipPreference> preferences;  // per node; default normal
  bool record_effects = false;                            // keep effects_of(i)
};

class RaftCluster {
 public:
  struct Durable {
    groups::HardState hard;
    std::vector<groups::LogEntry> log;
  };

  explicit RaftCluster(RaftClusterOptions options)
      : options_(std::move(options)), rng_(options_.seed) {
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      ids_.push_back(PeerId{Digest::from_u64(1000 + i)});
      durable_.emplace_back();
      machines_.emplace_back();
      epochs_.push_back(0);
      start(i);
    }
    refresh_peers();
  }

  std::size_t size() const { return machines_.size(); }
  Instant now() const { return now_; }
  const PeerId& id(std::size_t i) const { return ids_[i]; }
  bool alive(std::size_t i) const { return machines_[i] != nullptr; }
  groups::RaftMachine& raft(std::size_t i) { return *machines_[i]; }
  const Durable& durable(std::size_t i) const { return durable_[i]; }
  sim::RaftChecker& checker() { return checker_; }
  // Every Send effect, in order (for tests of what went on the wire).
  std::function<void(std::size_t from, const groups::raft_effect::Send&)> on_send;

  std::optional<std::size_t> leader() const {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < size(); ++i) {
      if (machines_[i] && machines_[i]->is_leader() &&
          (!best || machines_[i]->term() > machines_[*best]->term())) {
        best = i;
      }
    }
    return best;
  }

  Result<groups::Cursor> propose(std::size_t i, Bytes command) {
    std::vector<SharedBytes> commands;
    commands.push_back(std::move(command));
    auto r = machines_[i]->propose(now_, std::move(commands));
    drain(i);
    return r;
  }
  void read(std::size_t i, std::uint64_t id) {
    machines_[i]->read(now_, id);
    drain(i);
  }
  std::vector<groups::RaftEffect>& effects_of(std::size_t i) { return recorded_[i]; }

  void crash(std::size_t i) {
    machines_[i].reset();
    ++epochs_[i];
    checker_.forget(i);
    refresh_peers();
  }
  // Restarts from the durable state, or from nothing when `lose_disk`.
  void restart(std::size_t i, bool lose_disk = false) {
    if (lose_disk) durable_[i] = Durable{};
    start(i);
    refresh_peers();
  }
  // Cuts every link between `side` and the others.
  void partition(const std::set<std::size_t>& side) {
    cut_.clear();
    for (std::size_t a = 0; a < size(); ++a) {
      for (std::size_t b = 0; b < size(); ++b) {
        if (side.count(a) != side.count(b)) cut_.insert({a, b});
      }
    }
    refresh_peers();
  }
  void heal() {
    cut_.clear();
    refresh_peers();
  }
  bool connected(std::size_t a, std::size_t b) const { return !cut_.count({a, b}); }

  void run_for(Duration d) { run_until(now_ + d); }
  void run_until(Instant until) {
    for (std::size_t steps = 0; steps < kMaxSteps; ++steps) {
      Instant next = until;
      if (!events_.empty()) next = std::min(next, events_.top().at);
      for (const auto& m : machines_) {
        if (m) next = std::min(next, m->next_deadline());
      }
      if (next >= until && (events_.empty() || events_.top().at > until)) break;
      now_ = std::max(now_, next);
      if (!events_.empty() && events_.top().at <= now_) {
        Event e = events_.top();
        events_.pop();
        e.run();
      } else {
        for (std::size_t i = 0; i < size(); ++i) {
          if (machines_[i] && machines_[i]->next_deadline() <= now_) {
            machines_[i]->handle_timeout(now_);
            drain(i);
          }
        }
      }
    }
    now_ = std::max(now_, until);
  }
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const Instant end = now_ + limit;
    while (now_ < end) {
      if (done()) return true;
      run_for(10ms);
    }
    return done();
  }

  static constexpr std::size_t kMaxSteps = 10'000'000;

 private:
  struct Event {
    Instant at;
    std::uint64_t seq = 0;
    std::function<void()> run;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void schedule(Instant at, std::function<void()> fn) {
    events_.push(Event{at, ++seq_, std::move(fn)});
  }

  void start(std::size_t i) {
    groups::RaftOptions o{
        ids_[i], options_.consensus,
        i < options_.preferences.size() ? options_.preferences[i] : groups::LeadershipPreference{},
        rng_.next_u64()};
    machines_[i] =
        std::make_unique<groups::RaftMachine>(o, durable_[i].hard, durable_[i].log, now_);
    drain(i);
  }

  void refresh_peers() {
    for (std::size_t i = 0; i < size(); ++i) {
      if (!machines_[i]) continue;
      std::vector<groups::RaftPeer> peers;
      for (std::size_t j = 0; j < size(); ++j) {
        if (j != i && machines_[j] && connected(i, j)) {
          peers.push_back({ids_[j],
                           j < options_.preferences.size() && options_.preferences[j].is_observer(),
                           machines_[j]->hard_state().incarnation});
        }
      }
      machines_[i]->handle_peers(now_, peers);
      drain(i);
    }
  }

  std::optional<std::size_t> index_of(const PeerId& id) const {
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == id) return i;
    }
    return std::nullopt;
  }

  void drain(std::size_t i) {
    while (machines_[i]) {
      auto effect = machines_[i]->poll_effect();
      if (!effect) break;
      if (options_.record_effects) recorded_[i].push_back(*effect);
      if (auto* s = std::get_if<groups::raft_effect::Send>(&*effect)) {
        deliver(i, *s);
      } else if (auto* p = std::get_if<groups::raft_effect::Persist>(&*effect)) {
        persist(i, *p);
      }
    }
    if (machines_[i]) {
      machines_[i]->invariants();
      checker_.observe(i, *machines_[i]);
    }
  }

  void deliver(std::size_t from, const groups::raft_effect::Send& s) {
    if (on_send) on_send(from, s);
    auto to = index_of(s.to);
    if (!to || !connected(from, *to) || rng_.chance(options_.drop_rate)) return;
    const Duration delay = rng_.duration_between(options_.min_delay, options_.max_delay);
    const std::uint32_t epoch = epochs_[*to];
    schedule(now_ + delay, [this, from, t = *to, epoch, m = s.message] {
      if (!machines_[t] || epochs_[t] != epoch || !connected(from, t)) return;
      machines_[t]->handle_message(now_, ids_[from], *m);
      drain(t);
    });
  }

  void persist(std::size_t i, const groups::raft_effect::Persist& p) {
    const std::uint32_t epoch = epochs_[i];
    auto apply = [this, i, epoch, p] {
      if (epochs_[i] != epoch) return;  // crashed before the write completed
      Durable& d = durable_[i];
      if (p.hard_state) d.hard = *p.hard_state;
      if (p.truncate_from && *p.truncate_from <= d.log.size()) d.log.resize(*p.truncate_from - 1);
      if (!p.entries.empty()) {
        d.log.resize(p.append_from - 1);
        d.log.insert(d.log.end(), p.entries.begin(), p.entries.end());
      }
      if (machines_[i]) {
        machines_[i]->handle_persisted(now_, p.token);
        drain(i);
      }
    };
    schedule(now_ + options_.persist_delay, apply);
  }

  RaftClusterOptions options_;
  Rng rng_;
  Instant now_;
  std::vector<PeerId> ids_;
  std::vector<Durable> durable_;
  std::vector<std::unique_ptr<groups::RaftMachine>> machines_;
  std::vector<std::uint32_t> epochs_;
  std::set<std::pair<std::size_t, std::size_t>> cut_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t seq_ = 0;
  sim::RaftChecker checker_;
  std::map<std::size_t, std::vector<groups::RaftEffect>> recorded_;
};

}  // namespace smalti::test
