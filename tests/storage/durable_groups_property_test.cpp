// Durable groups under crashes and disk faults (RapidCheck): 3 or 5 members keep their term,
// vote and log in SQLite (storage::sqlite_storage()) on the simulator's disks, which lose and
// tear unsynced writes at a crash, flip bits on reads and fail syncs and writes now and then.
// Members crash in random sets, a minority, a majority or all at once, and restart; partitions
// come and go. At every step the RaftChecker checks Raft safety; after the faults the group must
// commit again within a bound; the client history must be linearizable; and every command a
// client saw acknowledged must be, after the last restart, in the log of every member at the
// index it was acknowledged at: nothing acknowledged is lost by a crash, even of every member.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <sstream>

#include "sim/group_support.hpp"
#include "smalti/sim/kv_state_machine.hpp"
#include "smalti/sim/linearizability.hpp"
#include "smalti/sim/raft_checker.hpp"
#include "smalti/storage/sqlite_storage.hpp"

namespace smalti::sim {
namespace {

using Cluster = support::GroupCluster<KvStateMachine>;

constexpr Duration kFaultWindow = 20s;
constexpr Duration kLivenessBound = 60s;
constexpr Duration kCatchUpBound = 60s;
constexpr std::uint64_t kKeys = 4;
constexpr std::size_t kMaxUncertainWrites = 6;  // see groups_property_test.cpp
constexpr std::size_t kMaxOperations = 400;

struct Workload {
  History<KvModel> history;
  std::uint64_t next_value = 1;
  std::array<std::size_t, kKeys> uncertain_writes{};
  std::map<groups::Index, KvCommand> acknowledged;  // what execute() reported committed, where
};

Task<void> client(World& world, Cluster& cluster, HostId host, std::shared_ptr<Workload> w,
                  Duration every, std::uint64_t seed) {
  Rng rng(seed);
  auto* net = world.network(host);
  while (true) {
    co_await net->node().sleep(every);
    auto* g = cluster.group(host);
    if (!g || w->history.size() >= kMaxOperations) co_return;
    const std::uint64_t key = rng.below(kKeys);
    const std::size_t op = w->history.size();
    if (rng.chance(0.6) && w->uncertain_writes[key] < kMaxUncertainWrites) {
      const KvCommand command{key, w->next_value++};
      w->history.push_back(
          {host, world.now(), Instant::max(), KvModel::put(key, command.value), {}});
      ++w->uncertain_writes[key];
      Result<groups::Index> r = co_await g->execute(command);
      if (r.is_ok()) {
        w->history[op].completed = world.now();
        w->history[op].output = 0;
        --w->uncertain_writes[key];
        w->acknowledged.emplace(*r, command);
      } else if (r.status().code() == StatusCode::kCancelled ||
                 r.status().code() == StatusCode::kLimitExceeded) {
        w->history[op].input = KvModel::get(key);  // definitely not applied
        w->history[op].completed = world.now();
        w->history[op].output.reset();
        --w->uncertain_writes[key];
      }
    } else {
      w->history.push_back({host, world.now(), Instant::max(), KvModel::get(key), {}});
      auto r = co_await g->query(KvQuery{key}, groups::Consistency::kStrong);
      if (r.is_ok()) {
        w->history[op].completed = world.now();
        w->history[op].output = r->result;
      }
    }
  }
}

enum class Kind : std::uint8_t { kCrashSome, kCrashMajority, kCrashAll, kRestartAll, kPartition };
struct Fault {
  int at_ms = 0;
  int kind = 0;  // Kind
  int mask = 0;  // which members, by bit
};

std::string describe(const std::vector<Fault>& faults) {
  static const char* names[] = {"crash-some", "crash-majority", "crash-all", "restart-all",
                                "partition"};
  std::ostringstream out;
  for (const Fault& f : faults) out << f.at_ms << "ms " << names[f.kind] << "(" << f.mask << ") ";
  return out.str();
}

struct Case {
  std::size_t n = 3;
  std::uint64_t seed = 1;
  Duration every;
  std::vector<Fault> faults;
  DiskFaults disk;
  bool buggify = false;  // BUGGIFY's points (docs/buggify.md) on during the fault window
  // Snapshots and log compaction: members snapshot every few dozen entries and prune, so a
  // member that was down catches up from a snapshot (never(): the whole log is kept).
  groups::SnapshotPolicy snapshots = groups::SnapshotPolicy::never();
};

DiskFaults generate_disk() {
  DiskFaults d;
  d.min_latency = 50us;
  d.max_latency = Duration(std::chrono::microseconds(*rc::gen::inRange<int>(100, 5'000)));
  d.torn_write_rate = 0.5;
  d.unsynced_keep_rate = *rc::gen::elementOf(std::vector<double>{0.0, 0.5, 1.0});
  if (*rc::gen::arbitrary<bool>()) {
    d.read_bit_flip_rate = 0.001;
    d.write_error_rate = 0.0005;
    d.sync_error_rate = 0.002;
  }
  return d;
}

void crash_set(World& world, Cluster& c, int mask, std::size_t at_least) {
  const auto& hosts = c.hosts();
  std::size_t crashed = 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (((mask >> i) & 1) && world.network(hosts[i])) {
      c.crash(hosts[i]);
      ++crashed;
    }
  }
  for (std::size_t i = 0; i < hosts.size() && crashed < at_least; ++i) {
    if (world.network(hosts[i])) {
      c.crash(hosts[i]);
      ++crashed;
    }
  }
}

// Restarts every crashed member; returns them.
std::vector<HostId> restart_all(World& world, Cluster& c) {
  std::vector<HostId> restarted;
  for (HostId h : c.hosts()) {
    if (!world.network(h)) {
      world.restart(h);
      restarted.push_back(h);
    }
  }
  return restarted;
}

// Applies `f`; returns the members it restarted.
std::vector<HostId> apply_fault(World& world, Cluster& c, const Fault& f) {
  const std::size_t n = c.hosts().size();
  switch (static_cast<Kind>(f.kind)) {
    case Kind::kCrashSome:
      crash_set(world, c, f.mask & ((1 << ((n - 1) / 2)) - 1), 1);
      break;
    case Kind::kCrashMajority:
      crash_set(world, c, f.mask, n / 2 + 1);
      break;
    case Kind::kCrashAll:
      crash_set(world, c, ~0, n);
      break;
    case Kind::kRestartAll:
      return restart_all(world, c);
    case Kind::kPartition: {
      std::vector<HostId> left, right;
      for (std::size_t i = 0; i < n; ++i) {
        ((f.mask >> i) & 1 ? left : right).push_back(c.hosts()[i]);
      }
      if (!left.empty() && !right.empty()) world.net().partition(left, right);
      break;
    }
  }
  return {};
}

// Returns how many members ended with a pruned log (a snapshot holding its start).
std::size_t run_case(const Case& test_case) {
  // Named members, not a structured binding: clang 14 (the ASan tree) cannot capture a binding
  // in a lambda.
  const auto& n = test_case.n;
  const auto& seed = test_case.seed;
  const auto& every = test_case.every;
  const auto& faults = test_case.faults;
  const auto& disk = test_case.disk;
  const auto& buggify = test_case.buggify;
  const auto& snapshots = test_case.snapshots;
  if (buggify) RC_TAG("buggify");
  if (snapshots.enabled()) RC_TAG("snapshots");
  RC_LOG() << "world seed " << seed << ", " << n << " members, client every "
           << format_duration(every) << ", disk latency up to " << format_duration(disk.max_latency)
           << ", keep " << disk.unsynced_keep_rate
           << (disk.sync_error_rate > 0 ? ", disk errors" : "") << (buggify ? ", buggify" : "")
           << ", snapshot every " << snapshots.every_entries << " keeping "
           << snapshots.retain_entries << ", faults: " << describe(faults) << "\n";
  World world({.seed = seed});
  Cluster c(
      world, n,
      support::fast_consensus().with_bootstrap_expect(static_cast<std::uint32_t>(n / 2 + 1)),
      "durable.group", {}, [](NetworkOptions& o) { o.groups.storage = storage::sqlite_storage(); },
      snapshots);
  // The disks are slow from the start, and fail only during the fault window.
  DiskFaults calm = disk;
  calm.read_bit_flip_rate = calm.write_error_rate = calm.sync_error_rate = 0;
  for (HostId h : c.hosts()) world.disk(h).set_faults(calm);
  RaftChecker checker;
  auto observe = [&] {
    for (HostId h : c.hosts()) {
      if (auto* g = c.group(h)) checker.observe(h, g->raft());
    }
    return false;
  };
  RC_ASSERT(world.run_until([&] { return observe() || c.formed(n); }, 60s));
  auto workload = std::make_shared<Workload>();
  auto start_clients = [&](const std::vector<HostId>& hosts) {
    for (HostId h : hosts) {
      if (world.network(h)) {
        world.network(h)->spawn(client(world, c, h, workload, every, seed * 31 + h));
      }
    }
  };
  for (HostId h : c.hosts()) world.disk(h).set_faults(disk);
  world.set_buggify(buggify);
  start_clients(c.hosts());
  const Instant start = world.now();
  auto sorted = faults;
  std::sort(sorted.begin(), sorted.end(),
            [](const Fault& x, const Fault& y) { return x.at_ms < y.at_ms; });
  for (const Fault& f : sorted) {
    world.run_until([&] { return observe(); },
                    start + Duration(std::chrono::milliseconds(f.at_ms)) - world.now());
    start_clients(apply_fault(world, c, f));
    for (HostId h : c.hosts()) {
      if (!world.network(h)) checker.forget(h);
    }
    if (!checker.ok()) RC_LOG() << checker.violations().front() << "\n";
    RC_ASSERT(checker.ok());
  }
  world.run_until([&] { return observe(); }, start + kFaultWindow - world.now());

  // The faults end: the disks stop failing, the network heals, every member restarts (a member
  // whose disk failed stopped acknowledging until its restart, as an operator would do).
  for (HostId h : c.hosts()) world.disk(h).set_faults(calm);
  world.set_buggify(false);
  world.net().heal_all();
  for (HostId h : c.hosts()) {
    auto* g = c.group(h);
    if (g && !g->status().store_error.is_ok()) {
      c.crash(h);
      checker.forget(h);
    }
  }
  start_clients(restart_all(world, c));

  bool committed = false;
  Network* probe = world.network(c.hosts()[0]);
  probe->spawn([](Cluster& cl, Network& net, HostId h, bool& done) -> Task<void> {
    while (!done) {
      if (auto* g = cl.group(h)) {
        auto r = co_await g->execute(KvCommand{kKeys + 1, 1});
        if (r.is_ok()) done = true;
      }
      if (!done) co_await net.node().sleep(200ms);
    }
  }(c, *probe, c.hosts()[0], committed));
  world.run_until(
      [&] {
        observe();
        return committed;
      },
      kLivenessBound);
  if (!checker.ok()) RC_LOG() << checker.violations().front() << "\n";
  RC_ASSERT(checker.ok());
  RC_ASSERT(committed);

  // Every member catches up past every acknowledged index; each holds each acknowledged command
  // at its index.
  const groups::Index last_ack =
      workload->acknowledged.empty() ? 0 : workload->acknowledged.rbegin()->first;
  RC_TAG(workload->acknowledged.size() < 20 ? "<20 acknowledged" : ">=20 acknowledged");
  // The clients go on while the members catch up: what is checked is what was acknowledged now.
  const std::map<groups::Index, KvCommand> acknowledged = workload->acknowledged;
  const bool caught_up = world.run_until(
      [&] {
        observe();
        for (HostId h : c.hosts()) {
          auto* g = c.group(h);
          if (!g || g->status().committed < last_ack) return false;
        }
        return true;
      },
      kCatchUpBound);
  if (!caught_up) {
    for (HostId h : c.hosts()) {
      auto* g = c.group(h);
      if (!g) continue;
      const groups::RaftMachine& raft = g->raft();
      RC_LOG() << "member " << h << ": " << groups::role_name(raft.role()) << " of term "
               << raft.term() << ", committed " << raft.commit_index() << " (needs " << last_ack
               << "), log (" << raft.log().base().index << ", " << raft.log().last_index()
               << "], snapshot " << (raft.snapshot() ? raft.snapshot()->meta.index : 0)
               << (raft.catching_up() ? ", catching up" : "")
               << (g->status().store_error.is_ok() ? "" : ", store error") << "\n";
    }
  }
  RC_ASSERT(caught_up);
  std::optional<KvStateMachine> reference;  // the state of the first member at the same index
  for (HostId h : c.hosts()) {
    const groups::RaftLog& log = c.group(h)->raft().log();
    for (const auto& [index, command] : acknowledged) {
      if (index > log.last_index()) {
        RC_LOG() << "member " << h << " committed " << c.group(h)->status().committed << ", log ("
                 << log.base().index << ", " << log.last_index() << "], acknowledged index "
                 << index << "\n";
      }
      RC_ASSERT(index <= log.last_index());
      // A pruned entry is in the member's snapshot; the final states are compared below.
      if (index <= log.base().index) continue;
      auto stored = decode<KvCommand>(log.at(index).payload.view());
      if (!stored.is_ok() || !(*stored == command)) {
        RC_LOG() << "member " << h << " lost the command acknowledged at " << index << "\n";
      }
      RC_ASSERT(stored.is_ok() && *stored == command);
    }
  }
  // Members that applied the same entries hold the same state, whether they replayed the log or
  // restored a snapshot (the acknowledged commands pruned from a log are checked here).
  RC_ASSERT(world.run_until(
      [&] {
        const groups::Index target = c.group(c.hosts()[0])->status().committed;
        for (HostId h : c.hosts()) {
          if (c.group(h)->status().applied != target) return false;
        }
        return true;
      },
      kCatchUpBound));
  for (HostId h : c.hosts()) {
    const KvStateMachine& state = c.group(h)->state();
    if (!reference) reference = state;
    RC_ASSERT(state.values == reference->values);
    RC_ASSERT(state.applied == reference->applied);
  }
  std::size_t pruned = 0;
  for (HostId h : c.hosts()) {
    const groups::RaftMachine& raft = c.group(h)->raft();
    if (raft.catch_up_stats().snapshots_installed > 0) RC_TAG("snapshot installed");
    if (raft.log().base().index > 0) ++pruned;
  }
  auto result = check_linearizability(workload->history);
  if (result.verdict != LinearizabilityResult::Verdict::kLinearizable) {
    RC_LOG() << verdict_name(result.verdict) << ": " << result.explanation << "\n";
  }
  RC_ASSERT(result.verdict == LinearizabilityResult::Verdict::kLinearizable);
  return pruned;
}

RC_GTEST_PROP(DurableGroupProperties, NothingAcknowledgedIsLostThroughCrashesAndDiskFaults, ()) {
  Case c;
  c.n = *rc::gen::elementOf(std::vector<std::size_t>{3, 5});
  c.seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  c.every = Duration(std::chrono::milliseconds(*rc::gen::inRange<int>(20, 200)));
  c.disk = generate_disk();
  c.buggify = *rc::gen::arbitrary<bool>();
  if (*rc::gen::arbitrary<bool>()) {
    c.snapshots = groups::SnapshotPolicy{}
                      .with_every_entries(*rc::gen::inRange<std::uint64_t>(10, 80))
                      .with_retain_entries(*rc::gen::inRange<std::uint64_t>(0, 20));
  }
  c.faults = *rc::gen::container<std::vector<Fault>>(
      rc::gen::build<Fault>(rc::gen::set(&Fault::at_ms, rc::gen::inRange<int>(0, 20'000)),
                            rc::gen::set(&Fault::kind, rc::gen::inRange<int>(0, 5)),
                            rc::gen::set(&Fault::mask, rc::gen::inRange<int>(0, 32))));
  (void)run_case(c);
}

// A whole-cluster crash with the disks keeping none of their unsynced writes, then a restart:
// the log survives, and every acknowledged command is still there.
TEST(DurableGroupProperties, AWholeClusterCrashLosesNothingAcknowledged) {
  DiskFaults disk;
  disk.min_latency = 50us;
  disk.max_latency = 2ms;
  disk.unsynced_keep_rate = 0;
  (void)run_case(Case{.n = 3,
                      .seed = 4242,
                      .every = 30ms,
                      .faults = {{5'000, static_cast<int>(Kind::kCrashAll), 0},
                                 {6'000, static_cast<int>(Kind::kRestartAll), 0},
                                 {12'000, static_cast<int>(Kind::kCrashAll), 0},
                                 {12'500, static_cast<int>(Kind::kRestartAll), 0}},
                      .disk = disk});
}

// The same with snapshots every 25 entries and a short tail kept: after each whole-cluster
// restart the members restore their stored snapshot and replay the rest of their log.
TEST(DurableGroupProperties, AWholeClusterCrashRestoresFromSnapshots) {
  DiskFaults disk;
  disk.min_latency = 50us;
  disk.max_latency = 2ms;
  disk.unsynced_keep_rate = 0;
  const std::size_t pruned = run_case(
      Case{.n = 3,
           .seed = 4243,
           .every = 20ms,
           .faults = {{5'000, static_cast<int>(Kind::kCrashAll), 0},
                      {6'000, static_cast<int>(Kind::kRestartAll), 0},
                      {12'000, static_cast<int>(Kind::kCrashAll), 0},
                      {12'500, static_cast<int>(Kind::kRestartAll), 0}},
           .disk = disk,
           .snapshots = groups::SnapshotPolicy{}.with_every_entries(25).with_retain_entries(5)});
  EXPECT_EQ(pruned, 3u) << "members kept their whole log";
}

}  // namespace
}  // namespace smalti::sim
