// Simulated links offer a per-link secret, as QUIC's TLS exporter does: the same at both ends,
// different for every link and label.
#include <gtest/gtest.h>

#include "fault_test_support.hpp"

namespace smalti::sim {
namespace {

TEST(LinkSecret, BothEndsAgreeAndEveryLinkDiffers) {
  World world({.seed = 3});
  auto sink = std::make_shared<support::Sink>(world);
  const HostId a = world.add_node({.name = "a"});
  const HostId b = world.add_node(support::sink_node("b", sink));
  support::Held first = support::dial(world, a, b);
  support::Held second = support::dial(world, a, b);
  world.run_for(100ms);
  ASSERT_EQ(sink->accepted.size(), 2u);
  const Digest s1 = first.link->secret("bond");
  EXPECT_FALSE(s1.is_zero());
  EXPECT_EQ(s1, sink->accepted[0].link->secret("bond"));
  EXPECT_NE(s1, second.link->secret("bond"));
  EXPECT_NE(s1, first.link->secret("other label"));
}

}  // namespace
}  // namespace smalti::sim
