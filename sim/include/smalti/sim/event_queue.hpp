// EventQueue: the simulator's single queue of pending work, in virtual time.
//
// Events run in order of (time, sequence number): simultaneous events run in the order they were
// scheduled, so a run is a pure function of the seed. An event belongs to a host (or to the
// world) and to that host's incarnation; the World drops events of a crashed incarnation.
// Cancelled events are skipped when they reach the front. Single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_set>
#include <vector>

#include "smalti/base/time.hpp"

namespace smalti::sim {

using HostId = std::uint32_t;
inline constexpr HostId kWorldHost = UINT32_MAX;

enum class EventKind : std::uint8_t { kPost, kTimer, kNetwork, kFault, kWorld };

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
  // Returns the event's sequence number, which cancel() takes.
  std::uint64_t push(Instant at, HostId host, std::uint32_t incarnation, EventKind kind,
                     std::function<void()> fn, Instant local_deadline = Instant());
  // Re-queues an event that was deferred (a paused host), keeping its identity.
  void push_existing(Event event);
  // Requires that `seq` is still queued (callers track which of their events are pending).
  void cancel(std::uint64_t seq);
  // Moves the next live event into `out`; false when none is left.
  bool pop(Event& out);
  bool empty() {
    drop_cancelled_front();
    return heap_.empty();
  }
  // Time of the next event that has not been cancelled; requires !empty().
  Instant next_time();
  std::size_t size() const { return heap_.size() - cancelled_.size(); }
  std::uint64_t scheduled_total() const { return next_seq_ - 1; }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  void drop_cancelled_front();

  std::priority_queue<Event, std::vector<Event>, Later> heap_;
  // Looked up only, never iterated: order does not leak into the run.
  std::unordered_set<std::uint64_t> cancelled_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace smalti::sim
