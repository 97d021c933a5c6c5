// Helpers for group simulation tests: a Counter state machine and a world of members that join
// one group in their setup (so a restarted member joins again), whose sends a DurabilityChecker
// watches for as long as the cluster lives. Test thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "discovery_support.hpp"
#include "smalti/groups/groups.hpp"
#include "smalti/groups/stores.hpp"
#include "smalti/sim/durability_checker.hpp"

namespace smalti::sim::support {

struct Counter {
  using Command = std::uint64_t;  // added to the value
  using Query = groups::Unit;
  using QueryResult = std::uint64_t;
  std::uint64_t value = 0;
  std::uint64_t applied_commands = 0;
  Digest signature() const { return Digest::from_string("test.counter.v1"); }
  void apply(const Command& c, const groups::ApplyContext&) {
    value += c;
    ++applied_commands;
  }
  QueryResult query(const Query&) const { return value; }
};

// MemoryStores behind the three store interfaces, every call forwarded; a test store derives
// from it and replaces what it changes (sync, usually).
class ForwardingStores : public groups::StateStore,
                         public groups::LogStore,
                         public groups::SnapshotStore {
 public:
  explicit ForwardingStores(std::unique_ptr<groups::MemoryStores> inner)
      : inner_(std::move(inner)) {}
  Result<groups::HardState> load_state() override { return inner_->load_state(); }
  void save(const groups::HardState& s) override { inner_->save(s); }
  Result<std::vector<groups::LogEntry>> load_log() override { return inner_->load_log(); }
  Result<groups::Cursor> load_base() override { return inner_->load_base(); }
  void prune_through(groups::Cursor through) override { inner_->prune_through(through); }
  void reset_to(groups::Cursor base) override { inner_->reset_to(base); }
  Result<std::optional<groups::Snapshot>> load_snapshot() override {
    return inner_->load_snapshot();
  }
  void save_snapshot(std::optional<groups::Snapshot> s) override {
    inner_->save_snapshot(std::move(s));
  }
  void truncate_from(groups::Index from) override { inner_->truncate_from(from); }
  void append(groups::Index at, std::vector<groups::LogEntry> entries) override {
    inner_->append(at, std::move(entries));
  }
  void sync(std::function<void(Status)> done) override { inner_->sync(std::move(done)); }

 protected:
  groups::MemoryStores& inner() { return *inner_; }

 private:
  std::unique_ptr<groups::MemoryStores> inner_;
};

// A Counter with snapshot() / restore(); `ballast` bytes of padding make its snapshot as large
// as a test needs (several chunks).
struct SnapshotCounter : Counter {
  std::uint64_t ballast = 0;
  Digest signature() const { return Digest::from_string("test.snapshot_counter.v1"); }
  Bytes snapshot() const {
    Bytes out = encode(std::vector<std::uint64_t>{value, applied_commands});
    out.resize(out.size() + ballast, 0xab);
    return out;
  }
  Status restore(ByteView state) {
    Decoder d(state);
    std::vector<std::uint64_t> fields;
    SMALTI_RETURN_IF_ERROR(decode_from(d, fields));
    if (fields.size() != 2 || d.remaining() != ballast) {
      return error(StatusCode::kMalformed, "not a SnapshotCounter snapshot");
    }
    value = fields[0];
    applied_commands = fields[1];
    return Status::ok();
  }
};

// A Counter whose members may differ in how willing they are to lead (not in the GroupId).
struct PreferenceCounter : Counter {
  groups::LeadershipPreference preference;
  groups::LeadershipPreference leadership_preference() const { return preference; }
};

inline groups::ConsensusConfig fast_consensus() {
  return groups::ConsensusConfig{}
      .with_heartbeat_interval(100ms)
      .with_heartbeat_jitter(30ms)
      .with_max_missed_heartbeats(10)
      .with_election_timeout(500ms)
      .with_election_timeout_jitter(250ms)
      .with_bootstrap_delay(500ms);
}

// Voters a group of n members settles on with the default max_voters (5): all of them up to
// three, then an odd number.
inline std::size_t expected_voters(std::size_t n) {
  return n <= 3 ? n : n == 4 ? 3 : 5;
}

// Runs `call()` (which returns an awaitable) in a task on `host`, and the world until it
// yields (or `limit` passes).
template <typename T, typename Call>
std::optional<T> await_on(World& world, HostId host, Call call, Duration limit = 30s) {
  auto result = std::make_shared<std::optional<T>>();
  world.network(host)->spawn([](Call c, std::shared_ptr<std::optional<T>> out) -> Task<void> {
    out->emplace(co_await c());
  }(std::move(call), result));
  world.run_until([&] { return result->has_value(); }, limit);
  return *result;
}

template <typename M = Counter>
class GroupCluster {
 public:
  // Member i runs make(i) (M{} without one).
  // `options` adjusts each member's NetworkOptions (its storage, for example); `snapshots` is the
  // members' snapshot policy (for machines with snapshot() / restore()).
  GroupCluster(World& world, std::size_t n, groups::ConsensusConfig consensus = fast_consensus(),
               std::string key = "test.group", std::function<M(std::size_t)> make = {},
               std::function<void(NetworkOptions&)> options = {},
               groups::SnapshotPolicy snapshots = {})
      : world_(world), options_(std::move(options)), snapshots_(snapshots), durability_(world) {
    for (std::size_t i = 0; i < n; ++i) add(consensus, key, make ? make(i) : M{});
  }
  // Every group simulation checks that no member promised what was not durable yet.
  ~GroupCluster() {
    groups_.clear();
    if (expect_durable_) {
      EXPECT_TRUE(durability_.ok()) << durability_.violations().front();
    }
  }
  const DurabilityChecker& durability() const { return durability_; }
  // For tests of the checker itself, which plant members that promise too early.
  void expect_durability_violations() { expect_durable_ = false; }

  using Stores = std::pair<std::shared_ptr<groups::StateStore>, std::shared_ptr<groups::LogStore>>;
  // One more member, joining with `machine` (and the stores `stores` makes, when given);
  // returns its host.
  HostId add(groups::ConsensusConfig consensus, std::string key, M machine,
             std::function<Stores(Network&)> stores = {}) {
    const std::size_t i = hosts_.size();
    NodeSpec spec{.name = "g" + std::to_string(i)};
    spec.options.discovery =
        discovery::Config(test_network()).with_announce_interval(2s).with_purge_after(60s);
    if (i > 0) spec.options.discovery.with_bootstrap(world_.addr(hosts_[0]));
    if (options_) options_(spec.options);
    const HostId host = static_cast<HostId>(world_.host_count());
    spec.setup = [this, host, consensus, key, machine, stores, log_replay = log_replay_,
                  snapshots = snapshots_](Network& net) {
      groups_.erase(host);
      groups::GroupBuilder<M> builder = net.groups()
                                            .with_key(groups::GroupKey::from_secret(key))
                                            .with_state_machine(machine)
                                            .with_consensus_config(consensus)
                                            .with_log_replay(log_replay)
                                            .with_snapshots(snapshots);
      if (stores) {
        auto [state, log] = stores(net);
        std::move(builder).with_state_storage(state).with_log_storage(log);
      }
      auto g = std::move(builder).join();
      SMALTI_ASSERT(g.is_ok(), "join failed");
      groups_.emplace(host, std::move(g).value());
    };
    hosts_.push_back(world_.add_node(std::move(spec)));
    return hosts_.back();
  }

  // The log replay settings of the members added from now on.
  void set_log_replay(groups::LogReplayConfig c) { log_replay_ = c; }
  // The snapshot policy of the members added from now on.
  void set_snapshots(groups::SnapshotPolicy p) { snapshots_ = p; }
  const std::vector<HostId>& hosts() const { return hosts_; }
  groups::Group<M>* group(HostId h) {
    auto it = groups_.find(h);
    return it == groups_.end() || !world_.network(h) ? nullptr : &it->second;
  }
  void crash(HostId h) {
    groups_.erase(h);
    world_.crash(h);
  }
  std::optional<HostId> leader() {
    std::optional<HostId> best;
    for (HostId h : hosts_) {
      auto* g = group(h);
      if (g && g->is_leader() && (!best || g->status().term > group(*best)->status().term)) {
        best = h;
      }
    }
    return best;
  }
  // Every live member online, with `voters` voters and one leader.
  bool formed(std::size_t voters) {
    std::size_t leaders = 0;
    for (HostId h : hosts_) {
      auto* g = group(h);
      if (!g) continue;
      auto s = g->status();
      if (!s.online || s.voters != voters) return false;
      leaders += g->is_leader();
    }
    return leaders == 1;
  }

 private:
  World& world_;
  std::function<void(NetworkOptions&)> options_;
  groups::SnapshotPolicy snapshots_;
  groups::LogReplayConfig log_replay_;
  DurabilityChecker durability_;
  bool expect_durable_ = true;
  std::vector<HostId> hosts_;
  std::map<HostId, groups::Group<M>> groups_;
};

}  // namespace smalti::sim::support
