// BUGGIFY fault points: off unless WorldOptions::buggify, recorded in the trace when they fire,
// enabled per point by the seed and the point's name alone, and deterministic for a seed.
#include <gtest/gtest.h>

#include <set>

#include "sim/fault_test_support.hpp"

namespace smalti::sim {
namespace {

std::size_t count_kind(const Trace& trace, std::string_view kind) {
  std::size_t n = 0;
  for (const TraceRecord& r : trace.records()) n += trace.kind_name(r.kind) == kind ? 1 : 0;
  return n;
}

std::string point_name(int i) {
  return "test.point." + std::to_string(i);
}

// Asks `rounds` times for each of `points` named points on one node; returns the decisions.
std::vector<bool> decisions(WorldOptions o, int points, int rounds, bool reverse = false) {
  World world(o);
  const HostId h = world.add_node({.name = "h"});
  Node& node = world.network(h)->node();
  std::vector<bool> out;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < points; ++i) {
      out.push_back(node.buggify(point_name(reverse ? points - 1 - i : i)));
    }
  }
  return out;
}

TEST(Buggify, NeverFiresWhenDisabledEvenWithCertainProbabilities) {
  World world({.seed = 101,
               .record_trace = true,
               .buggify = false,
               .buggify_enable_probability = 1.0,
               .buggify_fire_probability = 1.0});
  const HostId h = world.add_node({.name = "h"});
  Node& node = world.network(h)->node();
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(node.buggify(point_name(i % 7)));
  EXPECT_EQ(count_kind(world.trace(), "buggify"), 0u);
}

TEST(Buggify, FiresAndIsTracedWithCertainProbabilities) {
  World world({.seed = 102,
               .record_trace = true,
               .buggify = true,
               .buggify_enable_probability = 1.0,
               .buggify_fire_probability = 1.0});
  world.add_node({.name = "quiet"});
  const HostId h = world.add_node({.name = "h"});
  Node& node = world.network(h)->node();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(node.buggify("raft.slow_apply"));
  ASSERT_EQ(count_kind(world.trace(), "buggify"), 50u);
  const std::uint64_t expected = trace_hash_bytes(as_bytes("raft.slow_apply"));
  for (const TraceRecord& r : world.trace().records()) {
    if (world.trace().kind_name(r.kind) != "buggify") continue;
    EXPECT_EQ(r.host, h);
    EXPECT_EQ(r.a, expected);
  }
}

TEST(Buggify, ZeroEnableProbabilityNeverFires) {
  WorldOptions o{.seed = 103,
                 .buggify = true,
                 .buggify_enable_probability = 0.0,
                 .buggify_fire_probability = 1.0};
  for (bool fired : decisions(o, 20, 5)) EXPECT_FALSE(fired);
}

TEST(Buggify, DecisionsAreDeterministicForASeedAndDifferAcrossSeeds) {
  WorldOptions o{.seed = 104,
                 .buggify = true,
                 .buggify_enable_probability = 0.5,
                 .buggify_fire_probability = 0.5};
  const auto first = decisions(o, 32, 20);
  const auto second = decisions(o, 32, 20);
  EXPECT_EQ(first, second);
  const auto fired = std::count(first.begin(), first.end(), true);
  // About a quarter fire (half the points enabled, half the time): far from none or all.
  EXPECT_GT(fired, 32 * 20 / 10);
  EXPECT_LT(fired, 32 * 20 / 2);
  o.seed = 105;
  EXPECT_NE(decisions(o, 32, 20), first);
}

// Whether a point is enabled depends only on the seed and its name, not on when it is met.
TEST(Buggify, EnabledSetDependsOnSeedAndNameNotOnOrder) {
  WorldOptions o{.seed = 106,
                 .buggify = true,
                 .buggify_enable_probability = 0.5,
                 .buggify_fire_probability = 1.0};
  const int n = 64;
  const auto forward = decisions(o, n, 1);
  const auto backward = decisions(o, n, 1, /*reverse=*/true);
  std::set<int> enabled_forward, enabled_backward;
  for (int i = 0; i < n; ++i) {
    if (forward[i]) enabled_forward.insert(i);
    if (backward[i]) enabled_backward.insert(n - 1 - i);
  }
  EXPECT_EQ(enabled_forward, enabled_backward);
  EXPECT_GT(enabled_forward.size(), 8u);
  EXPECT_LT(enabled_forward.size(), 56u);
  // With a fire probability of 1, an enabled point fires every time; a disabled one never.
  const auto again = decisions(o, n, 3);
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < n; ++i) EXPECT_EQ(again[r * n + i], enabled_forward.count(i) == 1);
  }
}

// A buggify point reached from node code changes the trace hash only when it fires.
TEST(Buggify, FiringChangesTheTraceHash) {
  auto hash = [](bool enabled) {
    World world({.seed = 107,
                 .buggify = enabled,
                 .buggify_enable_probability = 1.0,
                 .buggify_fire_probability = 1.0});
    const HostId h = world.add_node({.name = "h"});
    (void)world.network(h)->node().buggify("some.point");
    return world.trace().hash_hex();
  };
  EXPECT_NE(hash(true), hash(false));
}

}  // namespace
}  // namespace smalti::sim
