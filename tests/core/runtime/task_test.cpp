// Tests for Task<T>, TaskScope and SleepUntil on a fake, hand-driven executor.
#include "smalti/runtime/task.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "core/runtime/fake_executor.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/task_scope.hpp"

namespace smalti {
namespace {

using test_support::FakeClock;
using test_support::FakeExecutor;
using test_support::Probe;

// ---- Task<T> ------------------------------------------------------------------------------

Task<int> leaf(int x) {
  co_return x * 2;
}

Task<int> middle(int x) {
  const int a = co_await leaf(x);
  co_return a + 1;
}

Task<std::string> top(int x) {
  const int m = co_await middle(x);
  co_return "value " + std::to_string(m);
}

Task<void> run_top(int x, std::string* out) {
  *out = co_await top(x);
}

Task<std::unique_ptr<int>> make_owned(int x) {
  co_return std::make_unique<int>(x);
}

Task<void> take_owned(int x, int* out) {
  std::unique_ptr<int> p = co_await make_owned(x);
  *out = *p;
}

Task<void> set_flag(bool* flag) {
  *flag = true;
  co_return;
}

Task<void> void_chain(int* steps, bool* inner_ran) {
  ++*steps;
  co_await set_flag(inner_ran);
  ++*steps;
}

Task<int> sleepy_leaf(env::Executor& ex, Instant at, int x) {
  co_await SleepUntil(ex, at);
  co_return x + 100;
}

Task<int> sleepy_middle(env::Executor& ex, Instant at, int x) {
  co_return co_await sleepy_leaf(ex, at, x) * 2;
}

Task<void> sleepy_top(env::Executor& ex, Instant at, int x, int* out) {
  *out = co_await sleepy_middle(ex, at, x);
}

Task<void> many_sync_awaits(int n, long long* sum) {
  for (int i = 0; i < n; ++i) *sum += co_await leaf(i);
}

Task<void> with_probe(Probe probe, bool* ran) {
  (void)probe;
  *ran = true;
  co_return;
}

Task<void> sleep_with_probe(env::Executor& ex, Instant at, int* alive, bool* finished) {
  Probe local(alive);
  co_await SleepUntil(ex, at);
  *finished = true;
}

struct RuntimeFixture : ::testing::Test {
  FakeClock clock;
  FakeExecutor executor{clock};
  Instant now() const { return clock.monotonic(); }
};

using TaskTest = RuntimeFixture;

TEST_F(TaskTest, ValuePassesThroughThreeLevelsOfNesting) {
  TaskScope scope(executor);
  std::string out;
  scope.spawn(run_top(5, &out));
  executor.run_posted();
  EXPECT_EQ(out, "value 11");
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(TaskTest, MoveOnlyValue) {
  TaskScope scope(executor);
  int out = 0;
  scope.spawn(take_owned(42, &out));
  executor.run_posted();
  EXPECT_EQ(out, 42);
}

TEST_F(TaskTest, VoidTaskAwaitsVoidTask) {
  TaskScope scope(executor);
  int steps = 0;
  bool inner_ran = false;
  scope.spawn(void_chain(&steps, &inner_ran));
  EXPECT_EQ(steps, 0);
  executor.run_posted();
  EXPECT_EQ(steps, 2);
  EXPECT_TRUE(inner_ran);
}

TEST_F(TaskTest, IsLazyAndDestroyingAnUnstartedTaskFreesItsFrame) {
  int alive = 0;
  bool ran = false;
  {
    Task<void> t = with_probe(Probe(&alive), &ran);
    EXPECT_EQ(alive, 1);  // the parameter copy lives in the frame
    EXPECT_FALSE(ran);
  }
  EXPECT_EQ(alive, 0);
  EXPECT_FALSE(ran);
}

TEST_F(TaskTest, NestedTasksResumeThroughASuspendedLeaf) {
  TaskScope scope(executor);
  int out = 0;
  scope.spawn(sleepy_top(executor, now() + 10ms, 1, &out));
  executor.run_posted();
  EXPECT_EQ(out, 0);
  EXPECT_EQ(executor.pending_timers(), 1u);
  executor.advance(9ms);
  EXPECT_EQ(out, 0);
  executor.advance(1ms);
  EXPECT_EQ(out, 202);
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(TaskTest, ALoopOfSynchronousAwaitsCompletes) {
  TaskScope scope(executor);
  long long sum = 0;
  scope.spawn(many_sync_awaits(10'000, &sum));
  executor.run_posted();
  EXPECT_EQ(sum, 10'000LL * 9'999LL);
}

// Regression test for a fixed bug (core/include/smalti/runtime/task.hpp:80-83 and 31-39): Task
// relies on symmetric transfer (await_suspend returning the child's handle, FinalAwaiter returning
// the continuation) being compiled as a tail call. GCC 12 does not do that at -O0, i.e. in the
// Debug + SMALTI_SANITIZE configuration: every await of a task that completes without suspending
// nests two more stack frames, so a loop of ~50,000 such awaits overflows the stack under ASan
// (~100,000 without). Passes in RelWithDebInfo; fails (stack-overflow) in build types without
// optimisation.
TEST_F(TaskTest, ManySynchronousAwaitsDoNotGrowTheStack) {
  TaskScope scope(executor);
  long long sum = 0;
  scope.spawn(many_sync_awaits(1'000'000, &sum));
  executor.run_posted();
  EXPECT_EQ(sum, 1'000'000LL * 999'999LL);
}

Task<void> throws_exception() {
  throw std::runtime_error("boom");
  co_return;
}

TEST(TaskDeathTest, AnEscapingExceptionAborts) {
  EXPECT_DEATH(
      {
        FakeClock clock;
        FakeExecutor executor(clock);
        TaskScope scope(executor);
        scope.spawn(throws_exception());
        executor.run_posted();
      },
      "an exception escaped a smalti::Task");
}

// ---- TaskScope ----------------------------------------------------------------------------

using TaskScopeTest = RuntimeFixture;

TEST_F(TaskScopeTest, SpawnStartsOnTheExecutorNotInline) {
  TaskScope scope(executor);
  bool ran = false;
  scope.spawn(set_flag(&ran));
  EXPECT_FALSE(ran);
  EXPECT_EQ(scope.size(), 1u);
  EXPECT_EQ(executor.pending_posts(), 1u);
  executor.run_posted();
  EXPECT_TRUE(ran);
}

TEST_F(TaskScopeTest, AFinishedTaskFreesItself) {
  TaskScope scope(executor);
  int alive = 0;
  bool ran = false;
  bool finished = false;
  scope.spawn(with_probe(Probe(&alive), &ran));
  scope.spawn(sleep_with_probe(executor, now() + 1s, &alive, &finished));
  EXPECT_EQ(scope.size(), 2u);
  executor.run_posted();
  EXPECT_TRUE(ran);
  EXPECT_EQ(scope.size(), 1u);  // the first finished, the second sleeps
  EXPECT_EQ(alive, 1);          // only the sleeper's local is left
  executor.advance(1s);
  EXPECT_TRUE(finished);
  EXPECT_EQ(scope.size(), 0u);
  EXPECT_EQ(alive, 0);
}

TEST_F(TaskScopeTest, CancelAllDestroysSuspendedTasksAndCancelsTheirTimers) {
  TaskScope scope(executor);
  int alive = 0;
  bool finished = false;
  scope.spawn(sleep_with_probe(executor, now() + 1h, &alive, &finished));
  scope.spawn(sleep_with_probe(executor, now() + 2h, &alive, &finished));
  executor.run_posted();
  ASSERT_EQ(alive, 2);
  ASSERT_EQ(executor.pending_timers(), 2u);
  scope.cancel_all();
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(scope.size(), 0u);
  EXPECT_EQ(executor.pending_timers(), 0u);
  EXPECT_TRUE(executor.was_cancelled(env::TimerId{1}));
  EXPECT_TRUE(executor.was_cancelled(env::TimerId{2}));
  executor.advance(3h);
  EXPECT_FALSE(finished);
}

TEST_F(TaskScopeTest, DestroyingTheScopeDestroysSuspendedTasks) {
  int alive = 0;
  bool finished = false;
  {
    TaskScope scope(executor);
    scope.spawn(sleep_with_probe(executor, now() + 1s, &alive, &finished));
    executor.run_posted();
    ASSERT_EQ(alive, 1);
  }
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(executor.pending_timers(), 0u);
  EXPECT_EQ(executor.cancelled().size(), 1u);
  executor.advance(2s);
  EXPECT_FALSE(finished);
}

TEST_F(TaskScopeTest, CancelBeforeStartNeverRunsTheTask) {
  TaskScope scope(executor);
  int alive = 0;
  bool ran = false;
  scope.spawn(with_probe(Probe(&alive), &ran));
  EXPECT_EQ(alive, 1);
  scope.cancel_all();
  EXPECT_EQ(alive, 0);
  executor.run_posted();  // the posted start finds nothing
  EXPECT_FALSE(ran);
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(TaskScopeTest, ScopeDestroyedBeforeStartIsHarmless) {
  int alive = 0;
  bool ran = false;
  {
    TaskScope scope(executor);
    scope.spawn(with_probe(Probe(&alive), &ran));
  }
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(executor.run_posted(), 1u);
  EXPECT_FALSE(ran);
}

TEST_F(TaskScopeTest, TasksSpawnedLaterStillRunAfterCancelAll) {
  TaskScope scope(executor);
  bool ran = false;
  scope.cancel_all();
  scope.spawn(set_flag(&ran));
  executor.run_posted();
  EXPECT_TRUE(ran);
}

// Spawns `respawn` into `scope` from its destructor, as cleanup code might.
struct SpawnOnDestroy {
  TaskScope* scope;
  int* alive;
  bool* ran;
  ~SpawnOnDestroy() { scope->spawn(with_probe(Probe(alive), ran)); }
};

Task<void> sleep_then_respawn(env::Executor& ex, Instant at, TaskScope* scope, int* alive,
                              bool* ran) {
  SpawnOnDestroy guard{scope, alive, ran};
  co_await SleepUntil(ex, at);
}

// Regression test for a fixed bug (core/src/runtime/task_scope.cpp, TaskScope::~TaskScope /
// cancel_all): a task spawned while the scope is being destroyed (from a destructor of a cancelled
// task's local) is added to tasks_ after cancel_all() took the set; its posted start is dropped
// (alive_ is null) and tasks_ is then destroyed without destroying the frame, so the frame and its
// locals leak.
TEST_F(TaskScopeTest, TaskSpawnedDuringScopeDestructionIsNotLeaked) {
  int alive = 0;
  bool ran = false;
  {
    TaskScope scope(executor);
    scope.spawn(sleep_then_respawn(executor, now() + 1s, &scope, &alive, &ran));
    executor.run_posted();
  }
  executor.run_posted();
  EXPECT_FALSE(ran);
  EXPECT_EQ(alive, 0) << "the frame of a task spawned during ~TaskScope was never destroyed";
}

// ---- SleepUntil ---------------------------------------------------------------------------

using TaskSleepUntilTest = RuntimeFixture;

TEST_F(TaskSleepUntilTest, ResumesAtTheDeadlineNotBefore) {
  TaskScope scope(executor);
  int alive = 0;
  bool finished = false;
  scope.spawn(sleep_with_probe(executor, now() + 50ms, &alive, &finished));
  executor.run_posted();
  EXPECT_EQ(executor.first_timer_at(), now() + 50ms);
  executor.advance(49ms);
  EXPECT_FALSE(finished);
  executor.advance(1ms);
  EXPECT_TRUE(finished);
  EXPECT_TRUE(executor.cancelled().empty());  // a fired timer is not cancelled again
}

TEST_F(TaskSleepUntilTest, ADeadlineInThePastStillGoesThroughTheExecutor) {
  TaskScope scope(executor);
  int alive = 0;
  bool finished = false;
  scope.spawn(sleep_with_probe(executor, now() - 1s, &alive, &finished));
  executor.run_posted();
  EXPECT_FALSE(finished);
  executor.advance(Duration::zero());
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace smalti
