// TaskScope: owns the detached tasks of a node.
//
// spawn() takes a Task<void> and starts it on the executor (not inline, so spawning never
// re-enters the caller). A finished task frees itself. Destroying the scope (or cancel_all())
// destroys every unfinished task, which unregisters whatever it was waiting for: this is how a
// node's work is cancelled on shutdown and on a simulated crash. Executor thread only.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "smalti/env/executor.hpp"
#include "smalti/runtime/task.hpp"

namespace smalti {

class TaskScope {
 public:
  // The bound on tasks alive at once; spawn() beyond it is a programmer error.
  static constexpr std::size_t kMaxTasks = 1u << 20;

  explicit TaskScope(env::Executor& executor);
  ~TaskScope();
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;

  // Starts `task`; while the scope is cancelling, the task is destroyed instead.
  void spawn(Task<void> task);
  // Destroys every unfinished task now. Must not be called from one of the scope's own tasks
  // (it would free the running frame): use cancel_all_later() there.
  void cancel_all();
  // Destroys every unfinished task in a later executor turn.
  void cancel_all_later();
  std::size_t size() const { return tasks_.size(); }

 private:
  static void on_task_done(void* owner, std::uint64_t id, std::coroutine_handle<> self);

  env::Executor& executor_;
  // Keyed by spawn order, so cancellation destroys tasks in a deterministic order.
  std::map<std::uint64_t, std::coroutine_handle<>> tasks_;
  std::uint64_t next_id_ = 1;
  bool cancelling_ = false;
  // Lets posted start-ups detect that the scope (or the task) is gone.
  std::shared_ptr<TaskScope*> alive_;
};

}  // namespace smalti
