// KvModel: the LinearizabilityModel of a key-value map, with all of the optional hooks, for the
// histories of KvStateMachine (kv_state_machine.hpp) and as an example for users' own models.
//
// Thread-safety: static pure functions only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "smalti/sim/linearizability/model.hpp"

namespace smalti::sim {

// KvModel: a map from 64-bit keys to 64-bit values, checked one key at a time.
//
// Value 0 means absent: a get of a missing key returns 0 and put(k, 0) deletes k. The output is
// one word: get returns the value read; cas returns 1 when it swapped and 0 when it did not; a
// put's output is ignored. partition() is the key, so State is the value of a single key.
struct KvInput {
  enum class Kind : std::uint8_t { kPut, kGet, kCas };
  Kind kind = Kind::kGet;
  std::uint64_t key = 0;
  std::uint64_t value = 0;     // kPut: the value written; kCas: the value swapped in
  std::uint64_t expected = 0;  // kCas: the value that must be present for the swap
};

struct KvModel {
  using Input = KvInput;
  using Output = std::uint64_t;
  using State = std::uint64_t;

  static Input put(std::uint64_t key, std::uint64_t value) {
    return {Input::Kind::kPut, key, value};
  }
  static Input get(std::uint64_t key) { return {Input::Kind::kGet, key}; }
  static Input cas(std::uint64_t key, std::uint64_t expected, std::uint64_t value) {
    return {Input::Kind::kCas, key, value, expected};
  }

  static State init() { return 0; }
  static std::optional<State> step(const State& state, const Input& input,
                                   const std::optional<Output>& output) {
    switch (input.kind) {
      case Input::Kind::kPut:
        return input.value;
      case Input::Kind::kGet:
        if (output && *output != state) return std::nullopt;
        return state;
      case Input::Kind::kCas: {
        const bool swaps = state == input.expected;
        if (output && *output != (swaps ? 1u : 0u)) return std::nullopt;
        return swaps ? input.value : state;
      }
    }
    return std::nullopt;
  }
  static std::uint64_t hash(const State& state) { return state; }
  static std::uint64_t partition(const Input& input) { return input.key; }
  static bool is_read_only(const Input& input) { return input.kind == Input::Kind::kGet; }
  static bool is_blind_write(const Input& input) { return input.kind == Input::Kind::kPut; }
  // A get is refused unless it read the value; a cas acts, or is refused, at its expected value
  // only; a put is a blind write.
  static std::optional<SpecialState<State>> special_state(const Input& input,
                                                          const std::optional<Output>& output);
  // "put(3, 7)", "delete(3)", "get(3) -> 7", "get(3) -> absent", "cas(3, 7 -> 8) -> ok", "... ->
  // ?".
  static std::string describe(const Input& input, const std::optional<Output>& output);
  // "7" or "absent".
  static std::string describe_state(const State& state);
};

}  // namespace smalti::sim
