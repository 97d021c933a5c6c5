// Condition: a predicate over some state, re-checked whenever that state's Signal fires.
//
// This is what every `when()` method returns. Await it (`co_await cond;` completes once the
// predicate holds, at once if it already does), bound the wait (`co_await cond.within(5s)`
// yields true if met, false on timeout), or use the callback form (`cond.on_met(fn)` runs fn
// once, on the executor; dropping the returned Subscription cancels it). A Condition is cheap to
// copy; the Signal and the state the predicate reads must outlive it. Executor thread only.
#pragma once

#include <coroutine>
#include <functional>
#include <memory>
#include <optional>

#include "smalti/env/clock.hpp"
#include "smalti/env/executor.hpp"
#include "smalti/runtime/signal.hpp"

namespace smalti {

class Condition {
 public:
  Condition(Signal& signal, env::Clock& clock, std::function<bool()> predicate)
      : signal_(&signal), clock_(&clock), predicate_(std::move(predicate)) {}

  bool is_met() const { return predicate_(); }

  // Runs `fn` once on the executor when the predicate holds.
  [[nodiscard]] Subscription on_met(std::function<void()> fn) const;
  // Runs `fn(true)` when met or `fn(false)` after `timeout`, once.
  [[nodiscard]] Subscription on_met_within(Duration timeout, std::function<void(bool)> fn) const;

  class Awaiter;
  Awaiter operator co_await() const;
  // Awaitable yielding true when met, false when `timeout` passed first.
  Awaiter within(Duration timeout) const;

 private:
  Signal* signal_;
  env::Clock* clock_;
  std::function<bool()> predicate_;
};

class Condition::Awaiter {
 public:
  Awaiter(const Condition& condition, std::optional<Duration> timeout)
      : condition_(condition), timeout_(timeout) {}
  bool await_ready() const { return condition_.is_met(); }
  void await_suspend(std::coroutine_handle<> h);
  bool await_resume() const { return met_ || condition_.is_met(); }

 private:
  Condition condition_;
  std::optional<Duration> timeout_;
  Subscription subscription_;
  bool met_ = false;
};

inline Condition::Awaiter Condition::operator co_await() const {
  return Awaiter(*this, std::nullopt);
}
inline Condition::Awaiter Condition::within(Duration timeout) const {
  return Awaiter(*this, timeout);
}

// Awaitable pause of a task until the node's monotonic clock reaches `deadline`. Destroying the
// waiting task cancels the timer.
class SleepUntil {
 public:
  SleepUntil(env::Executor& executor, Instant deadline)
      : executor_(executor), deadline_(deadline) {}
  SleepUntil(const SleepUntil&) = delete;
  SleepUntil& operator=(const SleepUntil&) = delete;
  ~SleepUntil();
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() noexcept { armed_ = false; }

 private:
  env::Executor& executor_;
  Instant deadline_;
  env::TimerId timer_;
  bool armed_ = false;
};

}  // namespace smalti
