// Simulated discovery at scale: N nodes join through one bootstrap at once.
//
// Reports, per node count: virtual time until every catalog is complete, bytes delivered per
// node per virtual second while converging and in the steady state that follows (periodic
// re-announces, probes and view rotation), the process's peak memory and the wall time.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
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
constexpr Duration kProgressEvery = 2s;

double seconds(Duration d) {
  return static_cast<double>(d.count()) / 1e9;
}

// Nodes whose catalog holds every other node.
std::size_t complete_nodes(sim::World& world, const std::vector<sim::HostId>& hosts) {
  std::size_t complete = 0;
  for (sim::HostId h : hosts) {
    complete += world.network(h)->discovery().signed_peers_count() == hosts.size() - 1;
  }
  return complete;
}

bool all_complete(sim::World& world, const std::vector<sim::HostId>& hosts) {
  return complete_nodes(world, hosts) == hosts.size();
}

// A progress line on stderr every 10 virtual seconds, for the long runs.
void progress(sim::World& world, const std::vector<sim::HostId>& hosts) {
  if (world.now().since_origin().count() % kProgressEvery.count() != 0) return;
  std::size_t known = 0;
  std::size_t isolated = 0;
  for (sim::HostId h : hosts) {
    auto& d = world.network(h)->discovery();
    known += d.signed_peers_count();
    isolated += d.neighbours().empty();
  }
  std::fprintf(stderr,
               "  t=%.0fs complete=%zu/%zu mean known=%.1f without neighbours=%zu events=%llu "
               "bytes=%llu\n",
               seconds(world.now().since_origin()), complete_nodes(world, hosts), hosts.size(),
               static_cast<double>(known) / static_cast<double>(hosts.size()), isolated,
               static_cast<unsigned long long>(world.events_processed()),
               static_cast<unsigned long long>(world.net().stats().bytes_delivered));
}

double peak_memory_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
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
      progress(world, hosts);
    }
    if (!converged) {
      state.SkipWithError("did not converge");
      return;
    }
    const Duration convergence = world.now() - start;
    const std::uint64_t bytes_converging = world.net().stats().bytes_delivered;
    for (Duration t{0}; t < kSteadyState; t += kProgressEvery) {
      world.run_for(kProgressEvery);
      progress(world, hosts);
    }
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
