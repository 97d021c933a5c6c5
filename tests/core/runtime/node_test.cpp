// Tests for Node: spawning, shutdown, serving ALPNs and connecting, hosted in the simulator.
#include "smalti/runtime/node.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/runtime/fake_executor.hpp"
#include "smalti/ping/ping_messages.hpp"
#include "smalti/sim/world.hpp"

namespace smalti {
namespace {

using test_support::Probe;

constexpr const char* kTestAlpn = "/smalti/test/node/1";

// Records what a link delivers.
class RecordingHandler final : public env::LinkHandler {
 public:
  void on_frame(Bytes frame) override { frames.push_back(std::move(frame)); }
  void on_closed(const env::CloseInfo& info) override {
    ++close_calls;
    closed = info;
  }
  std::vector<Bytes> frames;
  std::optional<env::CloseInfo> closed;
  int close_calls = 0;
};

Task<void> set_flag_with_probe(Probe probe, bool* ran) {
  (void)probe;
  *ran = true;
  co_return;
}

Task<void> sleep_with_probe(Node& node, Duration d, int* alive, bool* finished) {
  Probe local(alive);
  co_await node.sleep(d);
  *finished = true;
}

Task<void> measure_sleep(Node& node, Duration d, std::optional<Duration>* slept) {
  const Instant before = node.now();
  co_await node.sleep(d);
  *slept = node.now() - before;
}

Task<void> connect_task(Node& node, PeerAddr addr, std::string alpn,
                        std::optional<Result<env::LinkPtr>>* out) {
  *out = co_await node.connect(addr, alpn);
}

struct NodeTest : ::testing::Test {
  // Declared before the world, so links held by the test outlive it and are detached by it.
  RecordingHandler handler;
  std::vector<env::LinkPtr> links;
  sim::World world{{.seed = 11}};
  sim::HostId a = world.add_node({.name = "a"});
  sim::HostId b = world.add_node({.name = "b"});

  Node& node(sim::HostId h) { return world.network(h)->node(); }
};

TEST_F(NodeTest, SpawnAfterShutdownDoesNothing) {
  Node& n = node(a);
  n.shutdown();
  EXPECT_TRUE(n.is_shut_down());
  int alive = 0;
  bool ran = false;
  n.spawn(set_flag_with_probe(Probe(&alive), &ran));
  EXPECT_EQ(alive, 0);  // the task was dropped, and its frame with it
  world.run_for(1s);
  EXPECT_FALSE(ran);
}

// Stops the node with `stop` while a task sleeps: the task is destroyed (inside the call when
// `at_once`, else in the next executor turn) and never finishes; stopping again is harmless.
void expect_stop_destroys_tasks(sim::World& world, Node& n, void (*stop)(Node&), bool at_once) {
  int alive = 0;
  bool finished = false;
  n.spawn(sleep_with_probe(n, 1h, &alive, &finished));
  world.run_for(1s);
  ASSERT_EQ(alive, 1);
  stop(n);
  EXPECT_TRUE(n.is_shut_down());
  if (!at_once) {
    EXPECT_EQ(alive, 1) << "destroyed inside the call";
    world.run_for(Duration::zero());
  }
  EXPECT_EQ(alive, 0);
  stop(n);
  world.run_for(2h);
  EXPECT_FALSE(finished);
}

TEST_F(NodeTest, ShutdownDestroysSuspendedTasksInTheNextTurn) {
  expect_stop_destroys_tasks(
      world, node(a), [](Node& n) { n.shutdown(); }, false);
}

TEST_F(NodeTest, ShutdownNowDestroysSuspendedTasksAtOnce) {
  expect_stop_destroys_tasks(
      world, node(a), [](Node& n) { n.shutdown_now(); }, true);
}

TEST_F(NodeTest, CrashDestroysTasks) {
  Node& n = node(a);
  int alive = 0;
  bool finished = false;
  n.spawn(sleep_with_probe(n, 1h, &alive, &finished));
  world.run_for(1s);
  ASSERT_EQ(alive, 1);
  world.crash(a);
  EXPECT_EQ(alive, 0);
  world.run_for(2h);
  EXPECT_FALSE(finished);
}

TEST_F(NodeTest, SleepWaitsInVirtualTime) {
  Node& n = node(a);
  std::optional<Duration> slept;
  n.spawn(measure_sleep(n, 250ms, &slept));
  world.run_for(249ms);
  EXPECT_FALSE(slept.has_value());
  world.run_for(2ms);
  ASSERT_TRUE(slept.has_value());
  EXPECT_EQ(*slept, 250ms);
}

TEST_F(NodeTest, ServeTwiceOnOneAlpnIsAlreadyExists) {
  Node& n = node(a);
  ASSERT_TRUE(n.serve(kTestAlpn, [](env::LinkPtr) {}).is_ok());
  Status again = n.serve(kTestAlpn, [](env::LinkPtr) {});
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.to_string();
  // The ping service of the Network already serves its ALPN.
  EXPECT_EQ(n.serve(ping::kAlpn, [](env::LinkPtr) {}).code(), StatusCode::kAlreadyExists);
}

TEST_F(NodeTest, ServeAfterShutdownIsFailedPrecondition) {
  Node& n = node(a);
  n.shutdown();
  EXPECT_EQ(n.serve(kTestAlpn, [](env::LinkPtr) {}).code(), StatusCode::kFailedPrecondition);
}

TEST_F(NodeTest, ServedAlpnReceivesIncomingLinks) {
  std::vector<PeerId> accepted;
  ASSERT_TRUE(node(b)
                  .serve(kTestAlpn,
                         [&](env::LinkPtr link) {
                           accepted.push_back(link->remote());
                           links.push_back(std::move(link));
                         })
                  .is_ok());
  std::optional<Result<env::LinkPtr>> connected;
  node(a).spawn(connect_task(node(a), world.addr(b), kTestAlpn, &connected));
  ASSERT_TRUE(world.run_until([&] { return connected.has_value(); }, 10s));
  ASSERT_TRUE(connected->is_ok()) << connected->status().to_string();
  EXPECT_EQ(connected->value()->remote(), world.peer_id(b));
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0], world.peer_id(a));
  links.push_back(std::move(connected->value()));
}

TEST_F(NodeTest, ConnectToAnUnservedAlpnFailsWithNotFound) {
  std::optional<Result<env::LinkPtr>> connected;
  node(a).spawn(connect_task(node(a), world.addr(b), "/smalti/test/nobody/1", &connected));
  ASSERT_TRUE(world.run_until([&] { return connected.has_value(); }, 10s));
  ASSERT_FALSE(connected->is_ok());
  EXPECT_EQ(connected->status().code(), StatusCode::kNotFound);
}

TEST_F(NodeTest, ConnectAfterShutdownFailsWithCancelledInTheNextTurn) {
  Node& n = node(a);
  n.shutdown();
  std::optional<Result<env::LinkPtr>> result;
  n.connect(world.addr(b), kTestAlpn, [&](Result<env::LinkPtr> r) { result = std::move(r); });
  EXPECT_FALSE(result.has_value()) << "never called back from inside connect()";
  world.run_for(Duration::zero());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), StatusCode::kCancelled);
}

TEST_F(NodeTest, IncomingLinksToAShutDownNodeAreClosedGracefully) {
  ASSERT_TRUE(node(b).serve(kTestAlpn, [&](env::LinkPtr link) { links.push_back(link); }).is_ok());
  node(b).shutdown();
  std::optional<Result<env::LinkPtr>> result;
  node(a).connect(world.addr(b), kTestAlpn, [&](Result<env::LinkPtr> r) {
    if (r.is_ok()) r.value()->set_handler(&handler);
    result = std::move(r);
  });
  ASSERT_TRUE(world.run_until([&] { return handler.closed.has_value(); }, 10s));
  ASSERT_TRUE(result.has_value() && result->is_ok());
  links.push_back(result->value());
  EXPECT_TRUE(links.size() == 1u) << "the shut-down node's handler must not see the link";
  EXPECT_EQ(handler.closed->code, env::close_code::kGracefulShutdown);
  EXPECT_TRUE(handler.closed->by_remote);
  EXPECT_EQ(handler.close_calls, 1);
}

// Globals, so the task below reads nothing from its own frame after shutdown() returns.
int g_self_alive = 0;
int g_self_alive_after_shutdown = -1;
Node* g_self_node = nullptr;

Task<void> shut_down_own_node() {
  Probe local(&g_self_alive);
  co_await g_self_node->sleep(1ms);
  g_self_node->shutdown();
  g_self_alive_after_shutdown = g_self_alive;
}

// Regression test for a fixed bug (core/src/runtime/node.cpp:77-83 with
// core/src/runtime/task_scope.cpp:40-46): a task that calls shutdown() on its own node (an
// application's "stop" task, or code that drops its Network) has its own coroutine frame destroyed
// inside the call; when shutdown() returns the task runs on freed memory (its locals are already
// destroyed, and final_suspend touches the freed promise: heap-use-after-free under ASan, or the
// on_task_done assertion). Runs in a child process so the parent survives the crash.
TEST(NodeSelfShutdownTest, TaskMayShutDownItsOwnNode) {
  EXPECT_EXIT(
      {
        sim::World world({.seed = 3});
        const sim::HostId h = world.add_node({.name = "self"});
        g_self_node = &world.network(h)->node();
        g_self_node->spawn(shut_down_own_node());
        world.run_for(10ms);
        const bool ok = g_self_alive_after_shutdown == 1 && g_self_alive == 0;
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(NodeTest, MakeRngIsDeterministicPerLabel) {
  Rng x = node(a).make_rng("label");
  Rng y = node(a).make_rng("label");
  Rng z = node(a).make_rng("other");
  const std::uint64_t x1 = x.next_u64();
  EXPECT_EQ(x1, y.next_u64());
  EXPECT_NE(x1, z.next_u64());
}

TEST_F(NodeTest, IdentityMatchesTheWorld) {
  EXPECT_EQ(node(a).id(), world.peer_id(a));
  EXPECT_EQ(node(a).addr(), world.addr(a));
  EXPECT_NE(node(a).id(), node(b).id());
  EXPECT_EQ(node(a).name(), "a");
}

}  // namespace
}  // namespace smalti
