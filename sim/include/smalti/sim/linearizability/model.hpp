// The sequential specification a history is checked against: the LinearizabilityModel concept
// and the types of its optional hooks. KvModel (kv_model.hpp) is the one smalti ships; users write
// their own for their state machines.
//
// Thread-safety: only types and a concept; a model's functions are static and must be pure.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>

namespace smalti::sim {

// A sequential specification. State is the state of one partition: every partition starts from
// init(). step() returns the state after `input` when, in `state`, the operation could have
// returned `output`, and nothing when it could not; with no output, any output is allowed and it
// returns the state after applying the operation. Models are deterministic (one next state).
// hash() must agree with ==.
//
// Optional hooks, which make unknown-outcome operations much cheaper to search:
//   static bool is_read_only(const Input&)
//     step(s, input, output) is s or refused, for every s and output.
//   static bool is_blind_write(const Input&)
//     step(s, input, output) does not depend on s (the same state, or refused, in every state).
//   static std::optional<SpecialState<State>> special_state(const Input&,
//                                                          const std::optional<Output>&)
//     A state in which the operation (with this output) may behave unlike in all the others,
//     and what it does in all the others: be refused, or leave the state unchanged. Empty when
//     the operation is not of that shape.
//   static std::string describe_state(const State&)
//     Reports show the state after the longest linearizable prefix.
template <typename M>
concept LinearizabilityModel = std::copyable<typename M::State> &&
    std::equality_comparable<typename M::State> && std::copyable<typename M::Input> &&
    std::copyable<typename M::Output> &&
    requires(const typename M::State& state, const typename M::Input& input,
             const std::optional<typename M::Output>& output) {
  { M::init() } -> std::same_as<typename M::State>;
  { M::step(state, input, output) } -> std::same_as<std::optional<typename M::State>>;
  { M::hash(state) } -> std::same_as<std::uint64_t>;
  { M::partition(input) } -> std::same_as<std::uint64_t>;
  { M::describe(input, output) } -> std::same_as<std::string>;
};

// What an operation does in every state but its special one (see special_state above).
enum class Elsewhere : std::uint8_t { kRefused, kUnchanged };
template <typename State>
struct SpecialState {
  State state;
  Elsewhere elsewhere = Elsewhere::kRefused;
};

}  // namespace smalti::sim
