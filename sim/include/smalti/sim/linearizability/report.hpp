// Internal to the linearizability checker: how a partition's search reports a verdict other than
// kLinearizable, and the model-independent driver that runs the search partition by partition
// and turns its reports into a LinearizabilityResult.
//
// Thread-safety: the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "smalti/base/time.hpp"
#include "smalti/sim/linearizability/check_types.hpp"
#include "smalti/sim/linearizability/search_state.hpp"

namespace smalti::sim {
namespace detail {

enum class SearchOutcome : std::uint8_t { kLinearizable, kNotLinearizable, kGaveUp };

// One operation as a report shows it.
struct ReportedOperation {
  std::size_t index = 0;  // in the history
  std::uint64_t client = 0;
  Instant invoked;
  Instant completed;
  std::string text;  // Model::describe()
};

struct PartitionReport {
  std::uint64_t partition = 0;
  SearchOutcome outcome = SearchOutcome::kLinearizable;
  std::string gave_up_reason;  // which limit, for kGaveUp
  std::size_t operations = 0;
  std::uint64_t steps = 0;
  std::size_t prefix_length = 0;
  std::vector<ReportedOperation> prefix_tail;  // the last operations of the prefix, in order
  std::optional<std::string> state_after_prefix;
  std::size_t unplaced_count = 0;
  std::size_t unplaced_unknown = 0;         // of those, the ones of unknown outcome
  std::vector<ReportedOperation> unplaced;  // the first operations that could come next
};

std::string format_report(const PartitionReport& report);
// The operations not placed that could come next: those invoked by the first completion of one
// not placed (but the omitted ones); the required ones first, each kind in order.
std::vector<std::uint32_t> next_candidates(const std::vector<bool>& placed,
                                           std::span<const std::int64_t> invoked,
                                           std::span<const std::int64_t> completed,
                                           std::span<const OpClass> classes);

// An operation's place in the check: its partition, then invocation order.
struct PartitionMember {
  std::uint64_t partition = 0;
  std::int64_t invoked = 0;
  std::uint32_t index = 0;  // in the history
};
// Runs check_partition on each partition's history indices, in (invoked, index) order, in
// ascending partition order, and assembles the result. check_partition returns the outcome and
// its search steps, and fills the report when the outcome is not kLinearizable.
LinearizabilityResult check_partitions(
    std::vector<PartitionMember> members,
    const std::function<std::pair<SearchOutcome, std::uint64_t>(
        std::span<const std::uint32_t>, std::uint64_t, PartitionReport*)>& check_partition);

}  // namespace detail
}  // namespace smalti::sim
