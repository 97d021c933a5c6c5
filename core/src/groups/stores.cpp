#include "smalti/groups/stores.hpp"

#include <utility>

namespace smalti::groups {

MemoryStores::MemoryStores(env::Executor& executor, std::shared_ptr<MemoryMedium> medium,
                           const GroupId& group, const env::Clock* clock, SyncLatency latency)
    : executor_(executor),
      clock_(clock),
      medium_(medium ? std::move(medium) : std::make_shared<MemoryMedium>()),
      group_(group),
      latency_(latency),
      rng_(latency.seed),
      hard_state_(durable().hard_state),
      written_base_(durable().base),
      written_last_(durable().last_index()) {
  SMALTI_ASSERT(latency_.instant() || clock_ != nullptr, "a sync latency needs a clock");
  SMALTI_ASSERT(latency_.min >= Duration::zero() && latency_.min <= latency_.max,
                "a sync latency range must be ordered and not negative");
}

void MemoryStores::truncate_from(Index from) {
  SMALTI_ASSERT(from > written_base_.index, "truncating a pruned entry");
  if (from > written_last_) return;
  written_last_ = from - 1;
  pending_.push_back(StoreWrite{.kind = StoreWrite::Kind::kTruncate, .index = from});
}

void MemoryStores::append(Index at, std::vector<LogEntry> entries) {
  SMALTI_ASSERT(at > written_base_.index && at <= written_last_ + 1, "a log write leaves a gap");
  written_last_ = at - 1 + entries.size();
  pending_.push_back(
      StoreWrite{.kind = StoreWrite::Kind::kAppend, .index = at, .entries = std::move(entries)});
}

void MemoryStores::prune_through(Cursor through) {
  if (through.index <= written_base_.index) return;
  SMALTI_ASSERT(through.index <= written_last_, "pruning past the end of the log");
  written_base_ = through;
  pending_.push_back(StoreWrite{.kind = StoreWrite::Kind::kPrune, .base = through});
}

void MemoryStores::reset_to(Cursor base) {
  written_base_ = base;
  written_last_ = base.index;
  pending_.push_back(StoreWrite{.kind = StoreWrite::Kind::kReset, .base = base});
}

void MemoryStores::save_snapshot(std::optional<Snapshot> snapshot) {
  pending_.push_back(
      StoreWrite{.kind = StoreWrite::Kind::kSnapshot, .snapshot = std::move(snapshot)});
}

// Takes what was written since the last sync and schedules its completion: on the next turn
// when the latency is instant, else after a seeded delay, never before an earlier sync's
// completion. Reports on the executor (never inline, so the Raft driver is not re-entered);
// stores destroyed before then report nothing and their writes never reach the medium.
void MemoryStores::sync(std::function<void(Status)> done) {
  syncing_.push_back(Syncing{hard_state_, std::exchange(pending_, {}), std::move(done)});
  auto complete = [alive = std::weak_ptr<bool>(alive_), this] {
    if (alive.lock()) complete_one();
  };
  if (latency_.instant()) {
    executor_.post(std::move(complete));
    return;
  }
  const Instant due =
      std::max(clock_->monotonic() + rng_.duration_between(latency_.min, latency_.max), last_due_);
  last_due_ = due;
  executor_.schedule_at(due, std::move(complete));
}

// The oldest sync is durable now: its writes reach the medium, then its caller hears of it.
void MemoryStores::complete_one() {
  SMALTI_ASSERT(!syncing_.empty(), "a sync completed that was never asked for");
  Syncing s = std::move(syncing_.front());
  syncing_.pop_front();
  MemoryMedium::Slot& slot = durable();
  slot.hard_state = s.hard_state;
  for (StoreWrite& w : s.writes) apply_write(slot, std::move(w));
  s.done(Status::ok());
}

void apply_write(MemoryMedium::Slot& slot, StoreWrite w) {
  auto keep_through = [&](Index last) {  // drops the entries after `last`
    if (last < slot.last_index()) slot.log.resize(last - slot.base.index);
  };
  switch (w.kind) {
    case StoreWrite::Kind::kSave:
      slot.hard_state = w.state;
      break;
    case StoreWrite::Kind::kTruncate:
      keep_through(w.index - 1);
      break;
    case StoreWrite::Kind::kAppend:
      SMALTI_ASSERT(w.index > slot.base.index && w.index <= slot.last_index() + 1,
                    "a synced log write leaves a gap");
      keep_through(w.index - 1);
      slot.log.insert(slot.log.end(), std::make_move_iterator(w.entries.begin()),
                      std::make_move_iterator(w.entries.end()));
      break;
    case StoreWrite::Kind::kPrune: {
      const Index drop = std::min<Index>(w.base.index - slot.base.index, slot.log.size());
      slot.log.erase(slot.log.begin(), slot.log.begin() + static_cast<std::ptrdiff_t>(drop));
      slot.base = w.base;
      break;
    }
    case StoreWrite::Kind::kReset:
      slot.log.clear();
      slot.base = w.base;
      break;
    case StoreWrite::Kind::kSnapshot:
      slot.snapshot = std::move(w.snapshot);
      break;
  }
}

}  // namespace smalti::groups
