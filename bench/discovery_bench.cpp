// Simulated discovery at scale: N nodes join through one bootstrap at once.
//
// Reports, per node count: virtual time until every catalog is complete, bytes delivered per
// node per virtual second while converging and in the steady state that follows (periodic
// re-announces, probes and view rotation), the process's peak memory and the wall time.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include "smalti/sim/world.hpp"

namespace {

using namespace smalti;

// How much steady state is simulated after convergence.
constexpr Duration kSteadyState = 5min;
// Convergence is checked once per virtual second.
constexpr Duration kCheckEvery = 1s;
constexpr Duration kGiveUpAfter = 30min;

bool all_complete(sim::World& world, const std::vector<sim::HostId>& hosts) {
  for (sim::HostId h : hosts) {
    if (world.network(h)->discovery().signed_peers_count() != hosts.size() - 1) return false;
  }
  return true;
}

double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double seconds(Duration d) {
  return static_cast<double>(d.count()) / 1e9;
}

void BM_DiscoveryConvergence(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    sim::World world({.seed = 1});
    const NetworkId network = NetworkId::from_string("smalti.bench.discovery");
    std::vector<sim::HostId> hosts;
    for (std::size_t i = 0; i < n; ++i) {
      sim::NodeSpec spec{.name = "n" + std::to_string(i)};
      spec.options.discovery = discovery::Config(network);
      if (i > 0) spec.options.discovery.with_bootstrap(world.addr(hosts[0]));
      hosts.push_back(world.add_node(std::move(spec)));
    }
    const Instant start = world.now();
    bool converged = false;
    while (!converged && world.now() - start < kGiveUpAfter) {
      world.run_for(kCheckEvery);
      converged = all_complete(world, hosts);
    }
    if (!converged) {
      state.SkipWithError("did not converge");
      return;
    }
    const Duration convergence = world.now() - start;
    const std::uint64_t bytes_converging = world.net().stats().bytes_delivered;
    world.run_for(kSteadyState);
    const std::uint64_t bytes_steady = world.net().stats().bytes_delivered - bytes_converging;
    state.counters["nodes"] = static_cast<double>(n);
    state.counters["converged_virtual_s"] = seconds(convergence);
    state.counters["bytes_per_node_s_converging"] =
        static_cast<double>(bytes_converging) / static_cast<double>(n) / seconds(convergence);
    state.counters["bytes_per_node_s_steady"] =
        static_cast<double>(bytes_steady) / static_cast<double>(n) / seconds(kSteadyState);
    state.counters["still_complete"] = all_complete(world, hosts) ? 1 : 0;
    state.counters["peak_memory_mib"] = peak_memory_mib();
  }
}
BENCHMARK(BM_DiscoveryConvergence)
    ->Arg(100)
    ->Arg(1000)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
