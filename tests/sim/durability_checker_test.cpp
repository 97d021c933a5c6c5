// DurabilityChecker: it flags a member that answers before its write is durable on the first
// message that carries such a promise (an acknowledged append, a vote), with no crash, and
// stays quiet about members on the real stores.
#include "smalti/sim/durability_checker.hpp"

#include <gtest/gtest.h>

#include "group_support.hpp"

namespace smalti::sim {
namespace {

using support::Counter;
using support::GroupCluster;

// The default in-memory stores over the node's medium, except that a sync reports success at
// once, while its writes reach the medium only when the real sync completes (later): a member
// that promises before its write is durable. Nothing else differs.
class EagerStores final : public support::ForwardingStores {
 public:
  EagerStores(Network& net, const groups::GroupId& group)
      : ForwardingStores(std::make_unique<groups::MemoryStores>(
            net.node().executor(), net.groups().options().medium, group, &net.node().clock(),
            groups::SyncLatency{.min = 1ms, .max = 3ms, .seed = 5})),
        executor_(net.node().executor()) {}
  void sync(std::function<void(Status)> done) override {
    inner().sync([](const Status&) {});
    executor_.post([done = std::move(done)] { done(Status::ok()); });
  }

 private:
  env::Executor& executor_;
};

using Stores = GroupCluster<>::Stores;

// The GroupId every member of the test group derives (the id of any member's group).
std::function<Stores(Network&)> eager(const groups::GroupId& id) {
  return [id](Network& net) {
    auto s = std::make_shared<EagerStores>(net, id);
    return Stores(s, s);
  };
}

// Founding waits for two members, so it takes a vote.
groups::ConsensusConfig voting_consensus() {
  return support::fast_consensus().with_bootstrap_expect(2);
}

TEST(DurabilityChecker, RealStoresKeepEveryPromise) {
  World world({.seed = 21});
  GroupCluster<> c(world, 3, voting_consensus());
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  world.run_for(5s);
  EXPECT_TRUE(c.durability().ok()) << c.durability().violations().front();
  EXPECT_GT(c.durability().votes_checked(), 0u);
  EXPECT_GT(c.durability().appends_checked(), 0u);
}

// A member joins a formed group with eager stores: the first append it acknowledges is not
// durable yet, and that very message is flagged.
TEST(DurabilityChecker, FlagsTheFirstAcknowledgementMadeBeforeItsWrite) {
  World world({.seed = 22});
  GroupCluster<> c(world, 2);
  c.expect_durability_violations();
  ASSERT_TRUE(world.run_until([&] { return c.formed(2); }, 60s));
  ASSERT_TRUE(c.durability().ok()) << c.durability().violations().front();
  const groups::GroupId id = c.group(c.hosts()[0])->id();
  const HostId sick = c.add(support::fast_consensus(), "test.group", Counter{}, eager(id));
  ASSERT_TRUE(world.run_until([&] { return !c.durability().ok(); }, 30s));
  const auto where = c.durability().first_violation();
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->host, sick);
  EXPECT_EQ(where->promise, 1u) << "a promise of the planted member passed before one was flagged";
  const std::string& first = c.durability().violations().front();
  EXPECT_NE(first.find("AppendResponse acknowledging index"), std::string::npos) << first;
  EXPECT_NE(first.find("durable log ends at index 0"), std::string::npos) << first;
  EXPECT_TRUE(world.faults().empty()) << "no crash, no fault: the check needs none";
}

// Every member on eager stores, forming a group that needs two to found: the first vote
// promised (a candidacy or a granted vote) is flagged.
TEST(DurabilityChecker, FlagsTheFirstVoteMadeBeforeItWasDurable) {
  World world({.seed = 23});
  GroupCluster<> c(world, 0, voting_consensus());
  c.expect_durability_violations();
  // The id the group will have: that of a throwaway world's member with the same options.
  groups::GroupId id;
  {
    World probe({.seed = 1});
    GroupCluster<> one(probe, 1, voting_consensus());
    probe.run_for(1ms);
    id = one.group(one.hosts()[0])->id();
  }
  for (int i = 0; i < 3; ++i) c.add(voting_consensus(), "test.group", Counter{}, eager(id));
  ASSERT_TRUE(world.run_until([&] { return !c.durability().ok(); }, 30s));
  const auto where = c.durability().first_violation();
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->promise, 1u);
  const std::string& first = c.durability().violations().front();
  EXPECT_NE(first.find("promises a vote for"), std::string::npos) << first;
  EXPECT_EQ(c.durability().appends_checked(), 0u) << "the vote was not the first promise";
  EXPECT_TRUE(world.faults().empty());
}

}  // namespace
}  // namespace smalti::sim
