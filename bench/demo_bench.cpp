// The demo scenario's speed: virtual time simulated per second of wall time.
#include <benchmark/benchmark.h>

#include <string>

#include "smalti/scenarios/runner.hpp"

namespace {

void BM_DemoScenario(benchmark::State& state) {
  auto scenario = smalti::scenarios::load_scenario(std::string(SMALTI_SOURCE_DIR) +
                                                   "/scenarios/files/demo.scn");
  if (!scenario.is_ok()) {
    state.SkipWithError(scenario.status().to_string().c_str());
    return;
  }
  // The determinism check re-runs the scenario twice; measure one run.
  std::erase_if(scenario->checks, [](const smalti::scenarios::Check& c) {
    return c.kind == smalti::scenarios::CheckKind::kDeterminism;
  });
  std::uint64_t seed = 1;
  double virtual_seconds = 0;
  std::uint64_t events = 0;
  for (auto _ : state) {
    smalti::scenarios::RunOptions options;
    options.seed = seed++;
    const auto report = smalti::scenarios::run_scenario(*scenario, options);
    virtual_seconds += static_cast<double>(report.virtual_time.count()) / 1e9;
    events += report.events;
  }
  state.counters["virtual_seconds_per_wall_second"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
  state.counters["events_per_second"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DemoScenario)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
