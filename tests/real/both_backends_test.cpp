// The same ping and discovery tests on both backends: the simulator and real QUIC on loopback.
#include <gtest/gtest.h>

#include "real/cluster.hpp"

namespace smalti::real {
namespace {

using support::Backend;
using support::Cluster;

class BothBackends : public ::testing::TestWithParam<Backend> {
 protected:
  NetworkOptions options(Cluster& cluster, bool bootstrap) {
    NetworkOptions o;
    o.discovery = discovery::Config(NetworkId::from_string("both-backends"))
                      .with_announce_interval(2s)
                      .with_purge_after(6s);
    if (bootstrap) o.discovery.with_bootstrap(cluster.addr(0));
    return o;
  }
  bool everyone_knows_everyone(Cluster& c) {
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (!c.alive(i)) continue;
      for (std::size_t j = 0; j < c.size(); ++j) {
        if (i == j || !c.alive(j)) continue;
        if (!c.net(i).discovery().when().knows(c.net(j).id()).is_met()) return false;
      }
    }
    return true;
  }
};

TEST_P(BothBackends, PingMeasuresARoundTrip) {
  Cluster c(GetParam());
  c.add(options(c, false));
  c.add(options(c, false));
  std::optional<Result<Duration>> rtt;
  c.net(0).ping().ping(c.addr(1), [&](Result<Duration> r) { rtt = std::move(r); });
  ASSERT_TRUE(c.run_until([&] { return rtt.has_value(); }, 10s));
  ASSERT_TRUE(rtt->is_ok()) << rtt->status().to_string();
  EXPECT_GT(**rtt, Duration::zero());
  EXPECT_TRUE(c.net(0).ping().when().reachable(c.net(1).id()).is_met());
}

TEST_P(BothBackends, FiveNodesDiscoverEachOtherThroughOneBootstrap) {
  Cluster c(GetParam());
  c.add(options(c, false));
  for (int i = 1; i < 5; ++i) c.add(options(c, true));
  ASSERT_TRUE(c.run_until([&] { return everyone_knows_everyone(c); }, 20s));
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.net(i).discovery().signed_peers_count(), 4u);
    EXPECT_FALSE(c.net(i).discovery().neighbours().empty());
  }
}

TEST_P(BothBackends, GracefulDepartureAndCrashPropagate) {
  Cluster c(GetParam());
  c.add(options(c, false));
  for (int i = 1; i < 4; ++i) c.add(options(c, true));
  ASSERT_TRUE(c.run_until([&] { return everyone_knows_everyone(c); }, 20s));
  const PeerId leaver = c.net(3).id();
  bool left = false;
  c.net(3).discovery().depart([&] { left = true; });
  ASSERT_TRUE(c.run_until(
      [&] {
        return left && c.net(0).discovery().when().forgot(leaver).is_met() &&
               c.net(1).discovery().when().forgot(leaver).is_met();
      },
      5s));
  const PeerId crashed = c.net(2).id();
  c.crash(2);
  c.crash(3);
  // No departure message: the entry goes stale and is purged (purge_after 6 s).
  ASSERT_TRUE(c.run_until(
      [&] {
        return c.net(0).discovery().when().forgot(crashed).is_met() &&
               c.net(1).discovery().when().forgot(crashed).is_met();
      },
      15s));
  EXPECT_TRUE(everyone_knows_everyone(c));
}

INSTANTIATE_TEST_SUITE_P(Backends, BothBackends, ::testing::Values(Backend::kSim, Backend::kReal),
                         [](const auto& info) { return support::backend_name(info.param); });

}  // namespace
}  // namespace smalti::real
