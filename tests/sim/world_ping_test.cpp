#include <gtest/gtest.h>

#include "smalti/sim/world.hpp"

namespace smalti::sim {
namespace {

Task<void> ping_once(Network& net, PeerAddr peer, std::optional<Result<Duration>>* out) {
  *out = co_await net.ping().ping(peer);
}

TEST(WorldPing, TwoNodesPingEachOther) {
  World world({.seed = 7});
  const HostId a = world.add_node({.name = "a"});
  const HostId b = world.add_node({.name = "b"});
  std::optional<Result<Duration>> result;
  world.network(a)->spawn(ping_once(*world.network(a), world.addr(b), &result));
  ASSERT_TRUE(world.run_until([&] { return result.has_value(); }, 10s));
  ASSERT_TRUE(result->is_ok()) << result->status().to_string();
  EXPECT_GT(result->value(), Duration::zero());
  EXPECT_LT(result->value(), 1s);
  EXPECT_TRUE(world.network(a)->ping().rtt(world.peer_id(b)).has_value());
}

}  // namespace
}  // namespace smalti::sim
