// The README's simulator example, kept compiling and passing.
#include <gtest/gtest.h>

#include "smalti/sim/world.hpp"

namespace smalti::sim {
namespace {

TEST(ReadmeExample, TwoNodesFindEachOtherThroughDiscovery) {
  smalti::sim::World world({.seed = 42});
  smalti::sim::NodeSpec spec_a{.name = "a"};
  spec_a.options.discovery = smalti::discovery::Config(smalti::NetworkId::from_string("my-app"));
  auto a = world.add_node(spec_a);
  bool found = false;
  smalti::sim::NodeSpec spec_b{.name = "b", .setup = [&found](smalti::Network& net) {
                                 net.spawn([](smalti::Network& n, bool& f) -> smalti::Task<void> {
                                   co_await n.discovery().when().peers_at_least(1);
                                   f = true;
                                 }(net, found));
                               }};
  spec_b.options.discovery = smalti::discovery::Config(smalti::NetworkId::from_string("my-app"))
                                 .with_bootstrap(world.addr(a));
  auto b = world.add_node(spec_b);
  world.net().partition({a}, {b});
  world.run_for(10s);
  EXPECT_FALSE(found);
  world.net().heal_all();
  EXPECT_TRUE(world.run_until([&] { return found; }, 30s));
  world.crash(b);
  found = false;
  world.restart(b);
  EXPECT_TRUE(world.run_until([&] { return found; }, 30s));
}

}  // namespace
}  // namespace smalti::sim
