// Tests for Signal and Subscription on a fake, hand-driven executor.
#include "smalti/runtime/signal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "core/runtime/fake_executor.hpp"

namespace smalti {
namespace {

using test_support::FakeClock;
using test_support::FakeExecutor;

struct SignalTest : ::testing::Test {
  FakeClock clock;
  FakeExecutor executor{clock};
};

TEST_F(SignalTest, SubscribersRunOnTheExecutorNotInline) {
  Signal signal(executor);
  int runs = 0;
  Subscription sub = signal.subscribe([&] { ++runs; });
  signal.notify();
  EXPECT_EQ(runs, 0);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(SignalTest, SeveralNotifiesCoalesceIntoOneRun) {
  Signal signal(executor);
  int runs = 0;
  Subscription sub = signal.subscribe([&] { ++runs; });
  signal.notify();
  signal.notify();
  signal.notify();
  EXPECT_EQ(executor.pending_posts(), 1u);
  executor.run_posted();
  EXPECT_EQ(runs, 1);
  // A notify after the run schedules a new one.
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 2);
}

// A change nobody listens to costs no executor turn (the group driver notifies on every append).
TEST_F(SignalTest, ANotifyWithoutSubscribersPostsNothing) {
  Signal signal(executor);
  signal.notify();
  EXPECT_EQ(executor.pending_posts(), 0u);
  int runs = 0;
  Subscription sub = signal.subscribe([&] { ++runs; });
  executor.run_posted();
  EXPECT_EQ(runs, 0) << "heard of a change from before it subscribed";
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(SignalTest, SubscribersRunInSubscriptionOrder) {
  Signal signal(executor);
  std::string order;
  Subscription a = signal.subscribe([&] { order += "a"; });
  Subscription b = signal.subscribe([&] { order += "b"; });
  Subscription c = signal.subscribe([&] { order += "c"; });
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(order, "abc");
}

TEST_F(SignalTest, NotifyFromASubscriberRunsAgainLaterNotReentrantly) {
  Signal signal(executor);
  int runs = 0;
  int depth = 0;
  int max_depth = 0;
  Subscription sub = signal.subscribe([&] {
    ++depth;
    max_depth = std::max(max_depth, depth);
    if (++runs < 3) signal.notify();
    --depth;
  });
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(max_depth, 1);
}

TEST_F(SignalTest, ASubscriberMayUnsubscribeAnotherDuringARun) {
  Signal signal(executor);
  int a_runs = 0;
  int b_runs = 0;
  Subscription b;
  Subscription a = signal.subscribe([&] {
    ++a_runs;
    b.reset();
  });
  b = signal.subscribe([&] { ++b_runs; });
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(a_runs, 1);
  EXPECT_EQ(b_runs, 0);
}

TEST_F(SignalTest, ASubscriberMayUnsubscribeItselfDuringARun) {
  Signal signal(executor);
  int runs = 0;
  std::optional<Subscription> self;
  self = signal.subscribe([&] {
    ++runs;
    self.reset();  // destroys the Subscription, and with it the registration
  });
  signal.notify();
  executor.run_posted();
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(SignalTest, ASubscriptionAddedDuringARunWaitsForTheNextNotify) {
  Signal signal(executor);
  int late_runs = 0;
  Subscription late;
  Subscription first = signal.subscribe([&] {
    if (!late.active()) late = signal.subscribe([&] { ++late_runs; });
  });
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(late_runs, 0);
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(late_runs, 1);
}

TEST_F(SignalTest, NotifyThenSignalDestroyedIsHarmless) {
  int runs = 0;
  Subscription sub;
  {
    Signal signal(executor);
    sub = signal.subscribe([&] { ++runs; });
    signal.notify();
  }
  EXPECT_EQ(executor.run_posted(), 1u);
  EXPECT_EQ(runs, 0);
}

// ---- Subscription -------------------------------------------------------------------------

using SignalSubscriptionTest = SignalTest;

TEST_F(SignalSubscriptionTest, DefaultIsInactive) {
  Subscription sub;
  EXPECT_FALSE(sub.active());
  sub.reset();
  EXPECT_FALSE(sub.active());
}

TEST_F(SignalSubscriptionTest, ResetUnsubscribesAndIsIdempotent) {
  Signal signal(executor);
  int runs = 0;
  Subscription sub = signal.subscribe([&] { ++runs; });
  EXPECT_TRUE(sub.active());
  sub.reset();
  EXPECT_FALSE(sub.active());
  sub.reset();
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 0);
}

TEST_F(SignalSubscriptionTest, DestructionUnsubscribes) {
  Signal signal(executor);
  int runs = 0;
  {
    Subscription sub = signal.subscribe([&] { ++runs; });
  }
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 0);
}

TEST_F(SignalSubscriptionTest, MoveConstructionTransfersTheRegistration) {
  Signal signal(executor);
  int runs = 0;
  Subscription a = signal.subscribe([&] { ++runs; });
  Subscription b(std::move(a));
  EXPECT_FALSE(a.active());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(b.active());
  a.reset();  // resetting the moved-from one must not unsubscribe b
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 1);
  b.reset();
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(SignalSubscriptionTest, MoveAssignmentReleasesTheOldRegistration) {
  Signal signal(executor);
  int a_runs = 0;
  int b_runs = 0;
  Subscription a = signal.subscribe([&] { ++a_runs; });
  Subscription b = signal.subscribe([&] { ++b_runs; });
  b = std::move(a);
  EXPECT_FALSE(a.active());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.active());
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(a_runs, 1);
  EXPECT_EQ(b_runs, 0);
}

TEST_F(SignalSubscriptionTest, SelfMoveAssignmentKeepsTheRegistration) {
  Signal signal(executor);
  int runs = 0;
  Subscription a = signal.subscribe([&] { ++runs; });
  Subscription& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(a.active());
  signal.notify();
  executor.run_posted();
  EXPECT_EQ(runs, 1);
}

TEST_F(SignalSubscriptionTest, OutlivingItsSignalIsHarmless) {
  int runs = 0;
  Subscription sub;
  Subscription moved_later;
  {
    Signal signal(executor);
    sub = signal.subscribe([&] { ++runs; });
    moved_later = signal.subscribe([&] { ++runs; });
    EXPECT_TRUE(sub.active());
  }
  EXPECT_FALSE(sub.active());
  sub.reset();
  Subscription other(std::move(moved_later));
  EXPECT_FALSE(other.active());
  EXPECT_EQ(runs, 0);
}

TEST_F(SignalSubscriptionTest, HoldingKeepsStateAliveUntilReset) {
  auto state = std::make_shared<int>(7);
  std::weak_ptr<int> weak = state;
  Subscription sub = Subscription::holding(std::move(state));
  EXPECT_TRUE(sub.active());
  EXPECT_FALSE(weak.expired());
  Subscription moved = std::move(sub);
  EXPECT_FALSE(weak.expired());
  EXPECT_TRUE(moved.active());
  moved.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_FALSE(moved.active());
}

}  // namespace
}  // namespace smalti
