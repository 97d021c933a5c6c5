// await_callback<T>(start): turns a callback-style operation into an awaitable.
//
// `start` receives a `std::function<void(T)>` to call once with the result. If the awaiting task
// is destroyed first, the late result is dropped (its destructor runs, which for a Link closes
// it). Executor thread only.
#pragma once

#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "smalti/base/assert.hpp"

namespace smalti {

template <typename T>
class CallbackAwaiter {
 public:
  using Start = std::function<void(std::function<void(T)>)>;
  explicit CallbackAwaiter(Start start)
      : start_(std::move(start)), state_(std::make_shared<State>()) {}
  CallbackAwaiter(const CallbackAwaiter&) = delete;
  CallbackAwaiter& operator=(const CallbackAwaiter&) = delete;
  ~CallbackAwaiter() { state_->waiter = {}; }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    state_->waiter = h;
    start_([weak = std::weak_ptr<State>(state_)](T result) {
      auto state = weak.lock();
      if (!state || state->result.has_value()) return;
      state->result.emplace(std::move(result));
      if (state->waiter && state->suspended) std::exchange(state->waiter, {}).resume();
    });
    // The callback may have run inline: then do not suspend at all.
    if (state_->result.has_value()) return false;
    state_->suspended = true;
    return true;
  }
  T await_resume() {
    SMALTI_ASSERT(state_->result.has_value());
    return std::move(*state_->result);
  }

 private:
  struct State {
    std::coroutine_handle<> waiter;
    std::optional<T> result;
    bool suspended = false;
  };
  Start start_;
  std::shared_ptr<State> state_;
};

template <typename T>
CallbackAwaiter<T> await_callback(typename CallbackAwaiter<T>::Start start) {
  return CallbackAwaiter<T>(std::move(start));
}

}  // namespace smalti
