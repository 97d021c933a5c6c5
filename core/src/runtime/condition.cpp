#include "smalti/runtime/condition.hpp"

namespace smalti {
namespace {

// Shared between a subscription callback, a timeout timer and the owner: whoever comes first
// fires, the others find `done` set.
struct Pending {
  bool done = false;
  env::TimerId timer;
  bool timer_armed = false;
  env::Executor* executor = nullptr;
  Subscription subscription;
  ~Pending() {
    if (timer_armed) executor->cancel(timer);
  }
};

}  // namespace

Subscription Condition::on_met(std::function<void()> fn) const {
  return on_met_within(Duration::max(), [fn = std::move(fn)](bool met) {
    if (met) fn();
  });
}

Subscription Condition::on_met_within(Duration timeout, std::function<void(bool)> fn) const {
  // The caller's Subscription owns `pending`: dropping it unsubscribes and cancels the timer.
  auto pending = std::make_shared<Pending>();
  pending->executor = &signal_->executor();
  auto fire = std::make_shared<std::function<void(bool)>>(std::move(fn));
  auto predicate = predicate_;
  auto check = [pending_weak = std::weak_ptr<Pending>(pending), predicate, fire] {
    auto p = pending_weak.lock();
    if (!p || p->done || !predicate()) return;
    p->done = true;
    (*fire)(true);
  };
  Subscription inner = signal_->subscribe(check);
  pending->subscription = std::move(inner);
  if (timeout != Duration::max()) {
    pending->timer_armed = true;
    pending->timer = signal_->executor().schedule_at(
        clock_->monotonic() + timeout, [pending_weak = std::weak_ptr<Pending>(pending), fire] {
          auto p = pending_weak.lock();
          if (!p || p->done) return;
          p->done = true;
          p->timer_armed = false;
          (*fire)(false);
        });
  }
  // Checked once on the executor even if the signal never fires (the predicate may hold now).
  signal_->executor().post(check);
  return Subscription::holding(std::move(pending));
}

void Condition::Awaiter::await_suspend(std::coroutine_handle<> h) {
  const Duration timeout = timeout_.value_or(Duration::max());
  subscription_ = condition_.on_met_within(timeout, [this, h](bool met) {
    met_ = met;
    h.resume();
  });
}

SleepUntil::~SleepUntil() {
  if (armed_) executor_.cancel(timer_);
}

void SleepUntil::await_suspend(std::coroutine_handle<> h) {
  armed_ = true;
  timer_ = executor_.schedule_at(deadline_, [this, h] {
    armed_ = false;
    h.resume();
  });
}

}  // namespace smalti
