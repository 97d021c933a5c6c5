// The BUGGIFY fault points of groups, streams and discovery (docs/buggify.md), all enabled and
// firing with a small probability: the usual properties still hold (Raft safety at every step,
// linearizability, liveness once the faults end; stream delivery in order, without duplicates
// and complete once settled; discovery convergence), and every point of the area fired, as the
// trace shows. A workload runs over up to kMaxSeeds seeds, until each point has fired at least
// once; every run must pass its checks.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <set>

#include "group_support.hpp"
#include "smalti/sim/kv_state_machine.hpp"
#include "smalti/sim/linearizability.hpp"
#include "smalti/sim/raft_checker.hpp"

namespace smalti {
struct Tick {
  std::uint64_t n = 0;
};
SMALTI_FIELDS(Tick, n)
SMALTI_STREAM(Tick, "test.buggify.tick")
}  // namespace smalti

namespace smalti::sim {
namespace {

using Kv = KvStateMachine;
using Cluster = support::GroupCluster<Kv>;
using Fired = std::map<std::string, std::size_t>;

constexpr std::uint64_t kMaxSeeds = 8;

WorldOptions buggify_options(std::uint64_t seed, double fire) {
  return WorldOptions{.seed = seed,
                      .record_trace = true,
                      .buggify = true,
                      .buggify_enable_probability = 1.0,
                      .buggify_fire_probability = fire};
}

// Adds to `fired` how often each of `points` fired in `trace` (records of kind "buggify", whose
// first number is the hash of the point's name).
void count_fired(const Trace& trace, const std::vector<std::string>& points, Fired& fired) {
  std::map<std::uint64_t, std::string> by_hash;
  for (const std::string& p : points) {
    by_hash[trace_hash_bytes(as_bytes(p))] = p;
    fired.try_emplace(p, 0);
  }
  for (const TraceRecord& r : trace.records()) {
    if (trace.kind_name(r.kind) != "buggify") continue;
    auto it = by_hash.find(r.a);
    if (it != by_hash.end()) ++fired[it->second];
  }
}

// Every point of `points`, none fired yet.
Fired none_fired(const std::vector<std::string>& points) {
  Fired fired;
  for (const std::string& p : points) fired[p] = 0;
  return fired;
}

bool all_fired(const Fired& fired) {
  return std::all_of(fired.begin(), fired.end(), [](const auto& p) { return p.second > 0; });
}

std::string describe(const Fired& fired) {
  std::string out;
  for (const auto& [point, n] : fired) out += point + "=" + std::to_string(n) + " ";
  return out;
}

// ---- groups ------------------------------------------------------------------------------------

const std::vector<std::string> kGroupPoints = {
    "raft.drop_append",       "raft.drop_append_response",
    "raft.drop_vote_request", "raft.early_election_timeout",
    "raft.step_down",         "raft.short_replay_batch",
    "raft.slow_apply",        "bond.handshake_timeout",
    "group.refuse_forward",   "group.refuse_forward_query"};

constexpr std::uint64_t kKeys = 3;
constexpr std::size_t kMaxUncertainWrites = 5;
constexpr std::size_t kMaxOperations = 500;

struct Workload {
  History<KvModel> history;
  std::uint64_t next_value = 1;
  std::array<std::size_t, kKeys> uncertain_writes{};
};

// Puts and strong reads, recorded for the linearizability check (as in groups_property_test).
Task<void> client(World& world, Cluster& cluster, HostId host, std::shared_ptr<Workload> w,
                  std::uint64_t seed) {
  Rng rng(seed);
  while (true) {
    co_await world.network(host)->node().sleep(30ms);
    auto* g = cluster.group(host);
    if (!g || w->history.size() >= kMaxOperations) co_return;
    const std::uint64_t key = rng.below(kKeys);
    const std::size_t op = w->history.size();
    if (rng.chance(0.5) && w->uncertain_writes[key] < kMaxUncertainWrites) {
      const std::uint64_t value = w->next_value++;
      w->history.push_back({host, world.now(), Instant::max(), KvModel::put(key, value), {}});
      ++w->uncertain_writes[key];
      Result<groups::Index> r = co_await g->execute(KvCommand{key, value});
      if (r.is_ok()) {
        w->history[op].completed = world.now();
        w->history[op].output = 0;
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

// Bulk commands on a key no client reads, from every member (forwarded by followers), so that a
// member cut off for a while falls far enough behind to catch up by log replay.
Task<void> feeder(World& world, Cluster& cluster, HostId host) {
  while (true) {
    co_await world.network(host)->node().sleep(20ms);
    auto* g = cluster.group(host);
    if (!g) co_return;
    std::vector<KvCommand> batch(40, KvCommand{kKeys + 1, 1});
    (void)co_await g->feed_many(std::move(batch));
  }
}

// One run: three members under a workload, one member cut off in turn; returns the fired points.
void run_group_case(std::uint64_t seed, Fired& fired) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  World world(buggify_options(seed, 0.05));
  Cluster c(world, 0);
  c.set_log_replay(groups::LogReplayConfig{}.with_batch_size(50));
  for (int i = 0; i < 3; ++i) {
    c.add(support::fast_consensus().with_bootstrap_expect(2), "test.buggify.group", Kv{});
  }
  RaftChecker checker;
  auto observe = [&] {
    for (HostId h : c.hosts()) {
      if (auto* g = c.group(h)) checker.observe(h, g->raft());
    }
    return false;
  };
  world.run_until([&] { return observe() || c.formed(3); }, 60s);
  auto workload = std::make_shared<Workload>();
  for (HostId h : c.hosts()) {
    world.network(h)->spawn(client(world, c, h, workload, seed * 31 + h));
    world.network(h)->spawn(feeder(world, c, h));
  }
  // Each member in turn is cut off for 4s (its bonds time out, it falls behind), then heals.
  for (int round = 0; round < 6; ++round) {
    world.run_until([&] { return observe(); }, 2s);
    const HostId victim = c.hosts()[static_cast<std::size_t>(round) % 3];
    std::vector<HostId> rest;
    for (HostId h : c.hosts()) {
      if (h != victim) rest.push_back(h);
    }
    world.net().partition({victim}, rest);
    world.run_until([&] { return observe(); }, 4s);
    world.net().heal_all();
    ASSERT_TRUE(checker.ok()) << checker.violations().front();
  }
  world.run_until([&] { return observe(); }, 3s);
  // The faults end: the group must commit again within the bound.
  world.set_buggify(false);
  world.net().heal_all();
  bool committed = false;
  Network* probe = world.network(c.hosts()[0]);
  probe->spawn([](Cluster& cl, Network& net, HostId h, bool& done) -> Task<void> {
    while (!done) {
      if (auto* g = cl.group(h)) done = (co_await g->execute(KvCommand{kKeys + 2, 1})).is_ok();
      if (!done) co_await net.node().sleep(200ms);
    }
  }(c, *probe, c.hosts()[0], committed));
  world.run_until(
      [&] {
        observe();
        return committed;
      },
      60s);
  ASSERT_TRUE(checker.ok()) << checker.violations().front();
  ASSERT_TRUE(committed) << "no commit within 60s of the faults' end";
  const auto result = check_linearizability(workload->history);
  ASSERT_EQ(result.verdict, LinearizabilityResult::Verdict::kLinearizable)
      << verdict_name(result.verdict) << ": " << result.explanation;
  count_fired(world.trace(), kGroupPoints, fired);
}

TEST(BuggifyPoints, GroupsStaySafeLinearizableAndLiveAndEveryPointFires) {
  Fired fired = none_fired(kGroupPoints);
  for (std::uint64_t seed = 1; seed <= kMaxSeeds && !all_fired(fired); ++seed) {
    run_group_case(seed, fired);
    if (HasFatalFailure()) return;
  }
  EXPECT_TRUE(all_fired(fired)) << describe(fired);
  std::printf("fired: %s\n", describe(fired).c_str());
}

// ---- streams -----------------------------------------------------------------------------------

const std::vector<std::string> kStreamPoints = {
    "streams.producer_queue_full",   "streams.producer_backpressure",
    "streams.delay_credits",         "streams.consumer_reconnect",
    "streams.admission_no_capacity", "streams.admission_unknown_peer"};

constexpr Duration kStreamFaultsEnd = 30s;
constexpr Duration kStreamSettled = 50s;  // reconnection backoffs have run out by then
constexpr Duration kStreamEnd = 65s;

struct StreamLog {
  std::map<HostId, std::vector<std::uint64_t>> received;
  std::vector<std::pair<std::uint64_t, Instant>> sent;
};

void run_stream_case(std::uint64_t seed, Fired& fired) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  World world(buggify_options(seed, 0.05));
  auto log = std::make_shared<StreamLog>();
  const NetworkId network = NetworkId::from_string("test.buggify.streams");
  std::vector<HostId> hosts;
  for (std::size_t i = 0; i < 4; ++i) {
    NodeSpec spec{.name = "s" + std::to_string(i)};
    spec.options.discovery =
        discovery::Config(network).with_announce_interval(5s).with_purge_after(30s);
    if (i > 0) spec.options.discovery.with_bootstrap(world.addr(hosts[0]));
    const auto self = static_cast<HostId>(i);
    if (i == 0) {
      spec.setup = [&world, log](Network& net) {
        net.spawn([](World& w, Network& n, std::shared_ptr<StreamLog> l) -> Task<void> {
          auto producer = n.streams().producer<Tick>().with_buffer_size(64).build().value();
          for (std::uint64_t k = 0;; ++k) {
            co_await n.node().sleep(10ms);
            if (producer.try_send(Tick{k}).is_ok()) l->sent.emplace_back(k, w.now());
          }
        }(world, net, log));
      };
    } else {
      spec.setup = [log, self](Network& net) {
        net.spawn([](Network& n, std::shared_ptr<StreamLog> l, HostId h) -> Task<void> {
          auto consumer = n.streams().consumer<Tick>().with_buffer_size(64).build().value();
          while (true) l->received[h].push_back((co_await consumer.recv()).n);
        }(net, log, self));
      };
    }
    hosts.push_back(world.add_node(std::move(spec)));
  }
  world.at(Instant() + kStreamFaultsEnd, [&world] { world.set_buggify(false); });
  world.run_until(Instant() + kStreamEnd);
  for (std::size_t c = 1; c < hosts.size(); ++c) {
    const auto& got = log->received[hosts[c]];
    // In order and without duplicates, over the whole run.
    for (std::size_t i = 1; i < got.size(); ++i) {
      ASSERT_LT(got[i - 1], got[i]) << "consumer " << c << " at " << i;
    }
    // Complete once settled.
    const std::set<std::uint64_t> have(got.begin(), got.end());
    for (const auto& [k, at] : log->sent) {
      if (at < Instant() + kStreamSettled || at > Instant() + kStreamEnd - 1s) continue;
      ASSERT_EQ(have.count(k), 1u) << "consumer " << c << " misses " << k;
    }
  }
  count_fired(world.trace(), kStreamPoints, fired);
}

TEST(BuggifyPoints, StreamsDeliverInOrderWithoutDuplicatesAndCompleteAndEveryPointFires) {
  Fired fired = none_fired(kStreamPoints);
  for (std::uint64_t seed = 1; seed <= kMaxSeeds && !all_fired(fired); ++seed) {
    run_stream_case(seed, fired);
    if (HasFatalFailure()) return;
  }
  EXPECT_TRUE(all_fired(fired)) << describe(fired);
  std::printf("fired: %s\n", describe(fired).c_str());
}

// ---- discovery ---------------------------------------------------------------------------------

const std::vector<std::string> kDiscoveryPoints = {"discovery.drop_gossip", "discovery.drop_ihave",
                                                   "discovery.skip_announce",
                                                   "discovery.force_sync", "discovery.reject_join"};

void run_discovery_case(std::uint64_t seed, Fired& fired) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  World world(buggify_options(seed, 0.1));
  const auto hosts = support::add_discovery_nodes(world, 10, [](std::size_t, discovery::Config& c) {
    c.with_announce_interval(2s).with_purge_after(60s);
  });
  // A node leaves and comes back, so joins and catalog exchanges happen again.
  world.at(Instant() + 10s, [&world, &hosts] { world.crash(hosts[3]); });
  world.at(Instant() + 14s, [&world, &hosts] { world.restart(hosts[3]); });
  world.run_for(30s);
  world.set_buggify(false);
  ASSERT_TRUE(world.run_until([&] { return support::converged(world, hosts); }, 30s))
      << "discovery did not converge within 30s of the faults' end";
  count_fired(world.trace(), kDiscoveryPoints, fired);
}

TEST(BuggifyPoints, DiscoveryConvergesAndEveryPointFires) {
  Fired fired = none_fired(kDiscoveryPoints);
  for (std::uint64_t seed = 1; seed <= kMaxSeeds && !all_fired(fired); ++seed) {
    run_discovery_case(seed, fired);
    if (HasFatalFailure()) return;
  }
  EXPECT_TRUE(all_fired(fired)) << describe(fired);
  std::printf("fired: %s\n", describe(fired).c_str());
}

}  // namespace
}  // namespace smalti::sim
