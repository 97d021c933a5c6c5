// Determinism of the World: one seed gives one run, record for record, through partitions,
// loss, crashes, restarts, clogs, pauses and clock faults; different seeds give different runs;
// and Trace::first_difference pinpoints where a run with hidden nondeterminism diverges.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "sim/fault_test_support.hpp"

namespace smalti::sim {
namespace {

using support::fault_count;

constexpr HostId kNodes = 5;

struct PingCounts {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
};

// Hidden global state, the kind of nondeterminism the simulator cannot see: the injection hook
// returns true only the second time it is reached in the process.
int g_injection_calls = 0;
bool second_call_only() {
  return ++g_injection_calls == 2;
}

struct Injection {
  bool (*hook)() = nullptr;
  int at_round = 30;
  Instant* injected_at = nullptr;
};

// Every 100ms of its own time, pings every other node (without waiting for the answers).
Task<void> ping_everyone(Network& net, World* world, HostId self,
                         std::shared_ptr<PingCounts> counts, Injection injection) {
  auto done = [counts](Result<Duration> r) { ++(r.is_ok() ? counts->ok : counts->failed); };
  for (int round = 1;; ++round) {
    co_await net.node().sleep(100ms);
    for (HostId peer = 0; peer < kNodes; ++peer) {
      if (peer != self) net.ping().ping(world->addr(peer), done);
    }
    if (injection.hook != nullptr && round == injection.at_round && injection.hook()) {
      *injection.injected_at = world->now();
      net.ping().ping(world->addr((self + 1) % kNodes), done);  // one extra ping
    }
  }
}

struct ScenarioRun {
  std::string hash;
  std::uint64_t records = 0;
  std::uint64_t events = 0;
  Trace trace{false};
  PingCounts pings;
  std::vector<FaultCount> faults;
};

ScenarioRun run_scenario(std::uint64_t seed, bool record, Injection injection = {}) {
  WorldOptions o{.seed = seed, .record_trace = record};
  o.network.loss = 0.05;
  o.network.latency.tail_probability = 0.05;
  World world(o);
  auto counts = std::make_shared<PingCounts>();
  for (HostId i = 0; i < kNodes; ++i) {
    const Injection mine = i == 0 ? injection : Injection{};
    World* w = &world;
    world.add_node({.name = "n" + std::to_string(i), .setup = [w, i, counts, mine](Network& net) {
                      net.spawn(ping_everyone(net, w, i, counts, mine));
                    }});
  }
  SimNetwork& net = world.net();
  world.at(Instant() + 2s, [&] { net.partition({0, 1}, {2, 3, 4}); });
  world.at(Instant() + 4s, [&] { net.heal_all(); });
  world.at(Instant() + 5s, [&] { world.crash(3); });
  world.at(Instant() + 7s, [&] { world.restart(3); });
  world.at(Instant() + 8s, [&] { net.clog_host(1, 500ms); });
  world.at(Instant() + 9s, [&] { world.pause(4); });
  world.at(Instant() + 9500ms, [&] { world.resume(4); });
  world.at(Instant() + 10s, [&] {
    world.clock(2).set_drift_ppm(50'000);
    world.clock(2).jump(-3s);
    net.reset_links(0, 1);
  });
  world.at(Instant() + 11s, [&] { support::flap(net, {4}, {0, 1, 2, 3}, 200ms, Instant() + 12s); });
  world.run_until(Instant() + 13s);
  ScenarioRun r;
  r.hash = world.trace().hash_hex();
  r.records = world.trace().count();
  r.events = world.events_processed();
  r.trace = world.trace();
  r.pings = *counts;
  r.faults = world.faults();
  return r;
}

TEST(Determinism, SameSeedGivesTheSameTraceThroughFaults) {
  const ScenarioRun first = run_scenario(4242, true);
  const ScenarioRun second = run_scenario(4242, true);
  // The scenario really exercised the runtime and its faults.
  EXPECT_GT(first.records, 5000u);
  EXPECT_GT(first.pings.ok, 1000u);
  EXPECT_GT(first.pings.failed, 0u);
  std::set<std::string> kinds;
  for (const FaultCount& f : first.faults) kinds.insert(f.kind);
  for (const char* k :
       {"partition", "heal", "crash", "restart", "clog.host", "pause", "resume", "reset_links"}) {
    EXPECT_EQ(kinds.count(k), 1u) << k;
  }

  EXPECT_EQ(first.hash, second.hash);
  EXPECT_EQ(first.records, second.records);
  EXPECT_EQ(first.events, second.events);
  EXPECT_EQ(first.pings.ok, second.pings.ok);
  EXPECT_EQ(first.pings.failed, second.pings.failed);
  ASSERT_EQ(first.trace.records().size(), first.records);
  EXPECT_TRUE(first.trace.records() == second.trace.records());
  EXPECT_EQ(Trace::first_difference(first.trace, second.trace), std::nullopt);
  std::ostringstream a, b;
  first.trace.write_jsonl(a);
  second.trace.write_jsonl(b);
  EXPECT_EQ(a.str(), b.str());
}

TEST(Determinism, HashDoesNotDependOnKeepingRecords) {
  const ScenarioRun kept = run_scenario(77, true);
  const ScenarioRun hashed = run_scenario(77, false);
  EXPECT_EQ(kept.hash, hashed.hash);
  EXPECT_EQ(kept.records, hashed.records);
  EXPECT_TRUE(hashed.trace.records().empty());
}

TEST(Determinism, DifferentSeedsGiveDifferentTraces) {
  std::set<std::string> hashes;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) hashes.insert(run_scenario(seed, false).hash);
  EXPECT_EQ(hashes.size(), 4u);
}

TEST(Determinism, FirstDifferenceNamesTheRecordWhereHiddenStateDiverged) {
  g_injection_calls = 0;
  Instant injected_at = Instant::max();
  const Injection injection{.hook = &second_call_only, .at_round = 30, .injected_at = &injected_at};
  const ScenarioRun clean = run_scenario(9, true, injection);
  EXPECT_EQ(injected_at, Instant::max());  // the first run did not inject
  const ScenarioRun dirty = run_scenario(9, true, injection);
  ASSERT_NE(injected_at, Instant::max());
  EXPECT_NE(clean.hash, dirty.hash);

  const auto diff = Trace::first_difference(clean.trace, dirty.trace);
  ASSERT_TRUE(diff.has_value());
  const auto i = *diff;
  ASSERT_LT(i, dirty.trace.records().size());
  ASSERT_LT(i, clean.trace.records().size());
  // Everything before the divergence is identical...
  for (std::size_t k = 0; k < i; ++k) {
    ASSERT_EQ(clean.trace.records()[k], dirty.trace.records()[k]) << "record " << k;
  }
  // ...and the first difference is the extra ping node 0 sent, when it sent it.
  const TraceRecord& r = dirty.trace.records()[i];
  EXPECT_EQ(dirty.trace.kind_name(r.kind), "ping.send");
  EXPECT_EQ(r.host, 0u);
  EXPECT_EQ(r.time_ns, injected_at.nanos());
  EXPECT_NE(dirty.trace.describe(r).find("ping.send"), std::string::npos);
  // About three seconds into the run (round 30 of a 100ms loop).
  EXPECT_GE(injected_at, Instant() + 3s);
  EXPECT_LT(injected_at, Instant() + 3s + 100ms);
}

TEST(Determinism, FirstDifferenceReportsARunThatEndsEarly) {
  Trace longer(true);
  Trace shorter(true);
  for (int i = 0; i < 5; ++i) {
    longer.record(Instant() + Duration(i), 1, "k", i, 0, 0);
    if (i < 3) shorter.record(Instant() + Duration(i), 1, "k", i, 0, 0);
  }
  EXPECT_EQ(Trace::first_difference(longer, shorter), std::optional<std::size_t>(3));
  EXPECT_EQ(Trace::first_difference(shorter, longer), std::optional<std::size_t>(3));
  EXPECT_EQ(Trace::first_difference(longer, longer), std::nullopt);
  // Kinds are compared by name, not by interned index.
  Trace x(true), y(true);
  x.record(Instant(), 0, "alpha", 0, 0, 0);
  x.record(Instant(), 0, "beta", 0, 0, 0);
  y.record(Instant(), 0, "beta", 0, 0, 0);
  EXPECT_EQ(Trace::first_difference(x, y), std::optional<std::size_t>(0));
}

}  // namespace
}  // namespace smalti::sim
