// RaftLog: the in-memory copy of a member's log that the Raft machine works on.
//
// Index 1 is the first entry; index 0 is the sentinel before it, with term 0. Once a snapshot
// holds a prefix of the log, that prefix may be pruned: the log then holds the entries after its
// base, the last entry pruned, whose term it still knows. The durable copy
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
  // `entries` follow `base` (the last entry pruned into a snapshot; {0, 0}: none was).
  explicit RaftLog(std::vector<LogEntry> entries, Cursor base = {})
      : base_(base),
        entries_(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end())) {
  }

  Index last_index() const { return base_.index + entries_.size(); }
  Cursor last() const { return {term_at(last_index()).value_or(0), last_index()}; }
  // No entry was ever written (nothing held and nothing pruned).
  bool empty() const { return last_index() == 0; }
  // The position the held entries follow: the last entry pruned, whose term is still known.
  const Cursor& base() const { return base_; }
  Index first_index() const { return base_.index + 1; }
  // The entry's term; 0 for index 0; nullopt past the end and before the base (pruned).
  std::optional<Term> term_at(Index i) const {
    if (i == base_.index) return base_.term;
    if (i < base_.index || i > last_index()) return std::nullopt;
    return entries_[i - base_.index - 1].term;
  }
  // Requires first_index() <= i <= last_index().
  const LogEntry& at(Index i) const {
    SMALTI_ASSERT(i > base_.index && i <= last_index(), "log index out of range");
    return entries_[i - base_.index - 1];
  }
  // Entries [from, to] in order, as an iterator range (walking it is cheaper than at() per
  // index). Requires first_index() <= from and to <= last_index().
  struct Range {
    std::deque<LogEntry>::const_iterator first;
    std::deque<LogEntry>::const_iterator last;
    auto begin() const { return first; }
    auto end() const { return last; }
  };
  Range range(Index from, Index to) const {
    SMALTI_ASSERT(from > base_.index && to <= last_index(), "log range out of range");
    const auto first = entries_.begin() + static_cast<std::ptrdiff_t>(from - base_.index - 1);
    return {first, first + static_cast<std::ptrdiff_t>(to + 1 - from)};
  }
  void append(LogEntry entry) { entries_.push_back(std::move(entry)); }
  // Removes every entry at index >= from (from > base().index: pruned entries are committed).
  void truncate_from(Index from) {
    SMALTI_ASSERT(from > base_.index, "truncating a pruned entry");
    if (from <= last_index()) {
      entries_.resize(from - base_.index - 1);
      ++truncations_;
    }
  }
  // Drops the entries up to `through` (first_index() <= through <= last_index()), which a
  // snapshot holds; `through` becomes the base.
  void prune_through(Index through);
  // Drops every entry: the log continues after `base` (a snapshot's last entry).
  void reset_to(Cursor base) {
    entries_.clear();
    base_ = base;
    ++truncations_;
  }
  // How many truncations removed entries so far: an observer that saw the same count knows
  // every entry it saw is still there (pruning aside: the base says what was pruned).
  std::uint64_t truncations() const { return truncations_; }
  // Entries [from, ...] up to `max_count` entries and about `max_bytes` of payload (at least one
  // entry when there is one); none when `from` was pruned.
  std::vector<LogEntry> slice(Index from, std::size_t max_count, std::size_t max_bytes) const;
  // The first index of the run of entries with the same term as index i, among those held
  // (first_index() <= i <= last_index()).
  Index first_index_of_term_at(Index i) const;

 private:
  Cursor base_;
  // A deque: appending never moves the entries already held, so a long log grows a block at a
  // time instead of being copied into a buffer twice its size (which also touched twice the
  // memory: the group benchmark spent a fifth of its time in page faults).
  std::deque<LogEntry> entries_;
  std::uint64_t truncations_ = 0;
};

}  // namespace smalti::groups
