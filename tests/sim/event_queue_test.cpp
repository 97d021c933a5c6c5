// EventQueue: ordering, cancellation through handles, and held (deferred) events.
#include "smalti/sim/event_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace smalti::sim {
namespace {

EventHandle push_at(EventQueue& q, Duration at, std::vector<int>* ran, int tag) {
  return q.push(Instant() + at, 0, 0, EventKind::kPost, [ran, tag] { ran->push_back(tag); });
}

void drain(EventQueue& q) {
  std::uint32_t slot = 0;
  while (q.take_next(slot)) {
    auto fn = std::move(q.event(slot).fn);
    q.release(slot);
    fn();
  }
}

TEST(EventQueue, RunsByTimeThenBySchedulingOrder) {
  EventQueue q;
  std::vector<int> ran;
  push_at(q, 2ms, &ran, 3);
  push_at(q, 1ms, &ran, 1);
  push_at(q, 1ms, &ran, 2);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.next_time(), Instant() + 1ms);
  drain(q);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, CancelledEventsNeverRunAndCancellingTwiceIsHarmless) {
  EventQueue q;
  std::vector<int> ran;
  const EventHandle a = push_at(q, 1ms, &ran, 1);
  push_at(q, 2ms, &ran, 2);
  q.cancel(a);
  q.cancel(a);
  EXPECT_EQ(q.size(), 1u);
  drain(q);
  EXPECT_EQ(ran, (std::vector<int>{2}));
}

TEST(EventQueue, StaleHandleDoesNotCancelTheSlotsNextEvent) {
  EventQueue q;
  std::vector<int> ran;
  const EventHandle first = push_at(q, 1ms, &ran, 1);
  drain(q);  // `first` ran and its slot is free
  const EventHandle second = push_at(q, 2ms, &ran, 2);
  ASSERT_EQ(second.slot, first.slot) << "the test needs the slot to be reused";
  q.cancel(first);  // stale: must not touch the new occupant
  drain(q);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST(EventQueue, HeldEventStaysCancellableAndRequeuesUnderTheSameHandle) {
  EventQueue q;
  std::vector<int> ran;
  const EventHandle held = push_at(q, 1ms, &ran, 1);
  const EventHandle kept = push_at(q, 1ms, &ran, 2);
  std::uint32_t slot_a = 0, slot_b = 0;
  ASSERT_TRUE(q.take_next(slot_a));  // a paused host holds both
  ASSERT_TRUE(q.take_next(slot_b));
  EXPECT_TRUE(q.empty());
  q.cancel(held);  // cancelled while held
  EXPECT_TRUE(q.is_cancelled(slot_a));
  q.requeue(slot_a, Instant() + 5ms);  // released, not re-queued
  q.requeue(slot_b, Instant() + 5ms);
  EXPECT_EQ(q.size(), 1u);
  q.cancel(kept);  // the re-queued event answers to its original handle
  EXPECT_EQ(q.size(), 0u);
  drain(q);
  EXPECT_TRUE(ran.empty());
}

}  // namespace
}  // namespace smalti::sim

namespace smalti::sim {
namespace {

// Regression: a rescheduled event's old key stayed live, so it also ran at its old time (and
// the world saw an event in its past).
TEST(EventQueue, RescheduledEventRunsOnceAtItsNewTime) {
  EventQueue q;
  std::vector<int> ran;
  push_at(q, 5ms, &ran, 1);
  const EventHandle moved = push_at(q, 10ms, &ran, 2);
  q.reschedule(moved.slot, Instant() + 1ms);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.next_time(), Instant() + 1ms);
  std::vector<Instant> times;
  std::uint32_t slot = 0;
  while (q.take_next(slot)) {
    times.push_back(q.event(slot).at);
    auto fn = std::move(q.event(slot).fn);
    q.release(slot);
    fn();
  }
  EXPECT_EQ(ran, (std::vector<int>{2, 1}));
  EXPECT_EQ(times, (std::vector<Instant>{Instant() + 1ms, Instant() + 5ms}));
}

}  // namespace
}  // namespace smalti::sim
