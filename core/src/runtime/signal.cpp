#include "smalti/runtime/signal.hpp"

#include <utility>
#include <vector>

namespace smalti {

Subscription::Subscription(Subscription&& other) noexcept
    : registry_(std::move(other.registry_)),
      id_(std::exchange(other.id_, 0)),
      keepalive_(std::move(other.keepalive_)) {}

Subscription Subscription::holding(std::shared_ptr<void> state) {
  Subscription s;
  s.keepalive_ = std::move(state);
  return s;
}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::move(other.registry_);
    id_ = std::exchange(other.id_, 0);
    keepalive_ = std::move(other.keepalive_);
  }
  return *this;
}

void Subscription::reset() {
  if (auto registry = registry_.lock()) registry->subscribers.erase(id_);
  registry_.reset();
  id_ = 0;
  keepalive_.reset();
}

bool Subscription::active() const {
  if (keepalive_) return true;
  auto registry = registry_.lock();
  return registry && registry->subscribers.count(id_) > 0;
}

void Signal::notify() {
  // Nobody listens: nothing to tell (a later subscriber reads the state when it subscribes).
  if (registry_->notify_pending || registry_->subscribers.empty()) return;
  registry_->notify_pending = true;
  executor_->post([weak = std::weak_ptr<Subscription::Registry>(registry_)] {
    auto registry = weak.lock();
    if (!registry) return;
    registry->notify_pending = false;
    std::vector<std::uint64_t> ids;
    ids.reserve(registry->subscribers.size());
    for (const auto& [id, fn] : registry->subscribers) ids.push_back(id);
    for (std::uint64_t id : ids) {
      // A subscriber may unsubscribe others (or itself) while we go.
      auto it = registry->subscribers.find(id);
      if (it == registry->subscribers.end()) continue;
      auto fn = it->second;
      fn();
    }
  });
}

Subscription Signal::subscribe(std::function<void()> on_change) {
  const std::uint64_t id = registry_->next_id++;
  registry_->subscribers.emplace(id, std::move(on_change));
  return Subscription(registry_, id);
}

}  // namespace smalti
