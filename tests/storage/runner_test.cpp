// The storage runners: jobs in submission order, completions on the executor (never inline),
// after the simulated disk's latency (InlineRunner) or from a worker thread (WorkerRunner).
#include "smalti/storage/runner.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/runtime/fake_executor.hpp"
#include "smalti/real/runtime.hpp"
#include "smalti/sim/sim_file_system.hpp"

namespace smalti::storage {
namespace {

TEST(InlineRunner, CompletesInOrderAfterTheDisksLatencyAndNeverInline) {
  test_support::FakeClock clock;
  test_support::FakeExecutor executor(clock);
  sim::SimFileSystem disk{Rng(3)};
  disk.set_faults(sim::DiskFaults{.min_latency = 4ms, .max_latency = 4ms});
  InlineRunner runner(executor, clock, disk);
  std::vector<int> done;
  const Instant start = clock.monotonic();
  runner.run(
      [&] {
        (void)disk.open("a", env::OpenMode::kCreateIfMissing);  // one call: 4 ms
        return Status::ok();
      },
      [&](Status s) { done.push_back(s.is_ok() ? 1 : -1); });
  runner.run([] { return error(StatusCode::kIoError, "boom"); },
             [&](Status s) { done.push_back(s.code() == StatusCode::kIoError ? 2 : -2); });
  EXPECT_TRUE(done.empty());
  executor.advance_to(start + 3ms);
  EXPECT_TRUE(done.empty()) << "completed before the disk's latency";
  executor.advance_to(start + 4ms);
  EXPECT_EQ(done, (std::vector<int>{1, 2})) << "a later job with no latency waits its turn";
}

TEST(InlineRunner, CompletionsAfterTheRunnerIsGoneAreDropped) {
  test_support::FakeClock clock;
  test_support::FakeExecutor executor(clock);
  sim::SimFileSystem disk{Rng(3)};
  bool called = false;
  {
    InlineRunner runner(executor, clock, disk);
    runner.run([] { return Status::ok(); }, [&](Status) { called = true; });
  }
  executor.advance(1s);
  EXPECT_FALSE(called);
}

TEST(WorkerRunner, RunsJobsInOrderOnAnotherThreadAndPostsCompletionsBack) {
  real::Runtime runtime;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<int> ran;       // written by the worker only
  std::vector<int> finished;  // written on the loop only
  std::atomic<bool> off_loop{true};
  {
    WorkerRunner runner(runtime);
    for (int i = 0; i < 50; ++i) {
      runner.run(
          [&, i] {
            if (std::this_thread::get_id() == loop_thread) off_loop = false;
            ran.push_back(i);
            return Status::ok();
          },
          [&, i](Status s) {
            EXPECT_EQ(std::this_thread::get_id(), loop_thread);
            EXPECT_TRUE(s.is_ok());
            finished.push_back(i);
          });
    }
    const Instant deadline = runtime.monotonic() + 10s;
    while (finished.size() < 50 && runtime.monotonic() < deadline) runtime.run_for(5ms);
  }
  EXPECT_TRUE(off_loop.load()) << "a job ran on the loop thread";
  ASSERT_EQ(finished.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
    EXPECT_EQ(finished[static_cast<std::size_t>(i)], i);
  }
}

TEST(WorkerRunner, DestroyingItFinishesSubmittedJobsAndDropsTheirCompletions) {
  real::Runtime runtime;
  std::atomic<int> ran{0};
  bool completed = false;
  {
    WorkerRunner runner(runtime);
    for (int i = 0; i < 20; ++i) {
      runner.run(
          [&] {
            ++ran;
            return Status::ok();
          },
          [&](Status) { completed = true; });
    }
  }
  EXPECT_EQ(ran.load(), 20) << "submitted work was not all written";
  runtime.run_for(50ms);
  EXPECT_FALSE(completed);
}

}  // namespace
}  // namespace smalti::storage
