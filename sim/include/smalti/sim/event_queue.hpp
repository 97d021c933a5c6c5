// EventQueue: the simulator's single queue of pending work, in virtual time.
//
// Events run in order of (time, order): simultaneous events run in the order they were
// scheduled, so a run is a pure function of the seed. An event belongs to a host (or to the
// world) and to that host's incarnation; the World drops events of a crashed incarnation.
// Cancelled events are skipped when they reach the front; cancelling an event that already ran
// (or was cancelled) does nothing. Single-threaded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "smalti/base/time.hpp"

namespace smalti::sim {

using HostId = std::uint32_t;
inline constexpr HostId kWorldHost = UINT32_MAX;

enum class EventKind : std::uint8_t { kPost, kTimer, kNetwork, kFault, kWorld };

// Names a queued event: its sequence number and where it sits, so it can be cancelled in O(1).
struct EventHandle {
  std::uint64_t seq = 0;
  std::uint32_t slot = 0;
};

struct Event {
  Instant at;
  std::uint64_t seq = 0;
  HostId host = kWorldHost;
  std::uint32_t incarnation = 0;
  EventKind kind = EventKind::kWorld;
  std::function<void()> fn;
  Instant local_deadline;  // timers: the node-clock instant they wait for
};

class EventQueue {
 public:
  EventHandle push(Instant at, HostId host, std::uint32_t incarnation, EventKind kind,
                   std::function<void()> fn, Instant local_deadline = Instant());
  void cancel(EventHandle handle);
  // Takes the next live event off the queue and returns its slot; false when none is left. The
  // event stays in its slot, reachable with event(), until release() or requeue(), so a handle
  // to a held event (a paused host's timer) still cancels it.
  bool take_next(std::uint32_t& slot);
  Event& event(std::uint32_t slot) { return slots_[slot].event; }
  bool is_cancelled(std::uint32_t slot) const { return slots_[slot].cancelled; }
  void release(std::uint32_t slot);
  // Puts a taken event back at `at`, after everything already queued for `at`, under the same
  // handle (a cancelled one is released instead).
  void requeue(std::uint32_t slot, Instant at);
  // Moves a queued event to `at`, after everything already queued for `at` (rescheduling
  // several events in their run order keeps that order among them).
  void reschedule(std::uint32_t slot, Instant at);
  // Slots of the queued (not held, not cancelled) events of `host` and `kind`, in run order.
  std::vector<std::uint32_t> queued_slots(HostId host, EventKind kind) const;
  bool empty() {
    drop_dead_front();
    return heap_.empty();
  }
  // Time of the next event that has not been cancelled; requires !empty().
  Instant next_time();
  std::size_t size() const { return heap_.size() - dead_keys_; }

 private:
  // The heap orders small keys; the events themselves stay put in `slots_` (moving a
  // std::function through every heap level was the kernel's main cost).
  // `order` breaks ties between equal times: the sequence number when pushed, a fresh number
  // when re-queued. A key whose order is no longer its slot's is dead (lazily deleted).
  struct Key {
    std::int64_t at;
    std::uint64_t order;
    std::uint32_t slot;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const {
      return a.at != b.at ? a.at > b.at : a.order > b.order;
    }
  };
  struct Slot {
    Event event;
    std::uint64_t order = 0;
    bool occupied = false;
    bool cancelled = false;
    bool in_heap = false;
  };
  bool is_live(const Key& key) const {
    const Slot& s = slots_[key.slot];
    return s.in_heap && !s.cancelled && s.order == key.order;
  }
  void push_key(std::uint32_t slot, std::uint64_t order);
  void drop_dead_front();

  std::vector<Key> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t dead_keys_ = 0;  // keys in heap_ that no longer name a live event
  std::uint64_t next_seq_ = 1;
};

}  // namespace smalti::sim
