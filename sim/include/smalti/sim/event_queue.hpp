// EventQueue: the simulator's single queue of pending work, in virtual time.
//
// Events run in order of (time, sequence number): simultaneous events run in the order they were
// scheduled, so a run is a pure function of the seed. An event belongs to a host (or to the
// world) and to that host's incarnation; the World drops events of a crashed incarnation.
// Cancelled events are skipped when they reach the front; cancelling an event that already ran
// (or was cancelled) does nothing. Single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <algorithm>
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
  // Puts a taken event back at `at`, under the same handle (a cancelled one is released).
  void requeue(std::uint32_t slot, Instant at);
  bool empty() {
    drop_cancelled_front();
    return heap_.empty();
  }
  // Time of the next event that has not been cancelled; requires !empty().
  Instant next_time();
  std::size_t size() const { return heap_.size() - cancelled_count_; }
  std::uint64_t scheduled_total() const { return next_seq_ - 1; }

 private:
  // The heap orders small keys; the events themselves stay put in `slots_` (moving a
  // std::function through every heap level was the kernel's main cost).
  struct Key {
    std::int64_t at;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct Slot {
    Event event;
    bool occupied = false;
    bool cancelled = false;
    bool in_heap = false;
  };
  void push_key(std::uint32_t slot);
  void drop_cancelled_front();

  std::vector<Key> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t cancelled_count_ = 0;
  std::uint64_t next_seq_ = 1;
};

}  // namespace smalti::sim
