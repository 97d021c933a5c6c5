#include "smalti/groups/stores.hpp"

namespace smalti::groups {

MemoryStores::MemoryStores(env::Executor& executor, std::shared_ptr<MemoryMedium> medium,
                           const GroupId& group)
    : executor_(executor),
      medium_(medium ? std::move(medium) : std::make_shared<MemoryMedium>()),
      group_(group),
      hard_state_(durable().hard_state),
      kept_(durable().log.size()) {}

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

// Moves what was written since the last sync to the medium, then reports on the executor
// (never inline, so the Raft driver is not re-entered).
void MemoryStores::sync(std::function<void(Status)> done) {
  MemoryMedium::Slot& slot = durable();
  slot.hard_state = hard_state_;
  slot.log.resize(kept_);
  slot.log.insert(slot.log.end(), std::make_move_iterator(pending_.begin()),
                  std::make_move_iterator(pending_.end()));
  pending_.clear();
  kept_ = slot.log.size();
  executor_.post([alive = std::weak_ptr<bool>(alive_), done = std::move(done)] {
    if (alive.lock()) done(Status::ok());
  });
}

}  // namespace smalti::groups
