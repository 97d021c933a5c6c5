#include "smalti/groups/stores.hpp"

namespace smalti::groups {

MemoryStores::MemoryStores(env::Executor& executor, std::shared_ptr<MemoryMedium> medium,
                           const GroupId& group)
    : executor_(executor),
      medium_(medium ? std::move(medium) : std::make_shared<MemoryMedium>()),
      group_(group),
      hard_state_(durable().hard_state),
      log_(durable().log),
      dirty_from_(log_.size()) {}

void MemoryStores::truncate_from(Index from) {
  if (from >= 1 && from <= log_.size()) {
    log_.resize(from - 1);
    dirty_from_ = std::min(dirty_from_, log_.size());
  }
}

void MemoryStores::append(Index at, const std::vector<LogEntry>& entries) {
  SMALTI_ASSERT(at >= 1 && at <= log_.size() + 1, "a log write leaves a gap");
  log_.resize(at - 1);
  dirty_from_ = std::min(dirty_from_, log_.size());
  log_.insert(log_.end(), entries.begin(), entries.end());
}

// Copies what was written so far to the medium, then reports on the executor (never inline,
// so the Raft driver is not re-entered).
void MemoryStores::sync(std::function<void(Status)> done) {
  MemoryMedium::Slot& slot = durable();
  slot.hard_state = hard_state_;
  // Only the tail written since the last sync is copied.
  slot.log.resize(std::min(dirty_from_, slot.log.size()));
  slot.log.insert(slot.log.end(), log_.begin() + static_cast<std::ptrdiff_t>(slot.log.size()),
                  log_.end());
  dirty_from_ = log_.size();
  executor_.post([alive = std::weak_ptr<bool>(alive_), done = std::move(done)] {
    if (alive.lock()) done(Status::ok());
  });
}

}  // namespace smalti::groups
