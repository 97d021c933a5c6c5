// Discovery events and the bounded log that fans them out to subscribers.
//
// EventLog keeps the last `capacity` events, numbered from 0. A subscriber holds a cursor (the
// number of the next event it wants); read() hands out events in order, and a subscriber whose
// cursor fell out of the backlog gets one Lagged{missed} and continues with the oldest event
// still held, as a bounded broadcast channel does. Pure data; not synchronised.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <variant>

#include "smalti/discovery/peer_entry.hpp"

namespace smalti::discovery {

struct PeerDiscovered {
  PeerEntry entry;
};
struct PeerUpdated {
  PeerEntry entry;
};
struct PeerDeparted {
  PeerId peer;
};
using Event = std::variant<PeerDiscovered, PeerUpdated, PeerDeparted>;

struct Lagged {
  std::uint64_t missed = 0;
};
using EventOrLag = std::variant<Event, Lagged>;

class EventLog {
 public:
  explicit EventLog(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  void push(Event event) {
    events_.push_back(std::move(event));
    if (events_.size() > capacity_) {
      events_.pop_front();
      ++first_;
    }
  }
  // The number the next pushed event gets: a new subscriber's cursor.
  std::uint64_t end() const { return first_ + events_.size(); }
  // The next event for `cursor` (advanced past it), Lagged when it fell behind, or nothing.
  std::optional<EventOrLag> read(std::uint64_t& cursor) const {
    if (cursor < first_) {
      const std::uint64_t missed = first_ - cursor;
      cursor = first_;
      return EventOrLag{Lagged{missed}};
    }
    if (cursor >= end()) return std::nullopt;
    return EventOrLag{events_[cursor++ - first_]};
  }

 private:
  std::size_t capacity_;
  std::deque<Event> events_;
  std::uint64_t first_ = 0;
};

}  // namespace smalti::discovery
