// Stream message rate: one producer, one consumer, 16-byte datums, in the simulator and over
// real QUIC on loopback (both nodes in this process, on one thread). The producer keeps its
// consumer's queue at most half full, as a well-behaved sender does with back-pressure.
#include <benchmark/benchmark.h>

#include <chrono>

#include "smalti/real/real_network.hpp"
#include "smalti/sim/world.hpp"

namespace smalti {
struct Tick16 {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};
SMALTI_FIELDS(Tick16, a, b)
SMALTI_STREAM(Tick16, "bench.tick16")
}  // namespace smalti

namespace {

using namespace smalti;
constexpr std::size_t kBuffer = 4096;
constexpr std::uint64_t kDatums = 500'000;

// Sends while the consumer's queue at the producer has room; returns datums sent.
std::uint64_t feed(streams::Producer<Tick16>& p, std::uint64_t sent, std::uint64_t total) {
  const auto subs = p.consumers();
  if (subs.empty()) return sent;
  std::size_t room = subs[0].queued < kBuffer / 2 ? kBuffer / 2 - subs[0].queued : 0;
  while (room-- > 0 && sent < total) {
    if (!p.try_send(Tick16{sent, sent}).is_ok()) break;
    ++sent;
  }
  return sent;
}

void BM_StreamRateSim(benchmark::State& state) {
  for (auto _ : state) {
    sim::World world({.seed = 1});
    const NetworkId net = NetworkId::from_string("bench");
    sim::NodeSpec a{.name = "a"};
    a.options.discovery = discovery::Config(net);
    const auto ha = world.add_node(a);
    sim::NodeSpec b{.name = "b"};
    b.options.discovery = discovery::Config(net).with_bootstrap(world.addr(ha));
    const auto hb = world.add_node(b);
    auto producer =
        world.network(ha)->streams().producer<Tick16>().with_buffer_size(kBuffer).build().value();
    auto consumer =
        world.network(hb)->streams().consumer<Tick16>().with_buffer_size(kBuffer).build().value();
    world.run_until([&] { return producer.is_online(); }, 60s);
    std::uint64_t sent = 0, received = 0;
    const auto start = std::chrono::steady_clock::now();
    const Instant vstart = world.now();
    while (received < kDatums) {
      sent = feed(producer, sent, kDatums);
      world.run_for(1ms);
      while (consumer.try_recv()) ++received;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.counters["datums_per_wall_s"] = static_cast<double>(received) / wall;
    state.counters["datums_per_virtual_s"] =
        static_cast<double>(received) / (static_cast<double>((world.now() - vstart).count()) / 1e9);
  }
}
BENCHMARK(BM_StreamRateSim)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StreamRateRealQuic(benchmark::State& state) {
  for (auto _ : state) {
    real::Runtime runtime;
    real::RealNetworkOptions options;
    options.network.discovery = discovery::Config(NetworkId::from_string("bench"));
    auto a = real::RealNetwork::create(runtime, options).value();
    options.network.discovery.with_bootstrap(a->network().addr());
    auto b = real::RealNetwork::create(runtime, options).value();
    auto producer =
        a->network().streams().producer<Tick16>().with_buffer_size(kBuffer).build().value();
    auto consumer =
        b->network().streams().consumer<Tick16>().with_buffer_size(kBuffer).build().value();
    const Instant deadline = runtime.monotonic() + 20s;
    while (!producer.is_online() && runtime.monotonic() < deadline) runtime.run_for(5ms);
    if (!producer.is_online()) {
      state.SkipWithError("no subscription");
      return;
    }
    std::uint64_t sent = 0, received = 0;
    const auto start = std::chrono::steady_clock::now();
    while (received < kDatums) {
      sent = feed(producer, sent, kDatums);
      runtime.run_for(200us);
      while (consumer.try_recv()) ++received;
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) break;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.counters["datums_per_s"] = static_cast<double>(received) / wall;
  }
}
BENCHMARK(BM_StreamRateRealQuic)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
