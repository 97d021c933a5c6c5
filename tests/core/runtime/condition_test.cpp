// Tests for Condition (await, within, on_met, on_met_within) on a fake, hand-driven executor.
#include "smalti/runtime/condition.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "core/runtime/fake_executor.hpp"
#include "smalti/runtime/task_scope.hpp"

namespace smalti {
namespace {

using test_support::FakeClock;
using test_support::FakeExecutor;
using test_support::Probe;

Task<void> await_condition(Condition cond, bool* done) {
  co_await cond;
  *done = true;
}

Task<void> await_within(Condition cond, Duration timeout, std::optional<bool>* out) {
  *out = co_await cond.within(timeout);
}

Task<void> await_within_with_probe(Condition cond, Duration timeout, int* alive,
                                   std::optional<bool>* out) {
  Probe local(alive);
  *out = co_await cond.within(timeout);
}

struct ConditionTest : ::testing::Test {
  FakeClock clock;
  FakeExecutor executor{clock};
  Signal signal{executor};
  int value = 0;
  Condition cond{signal, clock, [this] { return value >= 3; }};
  TaskScope scope{executor};

  void set(int v) {
    value = v;
    signal.notify();
  }
};

TEST_F(ConditionTest, IsMetReadsThePredicate) {
  EXPECT_FALSE(cond.is_met());
  value = 3;
  EXPECT_TRUE(cond.is_met());
}

TEST_F(ConditionTest, AwaitCompletesImmediatelyWhenAlreadyMet) {
  value = 5;
  bool done = false;
  scope.spawn(await_condition(cond, &done));
  executor.run_posted();
  EXPECT_TRUE(done);
  // Only the task's start-up was posted: the await did not suspend or subscribe.
  EXPECT_EQ(executor.total_posts(), 1u);
  EXPECT_EQ(executor.pending_timers(), 0u);
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(ConditionTest, AwaitCompletesAfterNotifyWhenThePredicateBecomesTrue) {
  bool done = false;
  scope.spawn(await_condition(cond, &done));
  executor.run_posted();
  EXPECT_FALSE(done);
  set(3);
  EXPECT_FALSE(done);  // subscribers run on the executor, not inside notify()
  executor.run_posted();
  EXPECT_TRUE(done);
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(ConditionTest, AwaitDoesNotCompleteWhileFalse) {
  bool done = false;
  scope.spawn(await_condition(cond, &done));
  executor.run_posted();
  for (int v = 0; v < 3; ++v) {
    set(v);
    executor.run_posted();
    EXPECT_FALSE(done) << "completed with value " << v;
  }
  executor.advance(1h);
  EXPECT_FALSE(done);
  EXPECT_EQ(scope.size(), 1u);
  set(4);
  executor.run_posted();
  EXPECT_TRUE(done);
}

TEST_F(ConditionTest, AwaitIsCancelledByDestroyingTheTask) {
  bool done = false;
  scope.spawn(await_condition(cond, &done));
  executor.run_posted();
  scope.cancel_all();
  set(3);
  executor.run_posted();  // the subscription went with the frame: nothing resumes a dead task
  EXPECT_FALSE(done);
}

TEST_F(ConditionTest, WithinYieldsFalseOnTimeout) {
  std::optional<bool> out;
  scope.spawn(await_within(cond, 5s, &out));
  executor.run_posted();
  EXPECT_EQ(executor.pending_timers(), 1u);
  executor.advance(5s - 1ns);
  EXPECT_FALSE(out.has_value());
  executor.advance(1ns);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(*out);
  EXPECT_EQ(scope.size(), 0u);
  // Met after the timeout: nothing runs twice.
  set(3);
  executor.run_posted();
  EXPECT_FALSE(*out);
}

TEST_F(ConditionTest, WithinYieldsTrueWhenMetFirstAndCancelsItsTimer) {
  std::optional<bool> out;
  scope.spawn(await_within(cond, 5s, &out));
  executor.run_posted();
  const env::TimerId timer{executor.first_timer_id()};
  executor.advance(1s);
  set(3);
  executor.run_posted();
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(*out);
  EXPECT_TRUE(executor.was_cancelled(timer));
  EXPECT_EQ(executor.pending_timers(), 0u);
}

TEST_F(ConditionTest, WithinYieldsTrueAtOnceWhenAlreadyMet) {
  value = 3;
  std::optional<bool> out;
  scope.spawn(await_within(cond, 5s, &out));
  executor.run_posted();
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(*out);
  EXPECT_EQ(executor.pending_timers(), 0u);
}

TEST_F(ConditionTest, DestroyingATaskInWithinCancelsTheTimerAndRunsDestructors) {
  int alive = 0;
  std::optional<bool> out;
  scope.spawn(await_within_with_probe(cond, 5s, &alive, &out));
  executor.run_posted();
  ASSERT_EQ(alive, 1);
  const env::TimerId timer{executor.first_timer_id()};
  scope.cancel_all();
  EXPECT_EQ(alive, 0);
  EXPECT_TRUE(executor.was_cancelled(timer));
  EXPECT_EQ(executor.pending_timers(), 0u);
  executor.advance(10s);
  EXPECT_FALSE(out.has_value());
}

TEST_F(ConditionTest, OnMetRunsOnceOnTheExecutor) {
  int runs = 0;
  Subscription sub = cond.on_met([&] { ++runs; });
  EXPECT_TRUE(sub.active());
  executor.run_posted();
  EXPECT_EQ(runs, 0);
  set(3);
  EXPECT_EQ(runs, 0);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
  set(4);
  executor.run_posted();
  set(1);
  set(5);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(ConditionTest, OnMetWhenAlreadyMetRunsOnTheExecutorNotInline) {
  value = 3;
  int runs = 0;
  Subscription sub = cond.on_met([&] { ++runs; });
  EXPECT_EQ(runs, 0);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(executor.pending_timers(), 0u);  // no timeout: no timer
}

TEST_F(ConditionTest, DroppingTheSubscriptionCancelsOnMet) {
  int runs = 0;
  {
    Subscription sub = cond.on_met([&] { ++runs; });
    executor.run_posted();
  }
  set(3);
  executor.run_posted();
  EXPECT_EQ(runs, 0);
}

TEST_F(ConditionTest, DroppingTheSubscriptionBeforeTheFirstCheckCancels) {
  value = 3;
  int runs = 0;
  Subscription sub = cond.on_met([&] { ++runs; });
  sub.reset();
  executor.run_posted();  // the posted first check finds the subscription gone
  EXPECT_EQ(runs, 0);
}

TEST_F(ConditionTest, OnMetWithinReportsTimeoutOnce) {
  std::vector<bool> calls;
  Subscription sub = cond.on_met_within(2s, [&](bool met) { calls.push_back(met); });
  executor.advance(2s);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0]);
  set(3);
  executor.run_posted();
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(ConditionTest, OnMetWithinReportsMetOnceAndCancelsTheTimer) {
  std::vector<bool> calls;
  Subscription sub = cond.on_met_within(2s, [&](bool met) { calls.push_back(met); });
  const env::TimerId timer{executor.first_timer_id()};
  set(3);
  executor.run_posted();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0]);
  // The timer is cancelled at the latest when the subscription goes.
  sub.reset();
  EXPECT_TRUE(executor.was_cancelled(timer));
  EXPECT_EQ(executor.pending_timers(), 0u);
  executor.advance(5s);
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(ConditionTest, DroppingAnOnMetWithinSubscriptionCancelsItsTimer) {
  int calls = 0;
  Subscription sub = cond.on_met_within(2s, [&](bool) { ++calls; });
  const env::TimerId timer{executor.first_timer_id()};
  ASSERT_NE(timer.value, 0u);
  sub.reset();
  EXPECT_TRUE(executor.was_cancelled(timer));
  EXPECT_EQ(executor.pending_timers(), 0u);
  executor.advance(5s);
  EXPECT_EQ(calls, 0);
}

TEST_F(ConditionTest, ACallbackMayDropItsOwnSubscription) {
  int runs = 0;
  Subscription sub;
  sub = cond.on_met([&] {
    ++runs;
    sub.reset();
  });
  set(3);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(sub.active());
  set(4);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(ConditionTest, CopiesShareTheSignalAndPredicate) {
  Condition copy = cond;
  bool done = false;
  scope.spawn(await_condition(copy, &done));
  executor.run_posted();
  set(3);
  executor.run_posted();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace smalti
