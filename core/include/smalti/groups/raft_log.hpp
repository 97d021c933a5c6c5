// RaftLog: the in-memory copy of a member's log that the Raft machine works on.
//
// Index 1 is the first entry; index 0 is the sentinel before it, with term 0. The durable copy
// lives in a LogStore; the machine tells its driver, through Persist effects, which suffix to
// truncate and which entries to append there. Value type; not thread-safe.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/groups/raft_messages.hpp"

namespace smalti::groups {

class RaftLog {
 public:
  RaftLog() = default;
  explicit RaftLog(std::vector<LogEntry> entries)
      : entries_(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end())) {
  }

  Index last_index() const { return entries_.size(); }
  Cursor last() const { return {term_at(last_index()).value_or(0), last_index()}; }
  bool empty() const { return entries_.empty(); }
  // The entry's term; 0 for index 0; nullopt past the end.
  std::optional<Term> term_at(Index i) const {
    if (i == 0) return Term{0};
    if (i > entries_.size()) return std::nullopt;
    return entries_[i - 1].term;
  }
  // Requires 1 <= i <= last_index().
  const LogEntry& at(Index i) const {
    SMALTI_ASSERT(i >= 1 && i <= entries_.size(), "log index out of range");
    return entries_[i - 1];
  }
  // Entries [from, to] in order, as an iterator range (walking it is cheaper than at() per
  // index). Requires 1 <= from and to <= last_index().
  struct Range {
    std::deque<LogEntry>::const_iterator first;
    std::deque<LogEntry>::const_iterator last;
    auto begin() const { return first; }
    auto end() const { return last; }
  };
  Range range(Index from, Index to) const {
    SMALTI_ASSERT(from >= 1 && to <= entries_.size(), "log range out of range");
    const auto first = entries_.begin() + static_cast<std::ptrdiff_t>(from - 1);
    return {first, first + static_cast<std::ptrdiff_t>(to + 1 - from)};
  }
  void append(LogEntry entry) { entries_.push_back(std::move(entry)); }
  // Removes every entry at index >= from (from >= 1).
  void truncate_from(Index from) {
    SMALTI_ASSERT(from >= 1, "the sentinel cannot be truncated");
    if (from <= entries_.size()) {
      entries_.resize(from - 1);
      ++truncations_;
    }
  }
  // How many truncations removed entries so far: an observer that saw the same count knows
  // every entry it saw is still there.
  std::uint64_t truncations() const { return truncations_; }
  // Entries [from, ...] up to `max_count` entries and about `max_bytes` of payload (at least one
  // entry when there is one).
  std::vector<LogEntry> slice(Index from, std::size_t max_count, std::size_t max_bytes) const;
  // The first index of the run of entries with the same term as index i (i <= last_index()).
  Index first_index_of_term_at(Index i) const;

 private:
  // A deque: appending never moves the entries already held, so a long log grows a block at a
  // time instead of being copied into a buffer twice its size (which also touched twice the
  // memory: the group benchmark spent a fifth of its time in page faults).
  std::deque<LogEntry> entries_;
  std::uint64_t truncations_ = 0;
};

}  // namespace smalti::groups
