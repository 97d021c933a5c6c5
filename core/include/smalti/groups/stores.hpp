// Where a group member keeps what must survive a restart: its HardState (term, vote,
// incarnation) in a StateStore and its log in a LogStore.
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
  virtual Result<std::vector<LogEntry>> load_log() = 0;
  // Removes every entry at index >= from.
  virtual void truncate_from(Index from) = 0;
  // Writes `entries` at indexes at, at + 1, ... (at <= last index + 1), replacing any there.
  virtual void append(Index at, std::vector<LogEntry> entries) = 0;
  virtual void sync(std::function<void(Status)> done) = 0;
};

// The durable side of the in-memory stores, one slot per group.
class MemoryMedium {
 public:
  struct Slot {
    HardState hard_state;
    std::deque<LogEntry> log;  // a deque, as RaftLog's entries: grows without moving
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

// How long a sync of the in-memory stores takes: a draw from [min, max] per sync, from a
// generator seeded with `seed`. max == 0 (the default): the sync completes on the next turn of
// the executor (after what is already posted), as the volatile stores of the real backend do.
struct SyncLatency {
  Duration min = Duration::zero();
  Duration max = Duration::zero();
  std::uint64_t seed = 0;
  bool instant() const { return max <= Duration::zero(); }
};

// Both stores over one medium slot (a fresh private medium when none is given). `clock` is
// required unless `latency` is instant (it dates the completions).
class MemoryStores final : public StateStore, public LogStore {
 public:
  MemoryStores(env::Executor& executor, std::shared_ptr<MemoryMedium> medium, const GroupId& group,
               const env::Clock* clock = nullptr, SyncLatency latency = {});

  Result<HardState> load_state() override { return durable().hard_state; }
  void save(const HardState& state) override { hard_state_ = state; }
  Result<std::vector<LogEntry>> load_log() override {
    return std::vector<LogEntry>(durable().log.begin(), durable().log.end());
  }
  void truncate_from(Index from) override;
  void append(Index at, std::vector<LogEntry> entries) override;
  void sync(std::function<void(Status)> done) override;

 private:
  // The writes of one sync, applied to the medium when it completes.
  struct Syncing {
    HardState hard_state;
    std::size_t keep = 0;  // the medium's entries kept, then `entries` follow
    std::vector<LogEntry> entries;
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
  // The log as written: the first kept_ entries of the medium as it will be once every sync in
  // syncing_ completed, then pending_ (not yet synced).
  std::size_t kept_ = 0;
  std::vector<LogEntry> pending_;
  std::deque<Syncing> syncing_;  // bounded by the caller's syncs in flight (one per Persist)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace smalti::groups
