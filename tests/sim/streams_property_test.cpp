// Stream delivery properties over random topologies, rates and fault schedules (RapidCheck):
// on every producer-to-consumer path what arrives is in order and without duplicates, and once
// the faults are over every consumer (they all keep up) receives everything each producer sends.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "smalti/sim/world.hpp"

namespace smalti {
struct Seq {
  std::uint64_t producer = 0;  // host number
  std::uint32_t incarnation = 0;
  std::uint64_t n = 0;
};
SMALTI_FIELDS(Seq, producer, incarnation, n)
SMALTI_STREAM(Seq, "test.seq")
}  // namespace smalti

namespace smalti::sim {
namespace {

struct Log {
  std::map<HostId, std::vector<Seq>> received;  // by consumer
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::vector<std::pair<std::uint64_t, Instant>>>
      sent;  // by (producer, incarnation): (n, when)
};

Task<void> produce(World& w, Network& net, std::shared_ptr<Log> log, HostId self, Duration every) {
  auto producer = net.streams().producer<Seq>().with_buffer_size(256).build().value();
  const std::uint32_t inc = w.incarnation(self);
  for (std::uint64_t n = 0;; ++n) {
    co_await net.node().sleep(every);
    if (producer.try_send(Seq{self, inc, n}).is_ok())
      log->sent[{self, inc}].push_back({n, w.now()});
  }
}

Task<void> consume(Network& net, std::shared_ptr<Log> log, HostId self) {
  auto consumer = net.streams().consumer<Seq>().with_buffer_size(256).build().value();
  while (true) log->received[self].push_back(co_await consumer.recv());
}

constexpr Duration kFaultsEnd = 45s;
constexpr Duration kSettled = 75s;  // reconnection backoffs have run out by then
constexpr Duration kEnd = 95s;

RC_GTEST_PROP(StreamProperties, InOrderWithoutDuplicatesAndCompleteAfterFaults, ()) {
  const auto producers = *rc::gen::inRange<std::size_t>(1, 3);
  const auto consumers = *rc::gen::inRange<std::size_t>(1, 4);
  const auto every = Duration(std::chrono::milliseconds(*rc::gen::inRange<int>(5, 50)));
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  const std::size_t n = producers + consumers;
  World world({.seed = seed});
  auto log = std::make_shared<Log>();
  const NetworkId network = NetworkId::from_string("stream-props");
  std::vector<HostId> hosts;
  for (std::size_t i = 0; i < n; ++i) {
    NodeSpec spec{.name = "n" + std::to_string(i)};
    spec.options.discovery =
        discovery::Config(network).with_announce_interval(5s).with_purge_after(30s);
    if (i > 0) spec.options.discovery.with_bootstrap(world.addr(hosts[0]));
    const HostId self = static_cast<HostId>(i);
    if (i < producers) {
      spec.setup = [&world, log, self, every](Network& net) {
        net.spawn(produce(world, net, log, self, every));
      };
    } else {
      spec.setup = [log, self](Network& net) { net.spawn(consume(net, log, self)); };
    }
    hosts.push_back(world.add_node(std::move(spec)));
  }
  // Up to three faults, all over by kFaultsEnd: partitions and crashes with restarts.
  const auto faults = *rc::gen::inRange<int>(0, 4);
  for (int f = 0; f < faults; ++f) {
    const auto start = Duration(std::chrono::seconds(*rc::gen::inRange<int>(5, 35)));
    const auto length = Duration(std::chrono::seconds(*rc::gen::inRange<int>(1, 10)));
    const auto victim = hosts[*rc::gen::inRange<std::size_t>(1, n)];
    if (*rc::gen::arbitrary<bool>()) {
      world.at(Instant() + start, [&world, victim, hosts] {
        std::vector<HostId> rest;
        for (HostId h : hosts) {
          if (h != victim) rest.push_back(h);
        }
        world.net().partition({victim}, rest);
      });
      world.at(Instant() + start + length, [&world] { world.net().heal_all(); });
    } else {
      world.at(Instant() + start, [&world, victim] {
        if (world.network(victim)) world.crash(victim);
      });
      world.at(Instant() + start + length, [&world, victim] {
        if (!world.network(victim)) world.restart(victim);
      });
    }
  }
  world.at(Instant() + kFaultsEnd, [&world] { world.net().heal_all(); });
  world.run_until(Instant() + kEnd);

  // In order, without duplicates, per (producer, incarnation), for every consumer.
  for (const auto& [consumer, got] : log->received) {
    std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint64_t> next;
    for (const Seq& s : got) {
      auto [it, first] = next.try_emplace({s.producer, s.incarnation}, s.n);
      RC_ASSERT(first || s.n >= it->second);
      it->second = s.n + 1;
    }
  }
  // Complete once settled: every consumer got every datum of every live producer incarnation.
  for (std::size_t c = producers; c < n; ++c) {
    std::map<std::pair<std::uint64_t, std::uint32_t>, std::set<std::uint64_t>> got;
    for (const Seq& s : log->received[static_cast<HostId>(c)])
      got[{s.producer, s.incarnation}].insert(s.n);
    for (std::size_t p = 0; p < producers; ++p) {
      const std::pair<std::uint64_t, std::uint32_t> key{p, world.incarnation(hosts[p])};
      for (const auto& [seq, at] : log->sent[key]) {
        if (at < Instant() + kSettled || at > Instant() + kEnd - 1s) continue;
        RC_ASSERT(got[key].count(seq) == 1u);
      }
    }
  }
}

}  // namespace
}  // namespace smalti::sim
