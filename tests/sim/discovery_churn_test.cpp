// Discovery in the simulator under churn: graceful departures and crashes propagate, restarted
// nodes rejoin, a node whose clock is off by more than max_time_drift is kept out, stale entries
// are purged and come back with the next announce.
#include <gtest/gtest.h>

#include "discovery_support.hpp"

namespace smalti::sim {
namespace {

using support::add_discovery_nodes;
using support::converged;

constexpr Duration kConverge = 30s;

// Every live node of `group` has forgotten `gone`.
bool all_forgot(World& world, const std::vector<HostId>& group, HostId gone) {
  for (HostId h : group) {
    if (h == gone || !world.network(h)) continue;
    if (!world.network(h)->discovery().when().forgot(world.peer_id(gone)).is_met()) return false;
  }
  return true;
}

std::vector<HostId> without(std::vector<HostId> hosts, HostId gone) {
  std::erase(hosts, gone);
  return hosts;
}

TEST(DiscoveryChurn, GracefulDepartureReachesEveryoneQuickly) {
  World world({.seed = 21});
  auto hosts = add_discovery_nodes(world, 20);
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConverge));
  const HostId leaver = hosts[7];
  bool departed = false;
  world.network(leaver)->discovery().depart([&] { departed = true; });
  world.run_for(1s);
  EXPECT_TRUE(departed);
  // Far sooner than purge_after (300 s): the signed departure is gossiped.
  ASSERT_TRUE(world.run_until([&] { return all_forgot(world, hosts, leaver); }, 5s));
  // And it stays gone: no older copy of its entry brings it back.
  world.run_for(2min);
  EXPECT_TRUE(all_forgot(world, hosts, leaver));
  EXPECT_TRUE(converged(world, without(hosts, leaver)));
}

TEST(DiscoveryChurn, CrashedNodeIsPurgedAndARestartRejoins) {
  World world({.seed = 22});
  auto hosts = add_discovery_nodes(world, 20, [](std::size_t, discovery::Config& c) {
    c.with_purge_after(60s).with_announce_interval(10s);
  });
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConverge));
  const HostId victim = hosts[3];
  world.crash(victim);
  // Its entry stops being refreshed: hidden and purged after purge_after (+ one purge period).
  ASSERT_TRUE(world.run_until([&] { return all_forgot(world, hosts, victim); }, 60s + 20s));
  EXPECT_TRUE(converged(world, without(hosts, victim)));
  world.restart(victim);
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConverge));
}

TEST(DiscoveryChurn, BootstrapCrashDoesNotSplitTheNetwork) {
  World world({.seed = 23});
  auto hosts = add_discovery_nodes(world, 20, [](std::size_t, discovery::Config& c) {
    c.with_purge_after(60s).with_announce_interval(10s);
  });
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConverge));
  world.crash(hosts[0]);
  ASSERT_TRUE(world.run_until([&] { return all_forgot(world, hosts, hosts[0]); }, 80s));
  // The others keep announcing to each other for several purge periods.
  world.run_for(3min);
  EXPECT_TRUE(converged(world, without(hosts, hosts[0])));
}

TEST(DiscoveryChurn, NodeWithClockBeyondMaxDriftIsRejected) {
  World world({.seed = 24});
  auto hosts = add_discovery_nodes(world, 10);
  const HostId skewed = hosts[9];
  // 2 minutes ahead, against a max_time_drift of 50 s; restart so its first entry is skewed too.
  world.crash(skewed);
  world.clock(skewed).set_skew(2min);
  world.restart(skewed);
  std::vector<HostId> honest(hosts.begin(), hosts.end() - 1);
  ASSERT_TRUE(world.run_until([&] { return converged(world, honest); }, kConverge));
  world.run_for(3min);
  EXPECT_TRUE(converged(world, honest)) << "an honest node learnt the skewed one";
  EXPECT_EQ(world.network(skewed)->discovery().signed_peers_count(), 0u);
  std::uint64_t rejected = 0;
  for (HostId h : honest) rejected += world.network(h)->discovery().stats().entries_rejected;
  EXPECT_GT(rejected, 0u);
}

TEST(DiscoveryChurn, StaleEntryIsPurgedThenRediscovered) {
  World world({.seed = 25});
  // The bootstrap announces every 20 s exactly; the other purges after 5 s.
  auto hosts = add_discovery_nodes(world, 2, [](std::size_t i, discovery::Config& c) {
    if (i == 0) c.with_announce_interval(20s).with_announce_jitter(0);
    if (i == 1) c.with_purge_after(5s);
  });
  auto events = world.network(hosts[1])->discovery().events();
  world.run_for(45s);
  std::vector<std::string> kinds;
  while (auto e = events.try_next()) {
    const auto& event = std::get<discovery::Event>(*e);
    if (std::holds_alternative<discovery::PeerDiscovered>(event)) kinds.push_back("discovered");
    if (std::holds_alternative<discovery::PeerDeparted>(event)) kinds.push_back("departed");
  }
  ASSERT_GE(kinds.size(), 4u);
  EXPECT_EQ(kinds[0], "discovered");
  EXPECT_EQ(kinds[1], "departed");
  EXPECT_EQ(kinds[2], "discovered");
  EXPECT_EQ(kinds[3], "departed");
}

}  // namespace
}  // namespace smalti::sim
