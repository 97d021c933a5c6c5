#include "smalti/runtime/task_scope.hpp"

namespace smalti {

TaskScope::TaskScope(env::Executor& executor)
    : executor_(executor), alive_(std::make_shared<TaskScope*>(this)) {}

TaskScope::~TaskScope() {
  *alive_ = nullptr;
  cancel_all();
}

void TaskScope::spawn(Task<void> task) {
  if (cancelling_) return;  // `task` is destroyed here, unstarted
  SMALTI_ASSERT(tasks_.size() < kMaxTasks, "too many tasks in one node");
  auto handle = task.release();
  SMALTI_ASSERT(handle, "spawned an empty task");
  const std::uint64_t id = next_id_++;
  handle.promise().completion.on_detached_done = &TaskScope::on_task_done;
  handle.promise().completion.owner = this;
  handle.promise().completion.id = id;
  tasks_.emplace(id, handle);
  executor_.post([alive = std::weak_ptr<TaskScope*>(alive_), id] {
    auto scope_ptr = alive.lock();
    if (!scope_ptr || *scope_ptr == nullptr) return;
    TaskScope& scope = **scope_ptr;
    auto it = scope.tasks_.find(id);
    if (it != scope.tasks_.end()) it->second.resume();
  });
}

void TaskScope::on_task_done(void* owner, std::uint64_t id, std::coroutine_handle<> self) {
  auto* scope = static_cast<TaskScope*>(owner);
  const std::size_t erased = scope->tasks_.erase(id);
  SMALTI_ASSERT(erased == 1, "a finished task was not in its scope");
  self.destroy();
}

void TaskScope::cancel_all() {
  // Destroying a frame runs destructors that may touch the scope or spawn: spawns are refused
  // while cancelling, and the loop drains whatever remains.
  cancelling_ = true;
  while (!tasks_.empty()) {
    auto it = tasks_.begin();
    auto handle = it->second;
    tasks_.erase(it);
    handle.destroy();
  }
  cancelling_ = false;
}

void TaskScope::cancel_all_later() {
  executor_.post([alive = std::weak_ptr<TaskScope*>(alive_)] {
    auto scope = alive.lock();
    if (scope && *scope != nullptr) (*scope)->cancel_all();
  });
}

}  // namespace smalti
