#include "smalti/sim/event_queue.hpp"

#include "smalti/base/assert.hpp"

namespace smalti::sim {

EventHandle EventQueue::push(Instant at, HostId host, std::uint32_t incarnation, EventKind kind,
                             std::function<void()> fn, Instant local_deadline) {
  const std::uint64_t seq = next_seq_++;
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Slot& s = slots_[slot];
  s.event = Event{at, seq, host, incarnation, kind, std::move(fn), local_deadline};
  s.occupied = true;
  s.cancelled = false;
  push_key(slot, seq);
  return EventHandle{seq, slot};
}

void EventQueue::push_key(std::uint32_t slot, std::uint64_t order) {
  Slot& s = slots_[slot];
  s.in_heap = true;
  s.order = order;
  heap_.push_back(Key{s.event.at.nanos(), order, slot});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

void EventQueue::cancel(EventHandle handle) {
  if (handle.slot >= slots_.size()) return;
  Slot& s = slots_[handle.slot];
  // A slot reused by a later event has another sequence number: the old event already ran.
  if (!s.occupied || s.cancelled || s.event.seq != handle.seq) return;
  s.cancelled = true;
  s.event.fn = nullptr;  // release what the cancelled event captured now
  if (s.in_heap) ++dead_keys_;
}

void EventQueue::release(std::uint32_t slot) {
  Slot& s = slots_[slot];
  SMALTI_ASSERT(s.occupied && !s.in_heap);
  s.occupied = false;
  s.event.fn = nullptr;
  free_slots_.push_back(slot);
}

void EventQueue::requeue(std::uint32_t slot, Instant at) {
  Slot& s = slots_[slot];
  SMALTI_ASSERT(s.occupied && !s.in_heap);
  if (s.cancelled) {
    release(slot);
    return;
  }
  s.event.at = at;
  push_key(slot, next_seq_++);
}

void EventQueue::reschedule(std::uint32_t slot, Instant at) {
  Slot& s = slots_[slot];
  SMALTI_ASSERT(s.occupied && s.in_heap && !s.cancelled);
  ++dead_keys_;  // the old key: its order no longer matches the slot's
  s.event.at = at;
  push_key(slot, next_seq_++);
}

std::vector<std::uint32_t> EventQueue::queued_slots(HostId host, EventKind kind) const {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> found;
  for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    if (s.occupied && s.in_heap && !s.cancelled && s.event.host == host && s.event.kind == kind) {
      found.emplace_back(s.order, slot);
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::uint32_t> out;
  out.reserve(found.size());
  for (const auto& [order, slot] : found) out.push_back(slot);
  return out;
}

void EventQueue::drop_dead_front() {
  while (dead_keys_ > 0 && !heap_.empty() && !is_live(heap_.front())) {
    const Key key = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
    --dead_keys_;
    Slot& s = slots_[key.slot];
    // The slot's current key (not a stale one) of a cancelled event: free the slot.
    if (s.in_heap && s.order == key.order) {
      s.in_heap = false;
      release(key.slot);
    }
  }
}

bool EventQueue::take_next(std::uint32_t& slot) {
  drop_dead_front();
  if (heap_.empty()) return false;
  slot = heap_.front().slot;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  heap_.pop_back();
  slots_[slot].in_heap = false;
  return true;
}

Instant EventQueue::next_time() {
  drop_dead_front();
  SMALTI_ASSERT(!heap_.empty());
  return Instant::from_nanos(heap_.front().at);
}

}  // namespace smalti::sim
