#include "smalti/scenarios/discovery_watch.hpp"

#include <cstdio>
#include <string>

namespace smalti::scenarios {
namespace {

constexpr Duration kSamplePeriod = 1s;

std::vector<HostId> live_hosts(sim::World& world) {
  std::vector<HostId> live;
  for (HostId h = 0; h < world.host_count(); ++h) {
    if (world.network(h) != nullptr) live.push_back(h);
  }
  return live;
}

}  // namespace

void DiscoveryWatch::schedule(sim::World& world, std::ostream* out) {
  if (!scenario_.discovery.enabled) return;
  for (Duration t = kSamplePeriod; t <= scenario_.duration; t += kSamplePeriod) {
    world.at(Instant() + t, [this, &world, out] { sample(world, out); });
  }
}

std::size_t DiscoveryWatch::complete_nodes(sim::World& world) const {
  const std::vector<HostId> live = live_hosts(world);
  std::size_t complete = 0;
  for (HostId h : live) {
    auto& d = world.network(h)->discovery();
    bool knows_all = true;
    for (HostId other : live) {
      if (other != h && !d.when().knows(world.peer_id(other)).is_met()) {
        knows_all = false;
        break;
      }
    }
    complete += knows_all ? 1 : 0;
  }
  return complete;
}

void DiscoveryWatch::sample(sim::World& world, std::ostream* out) {
  const Duration now = world.now().since_origin();
  const std::size_t live = live_hosts(world).size();
  const std::size_t complete = complete_nodes(world);
  if (!converged_at_ && now >= last_fault_end(scenario_) && complete == live) converged_at_ = now;
  const Duration every = scenario_.discovery.report_every;
  if (out == nullptr || every <= Duration::zero() || now.count() % every.count() != 0) return;
  std::string sizes;
  for (HostId h = 0; h < world.host_count(); ++h) {
    Network* net = world.network(h);
    sizes += net ? std::to_string(net->discovery().signed_peers_count()) : std::string("-");
    sizes += h + 1 < world.host_count() ? " " : "";
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%.3fs] discovery: %zu/%zu live nodes know all live nodes;",
                static_cast<double>(now.count()) / 1e9, complete, live);
  *out << buf << " peers known per node: " << sizes << '\n';
}

std::vector<CheckResult> DiscoveryWatch::evaluate() const {
  std::vector<CheckResult> results;
  for (const Check& c : scenario_.checks) {
    if (c.kind != CheckKind::kDiscoveryConverged) continue;
    CheckResult r{"discovery-converged", false, true, ""};
    const Duration last = last_fault_end(scenario_);
    r.passed = converged_at_ && *converged_at_ <= last + c.within;
    r.detail = converged_at_ ? "every live node knew every other live node " +
                                   format_duration(*converged_at_ - last) + " after the last fault"
                             : "catalogs were still incomplete at the end of the run";
    if (converged_at_ && !r.passed) r.detail += ", later than " + format_duration(c.within);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace smalti::scenarios
