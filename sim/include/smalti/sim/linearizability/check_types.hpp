// What a linearizability check is given besides the history (its limits) and what it returns
// (the verdict and, for a violation, an explanation).
//
// Thread-safety: plain values; verdict_name() is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smalti::sim {

// Search steps one partition may take before it gives up (a step takes some tens of ns).
inline constexpr std::uint64_t kMaxSearchSteps = 20'000'000;
// Memory one partition's memo cache may use before the search gives up.
inline constexpr std::uint64_t kMaxSearchCacheBytes = std::uint64_t{512} << 20;
// Operations a report lists, per list (the end of the prefix, the operations left unplaced).
inline constexpr std::size_t kMaxExplainedOperations = 20;

struct LinearizabilityOptions {
  std::uint64_t max_search_steps = kMaxSearchSteps;      // per partition
  std::uint64_t max_cache_bytes = kMaxSearchCacheBytes;  // per partition
};

struct LinearizabilityResult {
  enum class Verdict : std::uint8_t { kLinearizable, kNotLinearizable, kGaveUp };
  Verdict verdict = Verdict::kLinearizable;
  // The partition reported on when the verdict is not kLinearizable; 0 otherwise.
  std::uint64_t partition = 0;
  // For a violation: the partition key, the longest linearizable prefix found, the state after
  // it (when the model can describe states) and the operations that could not be placed next.
  std::string explanation;
  std::uint64_t search_steps = 0;      // over all partitions checked
  std::size_t partitions_checked = 0;  // a violation stops the check early

  bool linearizable() const { return verdict == Verdict::kLinearizable; }
};

// "linearizable", "not linearizable", "gave up".
std::string_view verdict_name(LinearizabilityResult::Verdict verdict);

}  // namespace smalti::sim
