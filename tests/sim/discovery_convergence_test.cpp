// Discovery in the simulator: 50 nodes and one bootstrap converge to complete catalogs, also
// under 30% loss and after a partition heals.
#include <gtest/gtest.h>

#include "discovery_support.hpp"

namespace smalti::sim {
namespace {

using support::add_discovery_nodes;
using support::converged;

// The bound the tests assert: 50 nodes joining at once converge within this virtual time.
constexpr Duration kConvergenceBound = 30s;

TEST(DiscoveryConvergence, FiftyNodesWithOneBootstrapConverge) {
  World world({.seed = 7});
  auto hosts = add_discovery_nodes(world, 50);
  const Instant start = world.now();
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConvergenceBound))
      << "not converged within " << format_duration(kConvergenceBound);
  const Duration took = world.now() - start;
  RecordProperty("convergence_ms", std::to_string(took.count() / 1'000'000));
  // Views stay within their bounds and the overlay is in use.
  for (HostId h : hosts) {
    auto& d = world.network(h)->discovery();
    EXPECT_LE(d.neighbours().size(), d.config().max_active_view);
    EXPECT_GE(d.neighbours().size(), 1u);
  }
}

TEST(DiscoveryConvergence, ConvergesUnderThirtyPercentLoss) {
  NetworkConfig net;
  net.loss = 0.3;
  World world({.seed = 11, .network = net});
  auto hosts = add_discovery_nodes(world, 50);
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, 3 * kConvergenceBound));
}

TEST(DiscoveryConvergence, ConvergesAgainAfterAPartitionHeals) {
  World world({.seed = 13});
  // Short timings, so the partition outlasts purge_after and each side forgets the other.
  auto hosts = add_discovery_nodes(world, 40, [](std::size_t, discovery::Config& c) {
    c.with_purge_after(60s).with_announce_interval(10s);
  });
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, kConvergenceBound));
  std::vector<HostId> left(hosts.begin(), hosts.begin() + 20);
  std::vector<HostId> right(hosts.begin() + 20, hosts.end());
  world.net().partition(left, right);
  world.run_for(2min);
  EXPECT_TRUE(converged(world, left));
  EXPECT_TRUE(converged(world, right));
  world.net().heal_all();
  // The overlay's rotation joins across the old cut; the exchanges and gossip do the rest.
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, 2min));
}

}  // namespace
}  // namespace smalti::sim
