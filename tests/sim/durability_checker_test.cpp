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
class EagerStores final : public groups::StateStore,
                          public groups::LogStore,
                          public groups::SnapshotStore {
 public:
  EagerStores(Network& net, const groups::GroupId& group)
      : executor_(net.node().executor()),
        inner_(executor_, net.groups().options().medium, group, &net.node().clock(),
               groups::SyncLatency{.min = 1ms, .max = 3ms, .seed = 5}) {}
  Result<groups::HardState> load_state() override { return inner_.load_state(); }
  void save(const groups::HardState& s) override { inner_.save(s); }
  Result<std::vector<groups::LogEntry>> load_log() override { return inner_.load_log(); }
  Result<groups::Cursor> load_base() override { return inner_.load_base(); }
  void prune_through(groups::Cursor through) override { inner_.prune_through(through); }
  void reset_to(groups::Cursor base) override { inner_.reset_to(base); }
  Result<std::optional<groups::Snapshot>> load_snapshot() override {
    return inner_.load_snapshot();
  }
  void save_snapshot(std::optional<groups::Snapshot> s) override {
    inner_.save_snapshot(std::move(s));
  }
  void truncate_from(groups::Index from) override { inner_.truncate_from(from); }
  void append(groups::Index at, std::vector<groups::LogEntry> entries) override {
    inner_.append(at, std::move(entries));
  }
  void sync(std::function<void(Status)> done) override {
    inner_.sync([](const Status&) {});
    executor_.post([done = std::move(done)] { done(Status::ok()); });
  }

 private:
  env::Executor& executor_;
  groups::MemoryStores inner_;
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
