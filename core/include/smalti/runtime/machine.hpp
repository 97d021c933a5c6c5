// The contract every protocol state machine meets (DESIGN.md section 3), and the small base that
// implements its common parts once.
//
// A protocol machine (ping, discovery, a stream's producer or consumer, a bond, Raft, a group
// session, stream admission):
//   - takes inputs through handle_*(now, ...) methods and commands; each calls advance(now)
//     first, the one shared check that `now` never decreases;
//   - produces effects as data, pulled one at a time with poll_effect(), from a bounded queue:
//     peer input that finds the queue at or past its input mark (half the limit) is dropped and
//     counted (dropped_inputs()), as a lost message would be, so a driver that stops pulling
//     cannot make a machine grow without end; commands refuse new work there (kLimitExceeded);
//     an effect pushed past the limit itself is a bug in the machine (SMALTI_ASSERT), so each
//     machine sizes its limit for the most one input can produce;
//   - names one next_deadline(): handle_timeout(t) for any t >= it does the work that was due,
//     after which next_deadline() is later than t (the deadline is honoured);
//   - checks itself with invariants(), which run_machine() (effect_loop.hpp) calls after every
//     input it drives.
// Machines that also need the wall clock (ticket expiry, entry timestamps) take it next to `now`
// and turn wall-clock instants into deadlines with deadline_for(), so their drivers never do.
//
// tests/support/machine_contract.hpp is one contract test, run over every machine by the
// tests/core/**/*_contract_test.cpp files.
// Not synchronised: a machine is owned by one driver on one executor.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "smalti/base/assert.hpp"
#include "smalti/base/time.hpp"

namespace smalti {

// Effects a machine may hold before its driver pulls them. Drivers pull after every input, so
// the queue is normally empty between inputs; the bound only matters when a driver misbehaves.
inline constexpr std::size_t kDefaultEffectLimit = 1u << 16;

// A bounded FIFO of effects.
template <typename Effect>
class EffectQueue {
 public:
  explicit EffectQueue(std::size_t limit) : limit_(limit) {
    SMALTI_ASSERT(limit >= 2, "an effect queue needs room for at least two effects");
  }

  // Peer input is taken only below the input mark, so the effects it produces have room.
  bool below_input_mark() const { return effects_.size() < limit_ / 2; }
  void push(Effect effect) {
    SMALTI_ASSERT(effects_.size() < limit_, "a machine produced more effects than its limit");
    effects_.push_back(std::move(effect));
  }
  // GCC 12 reports the alternatives of the moved variant as uninitialized here, depending on
  // inlining (a false positive, docs/decisions.md); effects_ is not empty, so front() is one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
  std::optional<Effect> pop() {
    if (effects_.empty()) return std::nullopt;
    Effect effect = std::move(effects_.front());
    effects_.pop_front();
    return effect;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  std::size_t size() const {
    return effects_.size();
  }
  bool empty() const {
    return effects_.empty();
  }
  std::size_t limit() const {
    return limit_;
  }
  // For machines whose effects may be rewritten before they are pulled (Raft merges Persists).
  std::deque<Effect>& items() {
    return effects_;
  }

 private:
  std::size_t limit_;
  std::deque<Effect> effects_;
};

// The common part of every machine: the input clock and the effect queue.
template <typename Effect>
class MachineBase {
 public:
  using EffectType = Effect;

  std::optional<Effect> poll_effect() { return effects_.pop(); }
  std::size_t pending_effects() const { return effects_.size(); }
  std::size_t effect_limit() const { return effects_.limit(); }
  // Peer inputs dropped because the effect queue was at its input mark.
  std::uint64_t dropped_inputs() const { return dropped_inputs_; }
  // The `now` of the last input.
  Instant last_input() const { return now_; }

 protected:
  explicit MachineBase(Instant start = Instant{}, std::size_t effect_limit = kDefaultEffectLimit)
      : now_(start), effects_(effect_limit) {}

  // Every input calls this first: `now` never decreases.
  void advance(Instant now) {
    SMALTI_ASSERT(now >= now_, "time went backwards");
    now_ = now;
  }
  // The same, for inputs that also carry the wall clock (which may jump either way).
  void advance(Instant now, WallTime wall) {
    advance(now);
    wall_ = wall;
  }
  // Commands refuse new work (kLimitExceeded) while this is false: the driver has not pulled.
  bool room_for_input() const { return effects_.below_input_mark(); }
  // Peer input (a frame, a message) calls this after advance(): false means drop the input.
  bool admit_peer_input() {
    if (effects_.below_input_mark()) return true;
    ++dropped_inputs_;
    return false;
  }
  void emit(Effect effect) { effects_.push(std::move(effect)); }
  Instant now() const { return now_; }
  WallTime wall() const { return wall_; }
  // The monotonic instant at which the wall clock reads `at`, as of the last input
  // (Instant::max() for WallTime::max(); the last input's `now` for an instant already past).
  Instant deadline_for(WallTime at) const {
    if (at == WallTime::max()) return Instant::max();
    return now_ + std::max(at - wall_, Duration::zero());
  }
  EffectQueue<Effect>& effects() { return effects_; }

 private:
  Instant now_;
  WallTime wall_;
  EffectQueue<Effect> effects_;
  std::uint64_t dropped_inputs_ = 0;
};

// What run_machine() and the contract test need of a machine.
template <typename M>
concept ProtocolMachine = requires(M& machine, const M& view) {
  { machine.poll_effect() } -> std::same_as<std::optional<typename M::EffectType>>;
  { view.next_deadline() } -> std::same_as<Instant>;
  { view.pending_effects() } -> std::same_as<std::size_t>;
  { view.effect_limit() } -> std::same_as<std::size_t>;
  { view.dropped_inputs() } -> std::same_as<std::uint64_t>;
  view.invariants();
};

}  // namespace smalti
