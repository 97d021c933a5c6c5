#include "smalti/runtime/task_scope.hpp"

namespace smalti {

TaskScope::TaskScope(env::Executor& executor)
    : executor_(executor), alive_(std::make_shared<TaskScope*>(this)) {}

TaskScope::~TaskScope() {
  *alive_ = nullptr;
  cancel_all();
}

void TaskScope::spawn(Task<void> task) {
  SMALTI_ASSERT(tasks_.size() < kMaxTasks, "too many tasks in one node");
  auto handle = task.release();
  SMALTI_ASSERT(handle, "spawned an empty task");
  handle.promise().completion.on_detached_done = &TaskScope::on_task_done;
  handle.promise().completion.owner = this;
  const std::uint64_t id = next_id_++;
  tasks_.emplace(id, handle);
  ids_by_frame_.emplace(handle.address(), id);
  executor_.post([alive = std::weak_ptr<TaskScope*>(alive_), id] {
    auto scope_ptr = alive.lock();
    if (!scope_ptr || *scope_ptr == nullptr) return;
    TaskScope& scope = **scope_ptr;
    auto it = scope.tasks_.find(id);
    if (it != scope.tasks_.end()) it->second.resume();
  });
}

void TaskScope::on_task_done(void* owner, std::coroutine_handle<> self) {
  auto* scope = static_cast<TaskScope*>(owner);
  auto it = scope->ids_by_frame_.find(self.address());
  SMALTI_ASSERT(it != scope->ids_by_frame_.end());
  scope->tasks_.erase(it->second);
  scope->ids_by_frame_.erase(it);
  self.destroy();
}

void TaskScope::cancel_all() {
  // Destroying a frame may run destructors that touch the scope; take the set first.
  auto tasks = std::move(tasks_);
  tasks_.clear();
  ids_by_frame_.clear();
  for (auto& [id, handle] : tasks) handle.destroy();
}

}  // namespace smalti
