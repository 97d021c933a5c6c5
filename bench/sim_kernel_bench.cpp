// Simulator kernel throughput: events delivered per second on one core.
//
// Each host runs chains of timers that re-arm themselves (the shape of protocol heartbeats and
// retransmission timers), so every measured event goes through the whole kernel: the event
// queue, the host's incarnation and pause checks, the trace hash and the node's executor.
#include <benchmark/benchmark.h>

#include "smalti/sim/world.hpp"

namespace {

using namespace smalti;

void rearm(env::Executor& executor, env::Clock& clock, Duration period) {
  executor.schedule_at(clock.monotonic() + period,
                       [&executor, &clock, period] { rearm(executor, clock, period); });
}

void BM_SimKernelEvents(benchmark::State& state) {
  const auto hosts = static_cast<std::uint32_t>(state.range(0));
  const int chains_per_host = 16;
  sim::World world({.seed = 1});
  for (std::uint32_t h = 0; h < hosts; ++h) {
    world.add_node({.setup = [chains_per_host](Network& net) {
      for (int c = 0; c < chains_per_host; ++c) {
        rearm(net.node().executor(), net.node().clock(), Duration(1'000'000 + c * 997));
      }
    }});
  }
  std::uint64_t events = 0;
  for (auto _ : state) {
    const std::uint64_t before = world.events_processed();
    for (int i = 0; i < 100'000; ++i) world.step();
    events += world.events_processed() - before;
  }
  state.counters["events_per_second"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimKernelEvents)->Arg(1)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
