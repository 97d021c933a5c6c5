// Signal: "some state changed", the base of every when() API.
//
// Subscribers run on the executor after notify() (never inline, so a state machine driver that
// notifies is never re-entered); a notify() with no subscriber does nothing, and one who
// subscribes later hears only of later changes. A Subscription unsubscribes when destroyed; a
// Signal destroyed first leaves its subscriptions inert. Executor thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "smalti/env/executor.hpp"

namespace smalti {

class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  // A subscription that keeps `state` alive until it is dropped (for composite waits).
  static Subscription holding(std::shared_ptr<void> state);

  void reset();
  bool active() const;

 private:
  friend class Signal;
  struct Registry {
    std::map<std::uint64_t, std::function<void()>> subscribers;
    std::uint64_t next_id = 1;
    bool notify_pending = false;
  };
  Subscription(std::weak_ptr<Registry> registry, std::uint64_t id)
      : registry_(std::move(registry)), id_(id) {}
  std::weak_ptr<Registry> registry_;
  std::uint64_t id_ = 0;
  std::shared_ptr<void> keepalive_;
};

class Signal {
 public:
  explicit Signal(env::Executor& executor)
      : executor_(&executor), registry_(std::make_shared<Subscription::Registry>()) {}
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // Schedules every subscriber to run once; several notify() calls before they run coalesce.
  void notify();
  [[nodiscard]] Subscription subscribe(std::function<void()> on_change);
  env::Executor& executor() const { return *executor_; }

 private:
  env::Executor* executor_;
  std::shared_ptr<Subscription::Registry> registry_;
};

}  // namespace smalti
