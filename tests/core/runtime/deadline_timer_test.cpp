// DeadlineTimer (runtime/detail/effect_loop.hpp): one executor timer at a machine's moving
// deadline. A deadline moved later keeps the timer (no cancel, no schedule); it fires at the old
// instant, waits on quietly, and on_due runs once, at the deadline asked for.
#include <gtest/gtest.h>

#include "core/runtime/fake_executor.hpp"
#include "smalti/runtime/detail/effect_loop.hpp"

namespace smalti {
namespace {

using namespace std::chrono_literals;
using test_support::FakeClock;
using test_support::FakeExecutor;

struct DeadlineTimerTest : ::testing::Test {
  FakeClock clock;
  FakeExecutor executor{clock};
  std::vector<Instant> fired;
  DeadlineTimer timer{executor, [this] { fired.push_back(clock.monotonic()); }};
  const Instant start = clock.monotonic();
  Instant at(Duration d) const { return start + d; }
};

TEST_F(DeadlineTimerTest, ADeadlineMovedLaterKeepsTheTimerAndFiresOnceWhenDue) {
  timer.arm(at(10ms));
  for (int i = 1; i <= 100; ++i) timer.arm(at(10ms + i * 1ms));  // pushed back by each input
  EXPECT_EQ(executor.pending_timers(), 1u);
  EXPECT_TRUE(executor.cancelled().empty()) << "a later deadline cancelled the timer";
  EXPECT_EQ(timer.armed_at(), at(110ms));
  executor.advance_to(at(109ms));
  EXPECT_TRUE(fired.empty()) << "ran before its deadline";
  executor.advance_to(at(200ms));
  EXPECT_EQ(fired, (std::vector<Instant>{at(110ms)}));
  EXPECT_EQ(timer.armed_at(), Instant::max());
}

TEST_F(DeadlineTimerTest, AnEarlierDeadlineReschedulesAndDisarmingCancels) {
  timer.arm(at(50ms));
  timer.arm(at(20ms));
  EXPECT_EQ(executor.cancelled().size(), 1u);
  executor.advance_to(at(30ms));
  EXPECT_EQ(fired, (std::vector<Instant>{at(20ms)}));
  timer.arm(at(40ms));
  timer.arm(Instant::max());  // disarmed
  executor.advance_to(at(100ms));
  EXPECT_EQ(fired.size(), 1u) << "ran after it was disarmed";
  EXPECT_EQ(executor.pending_timers(), 0u);
}

}  // namespace
}  // namespace smalti
