#include "smalti/sim/event_queue.hpp"

#include "smalti/base/assert.hpp"

namespace smalti::sim {

std::uint64_t EventQueue::push(Instant at, HostId host, std::uint32_t incarnation, EventKind kind,
                               std::function<void()> fn, Instant local_deadline) {
  const std::uint64_t seq = next_seq_++;
  heap_.push(Event{at, seq, host, incarnation, kind, std::move(fn), local_deadline});
  return seq;
}

void EventQueue::push_existing(Event event) { heap_.push(std::move(event)); }

void EventQueue::cancel(std::uint64_t seq) {
  if (seq == 0 || seq >= next_seq_) return;
  cancelled_.insert(seq);
}

void EventQueue::drop_cancelled_front() {
  while (!heap_.empty()) {
    auto it = cancelled_.find(heap_.top().seq);
    if (it == cancelled_.end()) return;
    cancelled_.erase(it);
    heap_.pop();
  }
}

bool EventQueue::pop(Event& out) {
  drop_cancelled_front();
  if (heap_.empty()) return false;
  // priority_queue::top() is const; the event is moved out just before it is popped.
  out = std::move(const_cast<Event&>(heap_.top()));
  heap_.pop();
  return true;
}

Instant EventQueue::next_time() {
  drop_cancelled_front();
  SMALTI_ASSERT(!heap_.empty());
  return heap_.top().at;
}

}  // namespace smalti::sim
