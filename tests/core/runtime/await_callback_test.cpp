// Tests for await_callback: turning a callback-style operation into an awaitable.
#include "smalti/runtime/await_callback.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>

#include "core/runtime/fake_executor.hpp"
#include "smalti/runtime/task_scope.hpp"

namespace smalti {
namespace {

using test_support::FakeClock;
using test_support::FakeExecutor;
using test_support::Probe;

using IntCallback = std::function<void(int)>;
using ProbeCallback = std::function<void(std::unique_ptr<Probe>)>;

// Awaits an operation whose callback the test keeps in `saved`.
Task<void> await_saved(IntCallback* saved, std::optional<int>* out, int* resumes) {
  const int v =
      co_await await_callback<int>([saved](IntCallback done) { *saved = std::move(done); });
  ++*resumes;
  *out = v;
}

// Awaits an operation that calls back before returning.
Task<void> await_inline(int value, std::optional<int>* out) {
  *out = co_await await_callback<int>([value](IntCallback done) { done(value); });
}

Task<void> await_probe(ProbeCallback* saved, int* local_alive, bool* resumed) {
  Probe local(local_alive);
  std::unique_ptr<Probe> p = co_await await_callback<std::unique_ptr<Probe>>(
      [saved](ProbeCallback done) { *saved = std::move(done); });
  *resumed = p != nullptr;
}

Task<void> await_twice(IntCallback* saved, int* sum) {
  *sum += co_await await_callback<int>([saved](IntCallback done) { *saved = std::move(done); });
  *sum += co_await await_callback<int>([saved](IntCallback done) { *saved = std::move(done); });
}

struct AwaitCallbackTest : ::testing::Test {
  FakeClock clock;
  FakeExecutor executor{clock};
  TaskScope scope{executor};
};

TEST_F(AwaitCallbackTest, DeliversALaterResult) {
  IntCallback saved;
  std::optional<int> out;
  int resumes = 0;
  scope.spawn(await_saved(&saved, &out, &resumes));
  executor.run_posted();
  ASSERT_TRUE(saved);
  EXPECT_FALSE(out.has_value());
  EXPECT_EQ(scope.size(), 1u);
  saved(42);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, 42);
  EXPECT_EQ(resumes, 1);
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(AwaitCallbackTest, AnInlineCallbackDoesNotSuspend) {
  std::optional<int> out;
  scope.spawn(await_inline(7, &out));
  executor.run_posted();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, 7);
  EXPECT_EQ(executor.total_posts(), 1u);  // just the start-up
  EXPECT_EQ(scope.size(), 0u);
}

TEST_F(AwaitCallbackTest, ASecondCallIsIgnored) {
  IntCallback saved;
  std::optional<int> out;
  int resumes = 0;
  scope.spawn(await_saved(&saved, &out, &resumes));
  executor.run_posted();
  IntCallback copy = saved;
  saved(1);
  copy(2);
  EXPECT_EQ(*out, 1);
  EXPECT_EQ(resumes, 1);
}

TEST_F(AwaitCallbackTest, ALateCallbackAfterTheTaskWasDestroyedIsDropped) {
  ProbeCallback saved;
  int local_alive = 0;
  int result_alive = 0;
  bool resumed = false;
  scope.spawn(await_probe(&saved, &local_alive, &resumed));
  executor.run_posted();
  ASSERT_TRUE(saved);
  ASSERT_EQ(local_alive, 1);
  scope.cancel_all();
  EXPECT_EQ(local_alive, 0);
  saved(std::make_unique<Probe>(&result_alive));  // must not touch the destroyed frame
  EXPECT_FALSE(resumed);
  EXPECT_EQ(result_alive, 0);  // the late result was destroyed, not kept
  EXPECT_EQ(executor.run_posted(), 0u);
}

TEST_F(AwaitCallbackTest, MoveOnlyResultIsDelivered) {
  ProbeCallback saved;
  int local_alive = 0;
  int result_alive = 0;
  bool resumed = false;
  scope.spawn(await_probe(&saved, &local_alive, &resumed));
  executor.run_posted();
  saved(std::make_unique<Probe>(&result_alive));
  EXPECT_TRUE(resumed);
  EXPECT_EQ(result_alive, 0);  // the task finished and destroyed it
  EXPECT_EQ(local_alive, 0);
}

TEST_F(AwaitCallbackTest, ConsecutiveAwaitsInOneTaskAreIndependent) {
  IntCallback saved;
  int sum = 0;
  scope.spawn(await_twice(&saved, &sum));
  executor.run_posted();
  IntCallback first = saved;
  first(10);
  EXPECT_EQ(sum, 10);
  ASSERT_TRUE(saved);
  first(1000);  // a stale callback of the first await must not resume the second
  EXPECT_EQ(sum, 10);
  EXPECT_EQ(scope.size(), 1u);
  saved(5);
  EXPECT_EQ(sum, 15);
  EXPECT_EQ(scope.size(), 0u);
}

}  // namespace
}  // namespace smalti
