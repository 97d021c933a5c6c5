// FakeClock and FakeExecutor: a tiny deterministic environment for unit tests of the runtime.
//
// The executor keeps posted functions in a FIFO queue that the test drains explicitly
// (run_posted), and timers ordered by (time, id) that fire only when the test advances the
// clock (advance_to / advance). Every cancel() call is recorded, so tests can check that an
// awaitable cancelled its timer. Single-threaded, test code only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/env/clock.hpp"
#include "smalti/env/executor.hpp"

namespace smalti::test_support {

class FakeClock final : public env::Clock {
 public:
  Instant monotonic() const override { return now_; }
  WallTime wall() const override { return WallTime::from_unix_nanos(now_.nanos()); }
  void set(Instant t) {
    SMALTI_ASSERT(t >= now_, "the fake clock went backwards");
    now_ = t;
  }

 private:
  Instant now_ = Instant::from_nanos(1'000'000'000);
};

class FakeExecutor final : public env::Executor {
 public:
  explicit FakeExecutor(FakeClock& clock) : clock_(clock) {}

  void post(env::Task fn) override {
    ++posts_;
    posted_.push_back(std::move(fn));
  }
  env::TimerId schedule_at(Instant at, env::Task fn) override {
    const std::uint64_t id = next_timer_++;
    timers_.emplace(std::pair(at, id), std::move(fn));
    return env::TimerId{id};
  }
  void cancel(env::TimerId id) override {
    cancelled_.push_back(id.value);
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id.value) {
        timers_.erase(it);
        return;
      }
    }
  }

  // Runs posted functions, including those they post, until the queue is empty.
  std::size_t run_posted() {
    std::size_t ran = 0;
    while (!posted_.empty()) {
      env::Task fn = std::move(posted_.front());
      posted_.pop_front();
      fn();
      ++ran;
    }
    return ran;
  }
  // Drains posts, then fires every timer due at or before `t` in (time, id) order, draining
  // posts after each; the clock ends at `t`.
  void advance_to(Instant t) {
    run_posted();
    while (!timers_.empty() && timers_.begin()->first.first <= t) {
      auto node = timers_.extract(timers_.begin());
      if (node.key().first > clock_.monotonic()) clock_.set(node.key().first);
      node.mapped()();
      run_posted();
    }
    if (t > clock_.monotonic()) clock_.set(t);
  }
  void advance(Duration d) { advance_to(clock_.monotonic() + d); }

  std::size_t pending_posts() const { return posted_.size(); }
  std::size_t pending_timers() const { return timers_.size(); }
  std::uint64_t total_posts() const { return posts_; }
  const std::vector<std::uint64_t>& cancelled() const { return cancelled_; }
  bool was_cancelled(env::TimerId id) const {
    for (std::uint64_t c : cancelled_) {
      if (c == id.value) return true;
    }
    return false;
  }
  // The id of the earliest pending timer (0 when none).
  std::uint64_t first_timer_id() const {
    return timers_.empty() ? 0 : timers_.begin()->first.second;
  }
  Instant first_timer_at() const {
    return timers_.empty() ? Instant::max() : timers_.begin()->first.first;
  }

 private:
  FakeClock& clock_;
  std::deque<env::Task> posted_;
  std::map<std::pair<Instant, std::uint64_t>, env::Task> timers_;
  std::vector<std::uint64_t> cancelled_;
  std::uint64_t next_timer_ = 1;
  std::uint64_t posts_ = 0;
};

// Counts live instances, so tests can see that a coroutine frame's locals were destroyed.
class Probe {
 public:
  explicit Probe(int* alive) : alive_(alive) { ++*alive_; }
  Probe(const Probe& other) : alive_(other.alive_) { ++*alive_; }
  Probe& operator=(const Probe&) = delete;
  ~Probe() { --*alive_; }

 private:
  int* alive_;
};

}  // namespace smalti::test_support
