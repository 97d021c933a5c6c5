// Task<T>: a lazily started C++20 coroutine, the unit of asynchronous work in a node.
//
// A Task starts when it is awaited (`co_await task`), or when the node spawns it (Node::spawn),
// and resumes its awaiter when it finishes. Destroying a Task destroys its coroutine frame and so
// cancels the work: every awaitable in smalti unregisters itself when its frame is destroyed.
// Tasks run on their node's executor thread only; they are not thread-safe. Exceptions are not
// used: an exception escaping a task is a programmer error and aborts.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "smalti/base/assert.hpp"

namespace smalti {

template <typename T>
class Task;

namespace detail {

// What a finished coroutine does: resume its awaiter, or tell its owner (spawned tasks).
struct TaskCompletion {
  std::coroutine_handle<> continuation;
  // True once the awaiter has really suspended; false while the child runs inline inside the
  // awaiter's await_suspend (then finishing just returns there, see Task::await_suspend).
  bool awaiter_suspended = false;
  void (*on_detached_done)(void* owner, std::uint64_t id, std::coroutine_handle<> self) = nullptr;
  void* owner = nullptr;
  std::uint64_t id = 0;
};

struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
    TaskCompletion& done = self.promise().completion;
    if (done.continuation) {
      return done.awaiter_suspended ? done.continuation : std::noop_coroutine();
    }
    if (done.on_detached_done != nullptr) done.on_detached_done(done.owner, done.id, self);
    return std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

// Starts `child` inline. A child that finishes without suspending lets the awaiter continue at
// once (no resumption, so loops of synchronous awaits never grow the stack, whatever the
// optimisation level); one that suspends resumes the awaiter when it finishes.
template <typename Promise>
bool start_awaited(std::coroutine_handle<Promise> child, std::coroutine_handle<> awaiter) {
  TaskCompletion& done = child.promise().completion;
  done.continuation = awaiter;
  done.awaiter_suspended = false;
  child.resume();
  if (child.done()) return false;
  done.awaiter_suspended = true;
  return true;
}

struct PromiseBase {
  TaskCompletion completion;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() const noexcept {
    SMALTI_ASSERT(false, "an exception escaped a smalti::Task");
  }
};

template <typename T>
struct TaskPromise;

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;

  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiter) {
    return detail::start_awaited(handle_, awaiter);
  }
  T await_resume() {
    if constexpr (!std::is_void_v<T>) {
      SMALTI_ASSERT(handle_.promise().value.has_value(), "Task finished without a value");
      return std::move(*handle_.promise().value);
    }
  }

  // For the runtime: gives up ownership of the frame.
  std::coroutine_handle<promise_type> release() { return std::exchange(handle_, {}); }

 private:
  friend promise_type;
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  void reset() {
    if (handle_) handle_.destroy();
    handle_ = {};
  }
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <typename T>
struct TaskPromise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() {
    return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
  }
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct TaskPromise<void> : PromiseBase {
  Task<void> get_return_object() {
    return Task<void>(std::coroutine_handle<TaskPromise>::from_promise(*this));
  }
  void return_void() const noexcept {}
};

}  // namespace detail
}  // namespace smalti
