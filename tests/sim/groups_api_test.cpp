// The group API through Groups, in the simulator: leadership preferences (reluctant members,
// observers), weak queries, feed, the callback forms, the when().log() / when().committed()
// watchers, log_position() and config(), the log replay batch size in the GroupId, and a store
// that fails.
#include <gtest/gtest.h>

#include "group_support.hpp"

namespace smalti::sim {
namespace {

using groups::Consistency;
using groups::Cursor;
using groups::Index;
using groups::LeadershipPreference;
using support::await_on;
using support::Counter;
using support::GroupCluster;
using support::PreferenceCounter;
using Cluster = GroupCluster<PreferenceCounter>;

PreferenceCounter with(LeadershipPreference preference) {
  PreferenceCounter m;
  m.preference = preference;
  return m;
}

template <typename M>
Result<Index> execute_on(World& world, GroupCluster<M>& c, HostId h, std::uint64_t value) {
  auto r = await_on<Result<Index>>(world, h, [&] { return c.group(h)->execute(value); });
  return r ? *r : Result<Index>(error(StatusCode::kTimeout, "no answer"));
}

// ---- leadership preference ------------------------------------------------------------------

// mosaik: a Reluctant member's election timeout (and bootstrap delay) is multiplied, so a
// Normal member that can be elected is elected first.
TEST(GroupsApi, AReluctantMemberIsNotElectedWhileANormalOneCanBe) {
  for (std::uint64_t seed : {71, 72, 73, 74}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World world({.seed = seed});
    Cluster c(world, 2);
    ASSERT_TRUE(world.run_until([&] { return c.formed(2); }, 60s));
    const HostId reluctant =
        c.add(support::fast_consensus(), "test.group", with(LeadershipPreference::reluctant()));
    bool reluctant_led = false;
    auto watch = [&] {
      reluctant_led = reluctant_led || (c.group(reluctant) && c.group(reluctant)->is_leader());
    };
    ASSERT_TRUE(world.run_until(
        [&] {
          watch();
          return c.formed(3);
        },
        60s));
    // The leader goes; of the two voters left, the Normal one takes over.
    const HostId first = *c.leader();
    ASSERT_NE(first, reluctant);
    c.crash(first);
    ASSERT_TRUE(world.run_until(
        [&] {
          watch();
          auto l = c.leader();
          return l && c.group(*l)->status().online;
        },
        30s));
    EXPECT_NE(*c.leader(), reluctant);
    EXPECT_FALSE(reluctant_led);
  }
}

TEST(GroupsApi, AReluctantMemberAloneStillLeads) {
  World world({.seed = 75});
  Cluster c(world, 1, support::fast_consensus(), "test.group",
            [](std::size_t) { return with(LeadershipPreference::reluctant()); });
  const HostId h = c.hosts()[0];
  ASSERT_TRUE(world.run_until([&] { return c.formed(1); }, 60s));
  EXPECT_TRUE(c.group(h)->is_leader());
  auto r = execute_on(world, c, h, 3);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(c.group(h)->state().value, 3u);
}

// An observer replicates and applies, but never leads, and its copies count for no quorum.
TEST(GroupsApi, AnObserverAppliesButNeverLeadsNorCountsForAQuorum) {
  World world({.seed = 76});
  Cluster c(world, 4, support::fast_consensus(), "test.group", [](std::size_t i) {
    return with(i == 3 ? LeadershipPreference::observer() : LeadershipPreference::normal());
  });
  const HostId observer = c.hosts()[3];
  bool observer_led = false;
  auto watch = [&] {
    observer_led = observer_led || (c.group(observer) && c.group(observer)->is_leader());
  };
  ASSERT_TRUE(world.run_until(
      [&] {
        watch();
        return c.formed(3);  // three voters: the observer is none
      },
      60s));
  for (std::uint64_t v : {1, 2, 3}) ASSERT_TRUE(execute_on(world, c, *c.leader(), v).is_ok());
  ASSERT_TRUE(world.run_until([&] { return c.group(observer)->state().value == 6; }, 10s))
      << "the observer did not apply";
  // Two voters left, then one: with the observer's copies two would be enough.
  c.crash(*c.leader());
  ASSERT_TRUE(world.run_until(
      [&] {
        watch();
        auto l = c.leader();
        return l && c.group(*l)->status().online;
      },
      30s));
  ASSERT_NE(*c.leader(), observer);
  ASSERT_TRUE(execute_on(world, c, *c.leader(), 4).is_ok());
  c.crash(*c.leader());
  const HostId last = [&] {
    for (HostId h : c.hosts()) {
      if (h != observer && c.group(h)) return h;
    }
    return observer;
  }();
  ASSERT_NE(last, observer);
  std::optional<Result<Index>> stuck;
  world.run_for(3s);
  c.group(last)->execute(100, [&](Result<Index> r) { stuck = std::move(r); });
  world.run_until(
      [&] {
        watch();
        return false;
      },
      20s);
  EXPECT_TRUE(!stuck || !stuck->is_ok()) << "one voter and an observer committed";
  EXPECT_LT(c.group(last)->state().value, 110u);
  EXPECT_LT(c.group(observer)->state().value, 110u);
  EXPECT_FALSE(observer_led);
}

// ---- queries and feed ----------------------------------------------------------------------

TEST(GroupsApi, AWeakQueryAnswersLocallyAtOnceEvenWhenStale) {
  World world({.seed = 77});
  GroupCluster<> c(world, 3);
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  const HostId leader = *c.leader();
  ASSERT_TRUE(
      await_on<Result<Index>>(world, leader, [&] { return c.group(leader)->execute(5); })->is_ok());
  HostId follower = leader == c.hosts()[0] ? c.hosts()[1] : c.hosts()[0];
  ASSERT_TRUE(world.run_until([&] { return c.group(follower)->state().value == 5; }, 10s));
  // Cut the follower off; the other two go on without it.
  std::vector<HostId> rest;
  for (HostId h : c.hosts()) {
    if (h != follower) rest.push_back(h);
  }
  world.net().partition({follower}, rest);
  ASSERT_TRUE(await_on<Result<Index>>(world, leader, [&] {
                return c.group(leader)->execute(10);
              })->is_ok());
  const Instant asked = world.now();
  auto weak = await_on<Result<groups::QueryResultAt<std::uint64_t>>>(
      world, follower, [&] { return c.group(follower)->query({}); });
  ASSERT_TRUE(weak && weak->is_ok());
  EXPECT_EQ(world.now(), asked) << "a weak query waited";
  EXPECT_EQ((*weak)->result, 5u) << "the follower's own (stale) state";
  EXPECT_LT((*weak)->index, c.group(leader)->committed());
  // On the leader it is current.
  auto fresh = await_on<Result<groups::QueryResultAt<std::uint64_t>>>(
      world, leader, [&] { return c.group(leader)->query({}, Consistency::kWeak); });
  EXPECT_EQ((*fresh)->result, 15u);
  // A strong query cannot be answered from the cut-off follower.
  auto strong = await_on<Result<groups::QueryResultAt<std::uint64_t>>>(
      world, follower, [&] { return c.group(follower)->query({}, Consistency::kStrong); });
  ASSERT_TRUE(strong);
  EXPECT_FALSE(strong->is_ok());
}

TEST(GroupsApi, FeedYieldsTheFirstCommandsPositionAndTheCommandsCommitAfterwards) {
  World world({.seed = 78});
  GroupCluster<> c(world, 3);
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  const HostId leader = *c.leader();
  const Cursor before = c.group(leader)->log_position();
  auto fed = await_on<Result<Cursor>>(world, leader, [&] {
    return c.group(leader)->feed_many({1, 2, 3});
  });
  ASSERT_TRUE(fed && fed->is_ok());
  const Cursor first = **fed;
  EXPECT_EQ(first.index, before.index + 1);
  EXPECT_EQ(first.term, c.group(leader)->status().term);
  EXPECT_EQ(c.group(leader)->log_position(), (Cursor{first.term, first.index + 2}));
  EXPECT_LT(c.group(leader)->committed(), first.index) << "feed waited for the commit";
  for (HostId h : c.hosts()) {
    ASSERT_TRUE(world.run_until(
        [&] { return c.group(h)->when().committed_reaches(first.index + 2).is_met(); }, 10s));
    EXPECT_EQ(c.group(h)->state().value, 6u);
  }
  // From a follower: forwarded, answered by the leader.
  const HostId follower = leader == c.hosts()[0] ? c.hosts()[1] : c.hosts()[0];
  auto forwarded =
      await_on<Result<Cursor>>(world, follower, [&] { return c.group(follower)->feed(4); });
  ASSERT_TRUE(forwarded && forwarded->is_ok()) << forwarded->status().to_string();
  EXPECT_GT((*forwarded)->index, first.index + 2);
  ASSERT_TRUE(world.run_until([&] { return c.group(follower)->state().value == 10; }, 10s));
}

TEST(GroupsApi, EveryCallHasACallbackFormThatRunsInATurnOfItsOwn) {
  World world({.seed = 79});
  GroupCluster<> c(world, 3);
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  const HostId leader = *c.leader();
  const HostId follower = leader == c.hosts()[0] ? c.hosts()[1] : c.hosts()[0];
  auto& g = *c.group(follower);
  bool returned = false;
  int inline_calls = 0, done = 0;
  auto count = [&](bool ok) {
    inline_calls += returned ? 0 : 1;
    done += ok ? 1 : 0;
  };
  g.execute(1, [&](Result<Index> r) { count(r.is_ok()); });
  g.execute_many({2, 3}, [&](Result<Index> r) { count(r.is_ok()); });
  g.feed(4, [&](Result<Cursor> r) { count(r.is_ok()); });
  g.feed_many({5, 6}, [&](Result<Cursor> r) { count(r.is_ok()); });
  g.query({}, [&](Result<groups::QueryResultAt<std::uint64_t>> r) { count(r.is_ok()); });
  g.query({}, Consistency::kStrong,
          [&](Result<groups::QueryResultAt<std::uint64_t>> r) { count(r.is_ok()); });
  g.feed_many({}, [&](Result<Cursor> r) {  // fails at once, still in a turn of its own
    inline_calls += returned ? 0 : 1;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  });
  returned = true;
  ASSERT_TRUE(world.run_until([&] { return done == 6; }, 10s)) << done << " calls succeeded";
  EXPECT_EQ(inline_calls, 0) << "a callback ran inside its call";
  // when() conditions: on_met is their callback form.
  bool met = false;
  auto sub = g.when().committed().reaches(g.committed() + 1).on_met([&] { met = true; });
  g.execute(7, [](Result<Index>) {});
  ASSERT_TRUE(world.run_until([&] { return met; }, 10s));
}

// ---- positions, watchers, config -----------------------------------------------------------

TEST(GroupsApi, WhenLogAndCommittedWatchTheirPositions) {
  World world({.seed = 80});
  GroupCluster<> c(world, 3);
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  const HostId leader = *c.leader();
  auto& g = *c.group(leader);
  auto log = g.when().log();
  auto committed = g.when().committed();
  EXPECT_EQ(log.initial(), g.log_position());
  EXPECT_EQ(committed.initial(), g.committed());
  const auto log_changed = log.changed(), log_advanced = log.advanced();
  const auto applied_changed = committed.changed(), applied_advanced = committed.advanced();
  const auto target = committed.reaches(committed.initial() + 2);
  EXPECT_FALSE(log_changed.is_met() || log_advanced.is_met() || applied_changed.is_met() ||
               target.is_met());
  bool log_fired = false;
  auto sub = log_advanced.on_met([&] { log_fired = true; });
  auto r = await_on<Result<Index>>(world, leader, [&] { return g.execute_many({1, 1}); });
  ASSERT_TRUE(r && r->is_ok());
  world.run_for(1ms);
  EXPECT_TRUE(log_fired);
  EXPECT_TRUE(log_changed.is_met() && log_advanced.is_met());
  EXPECT_TRUE(applied_changed.is_met() && applied_advanced.is_met() && target.is_met());
  EXPECT_FALSE(log.reverted().is_met() || committed.reverted().is_met());
  EXPECT_EQ(g.log_position().index, **r);
  EXPECT_EQ(g.log_position().term, g.status().term);
}

// The old leader of ExecuteFailsWhenANewLeaderReplacedTheEntry: its uncommitted entry is
// replaced, which its log watcher sees as a change.
TEST(GroupsApi, ALogWhoseTailIsReplacedChanges) {
  World world({.seed = 63});
  GroupCluster<> c(world, 3);
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  const HostId old = *c.leader();
  std::vector<HostId> rest;
  for (HostId h : c.hosts()) {
    if (h != old) rest.push_back(h);
  }
  world.net().partition({old}, rest);
  c.group(old)->execute(100, [](Result<Index>) {});
  world.run_for(1ms);
  auto log = c.group(old)->when().log();
  const Cursor stale = log.initial();
  ASSERT_TRUE(world.run_until(
      [&] {
        auto l = c.leader();
        return l && *l != old;
      },
      20s));
  const HostId fresh = *c.leader();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        await_on<Result<Index>>(world, fresh, [&] { return c.group(fresh)->execute(1); })->is_ok());
  world.net().heal_all();
  ASSERT_TRUE(world.run_until([&] { return c.group(old)->state().value == 3; }, 20s));
  EXPECT_TRUE(log.changed().is_met());
  EXPECT_GT(c.group(old)->log_position().term, stale.term) << "the stale entry is gone";
}

TEST(GroupsApi, ConfigNamesWhatTheGroupIdDerivesFrom) {
  World world({.seed = 81});
  GroupCluster<> c(world, 1);
  ASSERT_TRUE(world.run_until([&] { return c.formed(1); }, 60s));
  const auto config = c.group(c.hosts()[0])->config();
  EXPECT_EQ(config.id, c.group(c.hosts()[0])->id());
  EXPECT_EQ(config.key, groups::GroupKey::from_secret("test.group"));
  EXPECT_EQ(config.consensus.heartbeat_interval, support::fast_consensus().heartbeat_interval);
  EXPECT_EQ(config.consensus.election_timeout, support::fast_consensus().election_timeout);
  EXPECT_EQ(config.log_replay, groups::LogReplayConfig{});
  EXPECT_TRUE(config.validators.empty());
  EXPECT_EQ(config.id, groups::derive_group_id(config.key, config.consensus, Counter{}.signature(),
                                               config.log_replay.signature(), {}));
}

// Members that replay the log in batches of different sizes are different groups; one node
// takes part in both.
TEST(GroupsApi, TheLogReplayBatchSizeSeparatesGroups) {
  World world({.seed = 82});
  GroupCluster<> c(world, 2);
  Network* net = world.network(c.hosts()[0]);
  auto other = net->groups()
                   .with_key(groups::GroupKey::from_secret("test.group"))
                   .with_state_machine(Counter{})
                   .with_consensus_config(support::fast_consensus())
                   .with_log_replay(groups::LogReplayConfig{}.with_batch_size(100))
                   .join();
  ASSERT_TRUE(other.is_ok());
  EXPECT_NE(other->id(), c.group(c.hosts()[0])->id());
  EXPECT_EQ(other->config().log_replay.batch_size, 100u);
  auto bad = net->groups()
                 .with_key(groups::GroupKey::from_secret("test.group"))
                 .with_log_replay(groups::LogReplayConfig{}.with_batch_size(0))
                 .join();
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  // The same batch size on another member: the two bond in that group, beside the first.
  auto twin = world.network(c.hosts()[1])
                  ->groups()
                  .with_key(groups::GroupKey::from_secret("test.group"))
                  .with_state_machine(Counter{})
                  .with_consensus_config(support::fast_consensus())
                  .with_log_replay(groups::LogReplayConfig{}.with_batch_size(100))
                  .join();
  ASSERT_TRUE(twin.is_ok());
  EXPECT_EQ(twin->id(), other->id());
  world.run_for(10s);
  EXPECT_EQ(other->bonds().size(), 1u);
  EXPECT_EQ(c.group(c.hosts()[0])->bonds().size(), 1u);
  EXPECT_EQ(world.network(c.hosts()[0])->groups().active().size(), 2u);
}

// ---- a failing store -----------------------------------------------------------------------

// MemoryStores (over the node's medium, where the DurabilityChecker looks) whose syncs fail
// once `failing` is set (a disk that went bad).
class FailingStores final : public support::ForwardingStores {
 public:
  FailingStores(env::Executor& executor, std::shared_ptr<groups::MemoryMedium> medium,
                const groups::GroupId& group, std::shared_ptr<bool> failing)
      : ForwardingStores(
            std::make_unique<groups::MemoryStores>(executor, std::move(medium), group)),
        executor_(executor),
        failing_(std::move(failing)) {}
  void sync(std::function<void(Status)> done) override {
    if (!*failing_) return inner().sync(std::move(done));
    executor_.post([done = std::move(done)] { done(error(StatusCode::kIoError, "disk failed")); });
  }

 private:
  env::Executor& executor_;
  std::shared_ptr<bool> failing_;
};

TEST(GroupsApi, AStoreThatFailsIsReportedAndItsMemberStopsAcknowledging) {
  World world({.seed = 83, .record_trace = true});
  GroupCluster<> c(world, 2);
  ASSERT_TRUE(world.run_until([&] { return c.formed(2); }, 60s));
  auto failing = std::make_shared<bool>(false);
  const HostId sick =
      c.add(support::fast_consensus(), "test.group", Counter{}, [failing, &c](Network& net) {
        auto s =
            std::make_shared<FailingStores>(net.node().executor(), net.groups().options().medium,
                                            c.group(c.hosts()[0])->id(), failing);
        return std::pair<std::shared_ptr<groups::StateStore>, std::shared_ptr<groups::LogStore>>(s,
                                                                                                 s);
      });
  ASSERT_TRUE(world.run_until([&] { return c.formed(3); }, 60s));
  EXPECT_TRUE(c.group(sick)->status().store_error.is_ok());
  *failing = true;
  // The two healthy members still make a quorum: commands commit.
  ASSERT_TRUE(world.run_until(
      [&] {
        auto l = c.leader();
        return l && *l != sick && c.group(*l)->status().online;
      },
      30s));
  for (std::uint64_t v : {1, 2}) ASSERT_TRUE(execute_on(world, c, *c.leader(), v).is_ok());
  const auto status = c.group(sick)->status();
  ASSERT_FALSE(status.store_error.is_ok()) << "the failure was dropped";
  EXPECT_EQ(status.store_error.code(), StatusCode::kIoError);
  EXPECT_NE(status.store_error.message().find("disk failed"), std::string::npos);
  // It stays up and bonded...
  ASSERT_NE(world.network(sick), nullptr);
  EXPECT_EQ(c.group(sick)->bonds().size(), 2u);
  bool traced = false;
  for (const auto& r : world.trace().records()) {
    traced = traced || (r.host == sick && world.trace().kind_name(r.kind) == "group.store_error");
  }
  EXPECT_TRUE(traced);
  // ...but acknowledges nothing: with one healthy member left, nothing commits.
  const HostId lead = *c.leader();
  const HostId healthy = lead == c.hosts()[0] ? c.hosts()[1] : c.hosts()[0];
  c.crash(lead);
  const Index applied = c.group(healthy)->committed();
  world.run_for(3s);
  std::optional<Result<Index>> late;
  c.group(healthy)->execute(100, [&](Result<Index> r) { late = std::move(r); });
  world.run_for(20s);
  EXPECT_TRUE(!late || !late->is_ok()) << "a member with a failed store counted for a quorum";
  EXPECT_EQ(c.group(healthy)->committed(), applied);
  EXPECT_FALSE(c.group(sick)->status().store_error.is_ok());
}

}  // namespace
}  // namespace smalti::sim
