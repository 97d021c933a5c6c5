// Node faults of the World: crash (volatile state and tasks gone, synced files kept, peers' links
// reset), restart (setup runs again with the same identity, stale links get a stateless reset)
// and pause (no events run, links stall, held events run at resume, long pauses reset links).
#include <gtest/gtest.h>

#include "sim/fault_test_support.hpp"

namespace smalti::sim {
namespace {

using support::connect_now;
using support::dial;
using support::fault_count;
using support::Held;
using support::iota;
using support::numbered;
using support::Sink;
using support::sink_node;

// Increments *counter every `every` of the node's time, forever.
Task<void> tick(Network& net, std::shared_ptr<std::int64_t> counter, Duration every) {
  for (;;) {
    co_await net.node().sleep(every);
    ++*counter;
  }
}

struct Fixture {
  std::shared_ptr<Sink> sink;
  std::shared_ptr<std::int64_t> ticks = std::make_shared<std::int64_t>(0);
  std::unique_ptr<World> world;
  HostId a = 0, b = 0;
  Held ab;

  explicit Fixture(std::uint64_t seed) {
    WorldOptions o{.seed = seed};
    o.network.latency = {.min = 1ms, .median = 1ms, .tail_probability = 0, .tail_max = 1ms};
    world = std::make_unique<World>(o);
    sink = std::make_shared<Sink>(*world);
    a = world->add_node({.name = "a"});
    auto counter = ticks;
    b = world->add_node(
        sink_node("b", sink, [counter](Network& net) { net.spawn(tick(net, counter, 100ms)); }));
    ab = dial(*world, a, b);
  }
  Held& ba() { return sink->accepted.front(); }
  Duration idle() { return world->net().config().idle_timeout; }
};

TEST(NodeCrash, CrashStopsTasksAndRestartRunsSetupAgainWithTheSameIdentity) {
  Fixture f(71);
  const PeerId id_before = f.world->peer_id(f.b);
  f.world->run_until(Instant() + 1s);
  EXPECT_EQ(*f.ticks, 10);
  EXPECT_EQ(f.sink->setups, 1);

  f.world->crash(f.b);
  EXPECT_EQ(f.world->state(f.b), HostState::kCrashed);
  EXPECT_EQ(f.world->network(f.b), nullptr);
  f.world->run_for(3s);
  EXPECT_EQ(*f.ticks, 10);  // the periodic task died with the node

  f.world->restart(f.b);
  EXPECT_EQ(f.world->state(f.b), HostState::kUp);
  EXPECT_EQ(f.sink->setups, 2);
  ASSERT_NE(f.world->network(f.b), nullptr);
  EXPECT_EQ(f.world->network(f.b)->id(), id_before);
  EXPECT_EQ(f.world->peer_id(f.b), id_before);
  f.world->run_for(1s);
  EXPECT_EQ(*f.ticks, 20);
  EXPECT_EQ(fault_count(*f.world, "crash"), 1u);
  EXPECT_EQ(fault_count(*f.world, "restart"), 1u);
}

TEST(NodeCrash, FramesToACrashedNodeAreNotDelivered) {
  Fixture f(72);
  f.world->crash(f.b);
  for (std::uint64_t i = 0; i < 5; ++i) (void)f.ab.link->send(numbered(i));
  f.world->run_for(2s);
  EXPECT_TRUE(f.ba().rec->numbers.empty());
  f.world->restart(f.b);
  f.world->run_for(1s);
  EXPECT_TRUE(f.ba().rec->numbers.empty());  // never to the new incarnation either
}

// Regression test for a fixed bug (sim/src/world.cpp, World::crash): stop_host() calls
// SimNetwork::on_host_down() while the host's state is still kUp, so on_reachability_changed()
// still sees the path as open and never starts the idle timer; the state becomes kCrashed only
// afterwards. A peer's link to a crashed node that never restarts therefore stays open (stalled)
// forever instead of being reset after the idle timeout, as network.hpp documents ("remotes idle
// out").
TEST(NodeCrash, PeerLinkResetsAfterIdleTimeoutWhenTheNodeStaysDown) {
  Fixture f(73);
  const Instant crashed_at = f.world->now();
  f.world->crash(f.b);
  f.world->run_for(f.idle() + 1s);
  ASSERT_TRUE(f.ab.rec->closed.has_value()) << "a's link to the crashed b was never reset";
  EXPECT_EQ(f.ab.rec->closed->code, env::close_code::kReset);
  EXPECT_EQ(f.ab.rec->closed_at, crashed_at + f.idle());
}

TEST(NodeRestart, RestartResetsThePeersStaleLinkAtOnceAndAcceptsNewLinks) {
  Fixture f(75);
  f.world->crash(f.b);
  f.world->run_for(2s);
  EXPECT_FALSE(f.ab.rec->closed.has_value());
  const Instant restarted_at = f.world->now();
  f.world->restart(f.b);
  f.world->run_for(Duration::zero());  // the reset reaches a's handler in an event of a
  ASSERT_TRUE(f.ab.rec->closed.has_value());
  EXPECT_EQ(f.ab.rec->closed->code, env::close_code::kReset);
  EXPECT_EQ(f.ab.rec->closed_at, restarted_at);
  EXPECT_FALSE(f.ba().rec->closed.has_value());  // the old incarnation's handler hears nothing
  EXPECT_EQ(f.world->net().stats().links_reset, 1u);

  Held again = dial(*f.world, f.a, f.b);
  ASSERT_NE(again.link, nullptr);
  ASSERT_TRUE(again.link->send(numbered(7)).is_ok());
  f.world->run_for(10ms);
  EXPECT_EQ(f.sink->last().rec->numbers, std::vector<std::uint64_t>{7});
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes read_file(env::FileSystem& fs, const std::string& path) {
  auto file = fs.open(path, env::OpenMode::kOpenExisting);
  EXPECT_TRUE(file.is_ok()) << file.status().to_string();
  if (!file.is_ok()) return {};
  auto size = (*file)->size();
  Bytes out(size.value_or(0));
  auto n = (*file)->read(0, out);
  out.resize(n.value_or(0));
  return out;
}

TEST(NodeCrash, SyncedFilesSurviveACrashAndNeverSyncedOnesDoNot) {
  Fixture f(76);
  env::FileSystem* fs = f.world->network(f.b)->node().env().file_system;
  ASSERT_NE(fs, nullptr);
  const Bytes durable = text("durable state, synced");
  const Bytes tail = text(" + an unsynced tail");
  {
    auto synced = fs->open("synced.dat", env::OpenMode::kCreateNew);
    ASSERT_TRUE(synced.is_ok());
    ASSERT_TRUE((*synced)->write(0, durable).is_ok());
    ASSERT_TRUE((*synced)->sync().is_ok());
    auto extended = fs->open("extended.dat", env::OpenMode::kCreateNew);
    ASSERT_TRUE((*extended)->write(0, durable).is_ok());
    ASSERT_TRUE((*extended)->sync().is_ok());
    ASSERT_TRUE((*extended)->write(durable.size(), tail).is_ok());
    auto volatile_file = fs->open("unsynced.dat", env::OpenMode::kCreateNew);
    ASSERT_TRUE((*volatile_file)->write(0, durable).is_ok());
  }
  f.world->crash(f.b);
  f.world->run_for(1s);
  f.world->restart(f.b);
  env::FileSystem* after = f.world->network(f.b)->node().env().file_system;
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(read_file(*after, "synced.dat"), durable);
  EXPECT_FALSE(after->exists("unsynced.dat").value_or(true));
  // The synced prefix is intact; the unsynced tail may be kept, torn or lost.
  const Bytes ext = read_file(*after, "extended.dat");
  ASSERT_GE(ext.size(), durable.size());
  EXPECT_LE(ext.size(), durable.size() + tail.size());
  EXPECT_EQ(Bytes(ext.begin(), ext.begin() + static_cast<std::ptrdiff_t>(durable.size())), durable);
  EXPECT_EQ(f.world->disk(f.b).stats().crashes, 1u);
  EXPECT_GE(f.world->disk(f.b).stats().files_lost_at_crash, 1u);
}

// The setup of each incarnation reads what the previous ones synced: a boot counter.
TEST(NodeRestart, SetupSeesTheStateEarlierIncarnationsSynced) {
  World world({.seed = 77});
  auto boots = std::make_shared<std::vector<std::uint64_t>>();
  const HostId h = world.add_node({.name = "booter", .setup = [boots](Network& net) {
                                     env::FileSystem& fs = *net.node().env().file_system;
                                     auto file = fs.open("boots", env::OpenMode::kCreateIfMissing);
                                     ASSERT_TRUE(file.is_ok());
                                     Bytes raw(8, 0);
                                     (void)(*file)->read(0, raw);
                                     const std::uint64_t n = support::number_of(raw) + 1;
                                     ASSERT_TRUE((*file)->write(0, numbered(n)).is_ok());
                                     ASSERT_TRUE((*file)->sync().is_ok());
                                     boots->push_back(n);
                                   }});
  for (int i = 0; i < 3; ++i) {
    world.run_for(1s);
    world.crash(h);
    world.run_for(1s);
    world.restart(h);
  }
  EXPECT_EQ(*boots, (std::vector<std::uint64_t>{1, 2, 3, 4}));
}

TEST(NodePause, PauseFreezesTheNodeAndResumeRunsHeldEventsThenContinues) {
  Fixture f(81);
  f.world->run_until(Instant() + 1s + 50ms);
  EXPECT_EQ(*f.ticks, 10);
  f.world->pause(f.b);
  EXPECT_EQ(f.world->state(f.b), HostState::kPaused);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(f.ab.link->send(numbered(i)).is_ok());
  f.world->run_for(3s);
  EXPECT_EQ(*f.ticks, 10);                   // no timer ran
  EXPECT_TRUE(f.ba().rec->numbers.empty());  // links stall
  const Instant resumed_at = f.world->now();
  f.world->resume(f.b);
  f.world->run_until(resumed_at);
  EXPECT_EQ(*f.ticks, 11);  // the held timer ran at resume, once
  EXPECT_EQ(f.ba().rec->numbers, iota(0, 10));
  EXPECT_EQ(f.ba().rec->arrivals.front(), resumed_at);
  f.world->run_for(1s);
  EXPECT_EQ(*f.ticks, 21);
  EXPECT_FALSE(f.ab.rec->closed.has_value());
  EXPECT_FALSE(f.ba().rec->closed.has_value());
  EXPECT_EQ(fault_count(*f.world, "pause"), 1u);
  EXPECT_EQ(fault_count(*f.world, "resume"), 1u);
}

TEST(NodePause, PauseLongerThanIdleTimeoutResetsLinks) {
  Fixture f(82);
  const Instant paused_at = f.world->now();
  f.world->pause(f.b);
  f.world->run_for(f.idle() + 2s);
  ASSERT_TRUE(f.ab.rec->closed.has_value());
  EXPECT_EQ(f.ab.rec->closed->code, env::close_code::kReset);
  EXPECT_EQ(f.ab.rec->closed_at, paused_at + f.idle());
  f.world->resume(f.b);
  f.world->run_for(10ms);
  ASSERT_TRUE(f.ba().rec->closed.has_value());
  EXPECT_EQ(f.ba().rec->closed->code, env::close_code::kReset);
  EXPECT_FALSE(f.ba().link->is_open());
  // A fresh link works.
  Held again = dial(*f.world, f.a, f.b);
  EXPECT_TRUE(again.link && again.link->is_open());
}

// Regression test for a fixed bug (sim/src/network.cpp, SimNetwork::reset_link): the reset is
// handed to each live end with World::run_on_host(), which calls the node's LinkHandler::on_closed
// inline, even when that host is paused. A paused node thus runs code while "no events run"
// (world.hpp): here b's handler sees the idle-timeout reset at pause + idle_timeout, long before it
// is resumed.
TEST(NodePause, PausedNodeHearsOfTheResetOnlyAfterResume) {
  Fixture f(83);
  f.world->pause(f.b);
  f.world->run_for(f.idle() + 5s);
  const Instant resumed_at = f.world->now();
  EXPECT_FALSE(f.ba().rec->closed.has_value())
      << "on_closed ran on the paused node at " << f.ba().rec->closed_at.nanos() << "ns";
  f.world->resume(f.b);
  f.world->run_for(10ms);
  ASSERT_TRUE(f.ba().rec->closed.has_value());
  EXPECT_GE(f.ba().rec->closed_at, resumed_at);
}

// Regression test for a fixed bug (sim/src/network.cpp, SimNetwork::fail_connect): the failure is a
// world event that calls the node's ConnectFn through run_on_host() even if the dialer is paused by
// then, so the callback runs on a paused node (here at about connect + connect_timeout, mid-pause).
TEST(NodePause, ConnectCallbackOfAPausedDialerWaitsForResume) {
  Fixture f(84);
  auto out = std::make_shared<std::optional<Result<env::LinkPtr>>>();
  auto when = std::make_shared<Instant>();
  World* w = f.world.get();
  f.world->network(f.b)->node().connect(f.world->addr(f.a), "/smalti/discovery/ping/1",
                                        [out, when, w](Result<env::LinkPtr> r) {
                                          *out = std::move(r);
                                          *when = w->now();
                                        });
  f.world->pause(f.b);  // before the handshake completes
  f.world->run_for(8s);
  EXPECT_FALSE(out->has_value()) << "the connect callback ran on the paused node at "
                                 << when->nanos() << "ns";
  const Instant resumed_at = f.world->now();
  f.world->resume(f.b);
  f.world->run_for(10s);
  ASSERT_TRUE(out->has_value());
  EXPECT_GE(*when, resumed_at);
}

TEST(NodePause, CrashWhilePausedDropsHeldEventsAndRestartIsClean) {
  Fixture f(85);
  f.world->run_until(Instant() + 1s + 50ms);
  f.world->pause(f.b);
  f.world->run_for(1s);
  f.world->crash(f.b);
  EXPECT_EQ(f.world->state(f.b), HostState::kCrashed);
  f.world->run_for(1s);
  f.world->resume(f.b);  // not paused any more: ignored
  EXPECT_EQ(f.world->state(f.b), HostState::kCrashed);
  EXPECT_EQ(*f.ticks, 10);
  f.world->restart(f.b);
  f.world->run_for(1s);
  EXPECT_EQ(*f.ticks, 20);  // the held tick of the old incarnation never ran
  auto r = connect_now(*f.world, f.a, f.world->addr(f.b));
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
}

// Regression (found by review): timers cancelled by the destructors of a node that crashes
// while paused sit in Host::deferred, not in the queue; their cancellations must not reach the
// queue, or its count of pending events underflows and its cancelled set grows forever.
TEST(NodePause, TimerCancelledWhilePausedThenCrashedLeavesNoStaleCancellation) {
  World world({.seed = 3});
  const HostId a = world.add_node({.setup = [](Network& net) {
    net.spawn([](Network& n) -> Task<void> {
      for (;;) co_await n.node().sleep(100ms);
    }(net));
  }});
  world.run_for(1s);
  const std::size_t baseline = world.pending_events();
  for (int cycle = 0; cycle < 5; ++cycle) {
    world.pause(a);
    world.run_for(1s);  // the sleeping task's timer moves to the held events
    world.crash(a);     // destroying the task cancels that timer
    world.restart(a);
    world.run_for(1s);
    EXPECT_LE(world.pending_events(), baseline + 2) << "cycle " << cycle;
  }
}

}  // namespace
}  // namespace smalti::sim
