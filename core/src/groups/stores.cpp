#include "smalti/groups/stores.hpp"

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
      kept_(durable().log.size()) {
  SMALTI_ASSERT(latency_.instant() || clock_ != nullptr, "a sync latency needs a clock");
  SMALTI_ASSERT(latency_.min >= Duration::zero() && latency_.min <= latency_.max,
                "a sync latency range must be ordered and not negative");
}

void MemoryStores::truncate_from(Index from) {
  if (from < 1 || from > kept_ + pending_.size()) return;
  const std::size_t keep = from - 1;
  if (keep < kept_) {
    kept_ = keep;
    pending_.clear();
  } else {
    pending_.resize(keep - kept_);
  }
}

void MemoryStores::append(Index at, std::vector<LogEntry> entries) {
  SMALTI_ASSERT(at >= 1 && at <= kept_ + pending_.size() + 1, "a log write leaves a gap");
  truncate_from(at);
  if (pending_.empty()) {
    pending_ = std::move(entries);
  } else {
    pending_.insert(pending_.end(), std::make_move_iterator(entries.begin()),
                    std::make_move_iterator(entries.end()));
  }
}

// Takes what was written since the last sync and schedules its completion: on the next turn
// when the latency is instant, else after a seeded delay, never before an earlier sync's
// completion. Reports on the executor (never inline, so the Raft driver is not re-entered);
// stores destroyed before then report nothing and their writes never reach the medium.
void MemoryStores::sync(std::function<void(Status)> done) {
  const std::size_t keep = kept_;
  kept_ += pending_.size();
  syncing_.push_back(Syncing{hard_state_, keep, std::move(pending_), std::move(done)});
  pending_.clear();
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
  SMALTI_ASSERT(s.keep <= slot.log.size(), "a sync keeps more entries than the medium holds");
  slot.hard_state = s.hard_state;
  slot.log.resize(s.keep);
  slot.log.insert(slot.log.end(), std::make_move_iterator(s.entries.begin()),
                  std::make_move_iterator(s.entries.end()));
  s.done(Status::ok());
}

}  // namespace smalti::groups
