#include "smalti/storage/runner.hpp"

#include <algorithm>
#include <utility>

namespace smalti::storage {

void InlineRunner::run(Job job, Done done) {
  if (!stalling_ && fire(buggify_, "storage.slow_sync")) {
    stalling_ = true;
    executor_.schedule_at(clock_.monotonic() + kSlowSync,
                          [alive = std::weak_ptr<bool>(alive_), this] {
                            auto live = alive.lock();
                            if (live && *live) resume();
                          });
  }
  if (stalling_) {
    stalled_.emplace_back(std::move(job), std::move(done));
    return;
  }
  execute(job, std::move(done));
}

void InlineRunner::resume() {
  stalling_ = false;
  while (!stalled_.empty()) {
    auto [job, done] = std::move(stalled_.front());
    stalled_.pop_front();
    execute(job, std::move(done));
  }
}

void InlineRunner::execute(const Job& job, Done done) {
  Status status = job();
  Duration took = fs_.take_pending_latency();
  if (fire(buggify_, "storage.delayed_completion")) took += kDelayedCompletion;
  const Instant at = std::max(clock_.monotonic() + took, last_completion_);
  last_completion_ = at;
  executor_.schedule_at(at, [alive = std::weak_ptr<bool>(alive_), done = std::move(done),
                             status = std::move(status)]() mutable {
    auto live = alive.lock();
    if (live && *live) done(std::move(status));
  });
}

WorkerRunner::WorkerRunner(env::Executor& executor)
    : executor_(executor), worker_([this] { loop(); }) {}

WorkerRunner::~WorkerRunner() {
  *alive_ = false;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void WorkerRunner::run(Job job, Done done) {
  {
    std::lock_guard lock(mutex_);
    jobs_.emplace_back(std::move(job), std::move(done));
  }
  wake_.notify_one();
}

void WorkerRunner::loop() {
  while (true) {
    std::pair<Job, Done> next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every submitted job has run
      next = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Status status = next.first();
    executor_.post([alive = std::weak_ptr<bool>(alive_), done = std::move(next.second),
                    status = std::move(status)]() mutable {
      auto live = alive.lock();
      if (live && *live) done(std::move(status));
    });
  }
}

}  // namespace smalti::storage
