// Executor: the single thread of work of a node.
//
// Everything a node does runs as a function posted to its executor, one at a time, so node code
// needs no locks. post() runs a function soon, after work already posted; schedule_at() runs it
// once the node's monotonic clock reaches `at` (in order of (at, scheduling order)); cancel()
// drops a scheduled function that has not run yet (cancelling an id that already ran or was
// cancelled does nothing). In the simulator all three are deterministic events on the world's
// queue; on the real backend post() is the only call that other threads may make.
#pragma once

#include <cstdint>
#include <functional>

#include "smalti/base/time.hpp"

namespace smalti::env {

using Task = std::function<void()>;

struct TimerId {
  std::uint64_t value = 0;
  // Backend-specific locator (the simulator's queue slot), so cancel() needs no lookup table.
  std::uint32_t slot = 0;
  friend bool operator==(TimerId, TimerId) = default;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void post(Task fn) = 0;
  virtual TimerId schedule_at(Instant at, Task fn) = 0;
  virtual void cancel(TimerId id) = 0;
};

}  // namespace smalti::env
