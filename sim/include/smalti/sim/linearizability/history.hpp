// Histories: the operations a test recorded, each with the client that issued it, when it was
// invoked, when it completed and what it returned.
//
// An operation whose outcome is unknown (a timeout, a crashed client) has completed ==
// Instant::max(): it may take effect at any point after its invocation, or never. An empty output
// with a finite completion means the operation did take effect within its interval but what it
// returned was not recorded; the model then accepts any output.
//
// Thread-safety: plain values, with no synchronisation of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "smalti/base/time.hpp"

namespace smalti::sim {

// One entry of a history. Requires invoked <= completed.
template <typename Model>
struct Operation {
  std::uint64_t client = 0;
  Instant invoked;
  Instant completed = Instant::max();  // max(): outcome unknown (timed out, crashed)
  typename Model::Input input{};
  std::optional<typename Model::Output> output;  // empty when unknown
};

template <typename Model>
using History = std::vector<Operation<Model>>;

}  // namespace smalti::sim
