// The driver side of a protocol state machine (DESIGN.md section 3).
//
// A driver feeds a machine's handle_* inputs, then calls run_machine(): it pulls every effect
// and hands it to the driver's executor of effects, runs the machine's invariants() and re-arms
// one DeadlineTimer at the machine's next_deadline(), whose expiry the driver turns into
// handle_timeout(). Executor thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <utility>

#include "smalti/base/assert.hpp"
#include "smalti/env/executor.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti {

// One executor timer kept at a moving deadline. Destroying it cancels the timer.
//
// A deadline that moves later keeps the timer where it is: when it fires before the deadline
// wanted, it is simply scheduled again at that one. A machine whose deadline moves with every
// input (an election timer pushed back by each heartbeat) thus costs one event per time its old
// deadline passes, not a cancel and a schedule per input. Only an earlier deadline reschedules.
class DeadlineTimer {
 public:
  DeadlineTimer(env::Executor& executor, std::function<void()> on_due)
      : executor_(executor), on_due_(std::move(on_due)) {}
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;
  ~DeadlineTimer() { disarm(); }

  // Arms the timer at `deadline` (Instant::max() disarms): on_due runs once it has passed.
  void arm(Instant deadline) {
    if (deadline == Instant::max()) return disarm();
    wanted_ = deadline;
    if (timer_ && scheduled_at_ <= deadline) return;  // it fires first, then waits on
    if (timer_) executor_.cancel(*timer_);
    schedule(deadline);
  }
  void disarm() {
    if (timer_) executor_.cancel(*timer_);
    timer_.reset();
    wanted_ = Instant::max();
  }
  // The deadline armed (Instant::max() when none).
  Instant armed_at() const { return wanted_; }

 private:
  void schedule(Instant at) {
    scheduled_at_ = at;
    timer_ = executor_.schedule_at(at, [this] {
      timer_.reset();
      if (wanted_ > scheduled_at_) return schedule(wanted_);  // moved later meanwhile
      wanted_ = Instant::max();
      on_due_();
    });
  }

  env::Executor& executor_;
  std::function<void()> on_due_;
  std::optional<env::TimerId> timer_;
  Instant scheduled_at_ = Instant::max();  // when timer_ fires
  Instant wanted_ = Instant::max();        // the deadline asked for, at or after scheduled_at_
};

// Effects handled in one run_machine() call at most: a machine that keeps producing effects in
// response to its own effects is a bug, and this bound turns the livelock into a crash.
inline constexpr std::size_t kMaxEffectsPerRun = 1u << 20;

// Pulls and executes every pending effect, checks invariants, re-arms the deadline timer.
// Returns the number of effects executed.
template <ProtocolMachine Machine, typename Execute>
std::size_t run_machine(Machine& machine, DeadlineTimer& timer, Execute&& execute) {
  std::size_t executed = 0;
  while (auto effect = machine.poll_effect()) {
    SMALTI_ASSERT(++executed <= kMaxEffectsPerRun, "a state machine produced effects without end");
    execute(std::move(*effect));
  }
  machine.invariants();
  timer.arm(machine.next_deadline());
  return executed;
}

}  // namespace smalti
