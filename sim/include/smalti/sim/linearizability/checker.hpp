// check_linearizability(): decides whether a history of a LinearizabilityModel is linearizable,
// partition by partition (see linearizability.hpp for what that means and how it is searched).
//
// Thread-safety: the functions are pure and keep no state between calls; concurrent calls are safe.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/sim/linearizability/check_types.hpp"
#include "smalti/sim/linearizability/history.hpp"
#include "smalti/sim/linearizability/model.hpp"
#include "smalti/sim/linearizability/partition_search.hpp"
#include "smalti/sim/linearizability/report.hpp"

namespace smalti::sim {

// Checks the whole history, partition by partition in ascending key order. Returns the first
// partition that is not linearizable; failing that, the first that gave up (with a count of those
// that did); failing that, kLinearizable. Requires invoked <= completed for every operation.
template <LinearizabilityModel Model>
LinearizabilityResult check_linearizability(std::span<const Operation<Model>> history,
                                            const LinearizabilityOptions& options = {}) {
  SMALTI_ASSERT(history.size() < detail::kNoEntry / 2, "history too long for 32-bit indices");
  std::vector<detail::PartitionMember> members;
  members.reserve(history.size());
  for (std::size_t i = 0; i < history.size(); ++i) {
    SMALTI_ASSERT(history[i].invoked <= history[i].completed,
                  "an operation completes before it starts");
    members.push_back({Model::partition(history[i].input), history[i].invoked.nanos(),
                       static_cast<std::uint32_t>(i)});
  }
  detail::PartitionSearch<Model> search(history, options);
  return detail::check_partitions(
      std::move(members), [&search](std::span<const std::uint32_t> indices, std::uint64_t partition,
                                    detail::PartitionReport* report) {
        const detail::SearchOutcome outcome = search.run(indices);
        if (outcome != detail::SearchOutcome::kLinearizable) {
          *report = search.report(partition, outcome);
        }
        return std::pair(outcome, search.steps());
      });
}

template <LinearizabilityModel Model>
LinearizabilityResult check_linearizability(const History<Model>& history,
                                            const LinearizabilityOptions& options = {}) {
  return check_linearizability<Model>(std::span<const Operation<Model>>(history), options);
}

}  // namespace smalti::sim
