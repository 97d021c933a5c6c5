// What the scenario runner watches of discovery: catalog sizes over time and convergence.
//
// Once per virtual second it samples every node's catalog. With `report every D` it prints a
// line per D: each node's count of known peers ("-" for a crashed node), and how many live
// nodes know every other live node. The check discovery-converged passes when, within its bound
// after the last fault ends, every live node knows every other live node (entries of crashed
// nodes may linger until purge_after). Single-threaded; lives outside the simulated nodes.
#pragma once

#include <optional>
#include <ostream>
#include <vector>

#include "smalti/scenarios/runner.hpp"
#include "smalti/scenarios/scenario.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::scenarios {

class DiscoveryWatch {
 public:
  explicit DiscoveryWatch(const Scenario& scenario) : scenario_(scenario) {}

  // Schedules the samples; `out` (may be null) receives the report lines.
  void schedule(sim::World& world, std::ostream* out);
  std::vector<CheckResult> evaluate() const;

 private:
  void sample(sim::World& world, std::ostream* out);
  // Live nodes that know every other live node.
  std::size_t complete_nodes(sim::World& world) const;

  const Scenario& scenario_;
  std::optional<Duration> converged_at_;  // first sample at or after the last fault that was
};

}  // namespace smalti::scenarios
