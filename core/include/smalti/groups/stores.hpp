// Where a group member keeps what must survive a restart: its HardState (term, vote,
// incarnation) in a StateStore, its log in a LogStore and its latest snapshot in a
// SnapshotStore (one object may be all three, as the in-memory and SQLite stores are).
//
// Writes are ordered and take effect in memory at once; sync(done) makes every earlier write
// durable and then calls done on the executor, with an error when it could not (the writes
// may be lost). Syncs complete in the order they were asked for. The Raft driver acknowledges a
// Persist effect only from a successful sync, so nothing a member said depends on state a crash
// could lose; after a failed one it acknowledges nothing more and reports the error
// (GroupStatus::store_error).
//
// The in-memory stores keep their durable part in a MemoryMedium, which outlives the stores: the
// simulator gives each host one that survives its crashes (as a disk would), so a restarted
// member finds its term, vote and log again. A sync takes as long as SyncLatency draws (a
// seeded draw per sync, see docs/decisions.md), and its writes reach the medium only when it
// completes: stores destroyed before that (the node crashed) lose them, as a disk loses what
// was not yet synced. Without a medium the stores are volatile, and a restarted member starts
// as a new incarnation (a new, non-voting member), which is safe. Executor thread only.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/env/clock.hpp"
#include "smalti/env/executor.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<HardState> load_state() = 0;
  virtual void save(const HardState& state) = 0;
  virtual void sync(std::function<void(Status)> done) = 0;
};

class LogStore {
 public:
  virtual ~LogStore() = default;
  // The position the stored entries follow ({0, 0} until a prefix was pruned), and the entries.
  virtual Result<Cursor> load_base() = 0;
  virtual Result<std::vector<LogEntry>> load_log() = 0;
  // Removes every entry at index >= from (from > the base's index).
  virtual void truncate_from(Index from) = 0;
  // Writes `entries` at indexes at, at + 1, ... (base < at <= last index + 1), replacing any
  // there.
  virtual void append(Index at, std::vector<LogEntry> entries) = 0;
  // Removes the entries up to `through.index` (a snapshot holds them); the log then follows
  // `through`. Nothing to do when the base is already there or past it.
  virtual void prune_through(Cursor through) = 0;
  // Removes every entry; the log then follows `base` (an installed snapshot's last entry).
  virtual void reset_to(Cursor base) = 0;
  virtual void sync(std::function<void(Status)> done) = 0;
};

class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;
  // The latest snapshot saved, if any.
  virtual Result<std::optional<Snapshot>> load_snapshot() = 0;
  // Replaces the snapshot held (nullopt: removes it).
  virtual void save_snapshot(std::optional<Snapshot> snapshot) = 0;
  virtual void sync(std::function<void(Status)> done) = 0;
};

// The durable side of the in-memory stores, one slot per group.
class MemoryMedium {
 public:
  struct Slot {
    HardState hard_state;
    Cursor base;               // the entries of `log` follow it
    std::deque<LogEntry> log;  // a deque, as RaftLog's entries: grows without moving
    std::optional<Snapshot> snapshot;
    // The last index stored (pruned entries included).
    Index last_index() const { return base.index + log.size(); }
  };

  Slot& slot(const GroupId& group) { return slots_[group]; }
  // The slot of `group`, or null when nothing was ever stored for it (checkers read it).
  const Slot* find(const GroupId& group) const {
    auto it = slots_.find(group);
    return it == slots_.end() ? nullptr : &it->second;
  }

 private:
  std::map<GroupId, Slot> slots_;
};

// One write to a group's stores, kept by a store in order until the sync that covers it.
struct StoreWrite {
  enum class Kind : std::uint8_t { kSave, kTruncate, kAppend, kPrune, kReset, kSnapshot };
  Kind kind = Kind::kSave;
  HardState state;                   // save
  Index index = 0;                   // truncate: the first removed; append: the first written
  Cursor base;                       // prune, reset
  std::vector<LogEntry> entries;     // append
  std::optional<Snapshot> snapshot;  // snapshot; nullopt: remove it
};

// Applies a write that a completed sync made durable to a medium slot. Requires an append to
// leave no gap.
void apply_write(MemoryMedium::Slot& slot, StoreWrite write);

// How long a sync of the in-memory stores takes: a draw from [min, max] per sync, from a
// generator seeded with `seed`. max == 0 (the default): the sync completes on the next turn of
// the executor (after what is already posted), as the volatile stores of the real backend do.
struct SyncLatency {
  Duration min = Duration::zero();
  Duration max = Duration::zero();
  std::uint64_t seed = 0;
  bool instant() const { return max <= Duration::zero(); }
};

// The three stores over one medium slot (a fresh private medium when none is given). `clock` is
// required unless `latency` is instant (it dates the completions).
class MemoryStores final : public StateStore, public LogStore, public SnapshotStore {
 public:
  MemoryStores(env::Executor& executor, std::shared_ptr<MemoryMedium> medium, const GroupId& group,
               const env::Clock* clock = nullptr, SyncLatency latency = {});

  Result<HardState> load_state() override { return durable().hard_state; }
  void save(const HardState& state) override { hard_state_ = state; }
  Result<Cursor> load_base() override { return durable().base; }
  Result<std::vector<LogEntry>> load_log() override {
    return std::vector<LogEntry>(durable().log.begin(), durable().log.end());
  }
  void truncate_from(Index from) override;
  void append(Index at, std::vector<LogEntry> entries) override;
  void prune_through(Cursor through) override;
  void reset_to(Cursor base) override;
  Result<std::optional<Snapshot>> load_snapshot() override { return durable().snapshot; }
  void save_snapshot(std::optional<Snapshot> snapshot) override;
  void sync(std::function<void(Status)> done) override;

 private:
  // The writes of one sync.
  struct Syncing {
    HardState hard_state;
    std::vector<StoreWrite> writes;
    std::function<void(Status)> done;
  };
  MemoryMedium::Slot& durable() { return medium_->slot(group_); }
  void complete_one();

  env::Executor& executor_;
  const env::Clock* clock_;
  std::shared_ptr<MemoryMedium> medium_;
  GroupId group_;
  SyncLatency latency_;
  Rng rng_;
  Instant last_due_;  // the latest completion scheduled: none is earlier than one before it
  HardState hard_state_;
  // The log as written (synced or not): its base and last index, to check each write.
  Cursor written_base_;
  Index written_last_ = 0;
  std::vector<StoreWrite> pending_;  // written since the last sync
  std::deque<Syncing> syncing_;      // bounded by the caller's syncs in flight (one per Persist)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace smalti::groups
