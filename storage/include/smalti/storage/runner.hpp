// StorageRunner: where a store's database work runs, and how its completion comes back.
//
// A store hands the runner a job (a transaction on its database) and a completion. The job runs
// in submission order; the completion is then called on the node's executor, never inline, with
// the job's status, so the node's driver is not re-entered and never blocks on a sync:
//   - InlineRunner (the simulator): the job runs at once on the calling thread, and its
//     completion is scheduled after the latency the file system reports for it
//     (env::FileSystem::take_pending_latency), so simulated disks are as slow as their model.
//     Two fault points (docs/buggify.md) stretch that: storage.slow_sync stalls the disk for
//     kSlowSync before a job runs (it and every job behind it wait, not yet durable; jobs still
//     waiting when the runner is destroyed are dropped, as a crash mid-sync drops them, and
//     their completions never come), storage.delayed_completion holds a completion back by
//     kDelayedCompletion after its job is durable (a worker slow to post it). Jobs run and
//     complete in submission order either way;
//   - WorkerRunner (the real backend): one worker thread runs the jobs in order; completions are
//     posted to the executor.
// A runner is destroyed after the stores that use it; destroying a WorkerRunner finishes the jobs
// already submitted (what was submitted is written) and drops their completions.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "smalti/base/buggify.hpp"
#include "smalti/base/status.hpp"
#include "smalti/env/clock.hpp"
#include "smalti/env/executor.hpp"
#include "smalti/env/file_system.hpp"

namespace smalti::storage {

class StorageRunner {
 public:
  using Job = std::function<Status()>;
  using Done = std::function<void(Status)>;
  virtual ~StorageRunner() = default;
  virtual void run(Job job, Done done) = 0;
};

class InlineRunner final : public StorageRunner {
 public:
  InlineRunner(env::Executor& executor, env::Clock& clock, env::FileSystem& fs,
               Buggify buggify = {})
      : executor_(executor), clock_(clock), fs_(fs), buggify_(std::move(buggify)) {}
  ~InlineRunner() override { *alive_ = false; }
  void run(Job job, Done done) override;
  // Jobs waiting behind a stalled sync (storage.slow_sync).
  std::size_t stalled_jobs() const { return stalled_.size(); }

  static constexpr Duration kSlowSync = std::chrono::milliseconds(200);
  static constexpr Duration kDelayedCompletion = std::chrono::milliseconds(500);

 private:
  env::Executor& executor_;
  env::Clock& clock_;
  env::FileSystem& fs_;
  Buggify buggify_;
  void execute(const Job& job, Done done);
  void resume();
  Instant last_completion_;  // completions stay in submission order
  bool stalling_ = false;
  std::deque<std::pair<Job, Done>> stalled_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class WorkerRunner final : public StorageRunner {
 public:
  // `executor` must accept post() from another thread (the real backend's does).
  explicit WorkerRunner(env::Executor& executor);
  ~WorkerRunner() override;
  void run(Job job, Done done) override;

 private:
  void loop();

  env::Executor& executor_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<Job, Done>> jobs_;
  bool stopping_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // read on the executor only
  std::thread worker_;
};

}  // namespace smalti::storage
