// Linearizability checking throughput: operations checked per second (DESIGN.md section 11: a
// 100,000-operation history in under 10 s).
//
// Histories come from a truly linearizable key-value register: clients issue puts, gets and
// compare-and-swaps back to back with random think times; each operation takes effect at a random
// instant inside its interval, with random latencies, so concurrent operations overlap. A
// fraction of operations loses its outcome (completed = max), and of those half never took
// effect. Arguments: operations, keys, clients, outcome-unknown operations per thousand.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/sim/linearizability.hpp"

namespace {

using namespace smalti;
using sim::History;
using sim::KvInput;
using sim::KvModel;

History<KvModel> linearizable_history(Rng& rng, std::uint32_t operations, std::uint64_t keys,
                                      std::uint32_t clients, double unknown) {
  const Duration latency = 2ms;
  History<KvModel> history;
  history.reserve(operations);
  std::vector<std::pair<Instant, std::uint32_t>> effects;  // (instant, operation)
  std::vector<Instant> client_free(clients);
  std::vector<std::uint64_t> last_written(keys + 1, 0);
  std::uint64_t next_value = 1;
  for (std::uint32_t i = 0; i < operations; ++i) {
    const std::uint32_t client = i % clients;
    const std::uint64_t key = 1 + rng.below(keys);
    const std::uint64_t roll = rng.below(10);
    sim::Operation<KvModel> op{.client = client,
                               .invoked = client_free[client] + rng.duration_between(0ns, latency)};
    op.input = roll < 4   ? KvModel::put(key, next_value++)
               : roll < 9 ? KvModel::get(key)
                          : KvModel::cas(key, last_written[key], next_value++);
    if (op.input.kind != KvInput::Kind::kGet) last_written[key] = op.input.value;
    const Instant effect = op.invoked + rng.duration_between(0ns, latency);
    op.completed = effect + rng.duration_between(0ns, latency);
    client_free[client] = op.completed;
    const bool lost = rng.chance(unknown);
    if (lost) op.completed = Instant::max();
    if (!lost || rng.chance(0.5)) effects.emplace_back(effect, i);
    history.push_back(op);
  }
  std::sort(effects.begin(), effects.end());
  std::vector<std::uint64_t> value(keys + 1, 0);
  for (const auto& [effect, i] : effects) {
    sim::Operation<KvModel>& op = history[i];
    std::uint64_t& v = value[op.input.key];
    std::uint64_t output = v;
    if (op.input.kind == KvInput::Kind::kPut) {
      v = op.input.value;
      output = 0;
    } else if (op.input.kind == KvInput::Kind::kCas) {
      output = v == op.input.expected ? 1 : 0;
      if (output == 1) v = op.input.value;
    }
    if (op.completed != Instant::max()) op.output = output;
  }
  return history;
}

void BM_CheckKvHistory(benchmark::State& state) {
  const auto operations = static_cast<std::uint32_t>(state.range(0));
  const auto keys = static_cast<std::uint64_t>(state.range(1));
  const auto clients = static_cast<std::uint32_t>(state.range(2));
  const double unknown = static_cast<double>(state.range(3)) / 1000.0;
  Rng rng(1);
  const History<KvModel> history = linearizable_history(rng, operations, keys, clients, unknown);
  std::uint64_t checked = 0;
  std::uint64_t steps = 0;
  for (auto _ : state) {
    const sim::LinearizabilityResult result = sim::check_linearizability(history);
    if (!result.linearizable()) {
      state.SkipWithError(result.explanation.c_str());
      return;
    }
    checked += history.size();
    steps = result.search_steps;
  }
  state.counters["ops_per_second"] =
      benchmark::Counter(static_cast<double>(checked), benchmark::Counter::kIsRate);
  state.counters["steps_per_op"] = static_cast<double>(steps) / operations;
}
// The headline (DESIGN.md section 11) is ops:100000/keys:1000: 100 operations per key. The others
// stress what makes the search expensive: long partitions, many operations of unknown outcome,
// many concurrent clients, and a single register of 100,000 operations.
BENCHMARK(BM_CheckKvHistory)
    ->ArgNames({"ops", "keys", "clients", "unknown_permille"})
    ->Args({10'000, 100, 10, 0})
    ->Args({100'000, 1'000, 10, 0})
    ->Args({100'000, 1'000, 10, 20})
    ->Args({100'000, 10, 10, 100})
    ->Args({100'000, 100, 50, 20})
    ->Args({100'000, 1, 10, 20})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
