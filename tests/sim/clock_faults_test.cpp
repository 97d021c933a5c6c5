// Per-node clock faults: drift changes the rate of a node's monotonic time (so its timers fire
// earlier or later in global time), skew and jumps move wall() but never monotonic(), and
// monotonic() never goes back whatever the drift changes.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "sim/fault_test_support.hpp"

namespace smalti::sim {
namespace {

__extension__ typedef __int128 Wide;  // exact drift arithmetic, as in SimClock

// Sleeps `d` of the node's time, then stores the global time and the node's time.
Task<void> sleep_and_note(Network& net, Duration d, const World* world, Instant* global_done,
                          Instant* local_done) {
  co_await net.node().sleep(d);
  *global_done = world->now();
  *local_done = net.node().now();
}

Task<void> sleep_until_and_note(Network& net, Instant local_deadline, const World* world,
                                Instant* global_done, Instant* local_done) {
  co_await net.node().sleep_until(local_deadline);
  *global_done = world->now();
  *local_done = net.node().now();
}

TEST(ClockDrift, FastNodeFinishesASleepEarlierInGlobalTimeAndSlowNodeLater) {
  World world({.seed = 91});
  const HostId fast = world.add_node({.name = "fast"});
  const HostId slow = world.add_node({.name = "slow"});
  const HostId exact = world.add_node({.name = "exact"});
  world.clock(fast).set_drift_ppm(100'000);
  world.clock(slow).set_drift_ppm(-100'000);
  Instant g_fast, g_slow, g_exact, l_fast, l_slow, l_exact;
  world.network(fast)->spawn(sleep_and_note(*world.network(fast), 10s, &world, &g_fast, &l_fast));
  world.network(slow)->spawn(sleep_and_note(*world.network(slow), 10s, &world, &g_slow, &l_slow));
  world.network(exact)->spawn(
      sleep_and_note(*world.network(exact), 10s, &world, &g_exact, &l_exact));
  world.run_for(20s);
  EXPECT_EQ(g_exact, Instant() + 10s);
  // 10s at 1.1x is 9.0909...s of global time; at 0.9x it is 11.111...s.
  EXPECT_NEAR(static_cast<double>(g_fast.nanos()), 10e9 / 1.1, 1e3);
  EXPECT_NEAR(static_cast<double>(g_slow.nanos()), 10e9 / 0.9, 1e3);
  EXPECT_LT(g_fast, g_exact);
  EXPECT_GT(g_slow, g_exact);
  // Each node saw its own 10s pass, no less.
  EXPECT_GE(l_fast, Instant() + 10s);
  EXPECT_GE(l_slow, Instant() + 10s);
  EXPECT_LT(l_fast - (Instant() + 10s), 2ns);
  EXPECT_EQ(l_exact, Instant() + 10s);
  // After 20s of global time, the fast node's clock reads 22s and the slow one's 18s.
  EXPECT_EQ(world.clock(fast).monotonic(), Instant() + 22s);
  EXPECT_EQ(world.clock(slow).monotonic(), Instant() + 18s);
}

TEST(ClockDrift, DriftChangedMidRunKeepsMonotonicContinuousAndChangesTheRate) {
  World world({.seed = 92});
  const HostId h = world.add_node({.name = "h"});
  SimClock& clock = world.clock(h);
  world.run_for(5s);
  EXPECT_EQ(clock.monotonic(), Instant() + 5s);
  clock.set_drift_ppm(200'000);
  EXPECT_EQ(clock.monotonic(), Instant() + 5s);  // no step at the change
  world.run_for(5s);
  EXPECT_EQ(clock.monotonic(), Instant() + 11s);
  clock.set_drift_ppm(-200'000);
  EXPECT_EQ(clock.monotonic(), Instant() + 11s);
  world.run_for(5s);
  EXPECT_EQ(clock.monotonic(), Instant() + 15s);
  EXPECT_EQ(clock.drift_ppm(), -200'000);
  // global_from_local inverts local_from_global on the current segment.
  const Instant local = clock.monotonic() + 4s;
  EXPECT_EQ(clock.global_from_local(local), world.now() + 5s);
}

RC_GTEST_PROP(ClockDrift, MonotonicNeverDecreasesAcrossDriftChanges, ()) {
  const auto steps = *rc::gen::container<std::vector<std::pair<std::int64_t, std::int64_t>>>(
      rc::gen::pair(rc::gen::inRange<std::int64_t>(-499'999, 500'000),
                    rc::gen::inRange<std::int64_t>(0, 3'000'000'000)));
  World world({.seed = 93});
  const HostId h = world.add_node({.name = "h"});
  SimClock& clock = world.clock(h);
  Instant last = clock.monotonic();
  for (const auto& [ppm, ns] : steps) {
    clock.set_drift_ppm(ppm);
    RC_ASSERT(clock.monotonic() == last);  // continuous at the change
    world.run_for(Duration(ns));
    const Instant now = clock.monotonic();
    RC_ASSERT(now >= last);
    // The segment advanced at 1 + ppm / 1e6, truncated to whole nanoseconds.
    const auto expected =
        static_cast<std::int64_t>(static_cast<Wide>(ns) * (1'000'000 + ppm) / 1'000'000);
    RC_ASSERT(std::llabs((now - last).count() - expected) <= 1);
    last = now;
  }
}

TEST(ClockSkew, SkewAndJumpsMoveWallTimeButNeverMonotonic) {
  WorldOptions o{.seed = 94};
  World world(o);
  const HostId h = world.add_node({.name = "h"});
  const HostId other = world.add_node({.name = "other"});
  Node& node = world.network(h)->node();
  EXPECT_EQ(node.wall_now(), o.wall_epoch);
  world.run_for(3s);
  const Instant mono = node.now();
  EXPECT_EQ(node.wall_now(), o.wall_epoch + 3s);

  world.clock(h).set_skew(-2h);
  EXPECT_EQ(node.wall_now(), o.wall_epoch + 3s - 2h);
  EXPECT_EQ(node.now(), mono);
  world.clock(h).jump(90min);  // a stepped NTP correction forward...
  EXPECT_EQ(node.wall_now(), o.wall_epoch + 3s - 30min);
  world.clock(h).jump(-45s);  // ...and backwards: wall time may go back
  EXPECT_EQ(node.wall_now(), o.wall_epoch + 3s - 30min - 45s);
  EXPECT_EQ(world.clock(h).skew(), -30min - 45s);
  EXPECT_EQ(node.now(), mono);
  // Other nodes are unaffected.
  EXPECT_EQ(world.network(other)->node().wall_now(), o.wall_epoch + 3s);
  world.run_for(1s);
  EXPECT_EQ(node.now(), mono + 1s);
  EXPECT_EQ(node.wall_now(), o.wall_epoch + 4s - 30min - 45s);
}

TEST(ClockSkew, JumpDoesNotMoveTimersOfTheNode) {
  World world({.seed = 95});
  const HostId h = world.add_node({.name = "h"});
  Instant g, l;
  world.network(h)->spawn(sleep_and_note(*world.network(h), 5s, &world, &g, &l));
  world.run_for(1s);
  world.clock(h).jump(1h);
  world.clock(h).jump(-3h);
  world.run_for(10s);
  EXPECT_EQ(g, Instant() + 5s);
  EXPECT_EQ(l, Instant() + 5s);
}

// Regression test for a fixed bug (sim/src/world.cpp, World::HostExecutor::schedule_at, with
// SimClock::set_drift_ppm): a timer's global instant is computed once, when it is scheduled. If the
// node's drift drops afterwards, the timer still fires at the old global instant, when the node's
// monotonic clock has not reached the requested deadline yet: SleepUntil (and every protocol
// timeout) returns early, against env::Executor's contract ("runs it once the node's monotonic
// clock reaches at"). Conversely, a drift increase makes timers fire late by the node's own clock.
TEST(ClockDrift, TimerNeverFiresBeforeItsLocalDeadlineWhenDriftDrops) {
  World world({.seed = 96});
  const HostId h = world.add_node({.name = "h"});
  Instant g, l;
  const Instant deadline = Instant() + 10s;
  world.network(h)->spawn(sleep_until_and_note(*world.network(h), deadline, &world, &g, &l));
  world.run_for(1s);
  world.clock(h).set_drift_ppm(-400'000);  // 0.6x from now: 10s local is reached at g = 16s
  world.run_for(30s);
  EXPECT_GE(l, deadline) << "woke at local " << l.nanos() << "ns, global " << g.nanos() << "ns";
  EXPECT_EQ(g, Instant() + 16s);
}

TEST(ClockDrift, TimerScheduledAfterADriftChangeUsesTheNewRate) {
  World world({.seed = 97});
  const HostId h = world.add_node({.name = "h"});
  world.clock(h).set_drift_ppm(-400'000);
  world.run_for(1s);
  Instant g, l;
  world.network(h)->spawn(sleep_and_note(*world.network(h), 6s, &world, &g, &l));
  world.run_for(30s);
  EXPECT_EQ(g, Instant() + 11s);  // 6s at 0.6x is 10s of global time
  EXPECT_GE(l - (Instant() + 600ms), 6s);
}

}  // namespace
}  // namespace smalti::sim
