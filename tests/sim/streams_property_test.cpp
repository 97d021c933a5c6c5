// Stream delivery properties over random topologies, rates and fault schedules (RapidCheck):
// on every producer-to-consumer path what arrives is in order and without duplicates, and once
// the faults are over every consumer (they all keep up) receives everything each producer sends.
// In half of the cases the BUGGIFY fault points (docs/buggify.md) are on until the faults end,
// link.refuse_send among them.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>
#include <sstream>

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

// A partition of one host from the rest, or a crash with a restart, over [start, start + length).
struct Fault {
  int start_s = 0;
  int length_s = 0;
  std::size_t victim = 1;  // index of the host, never 0 (the bootstrap)
  bool partition = true;
};

struct Case {
  std::size_t producers = 1;
  std::size_t consumers = 1;
  Duration every = 10ms;
  std::uint64_t seed = 1;
  std::vector<Fault> faults;  // all over by kFaultsEnd
  // BUGGIFY on until the faults end (docs/buggify.md): each fault point enabled with the world's
  // default probability, and firing with its default probability when reached.
  bool buggify = false;
};

std::string describe(const Case& c) {
  std::ostringstream out;
  out << "world seed " << c.seed << ", " << c.producers << " producers, " << c.consumers
      << " consumers, a datum every " << format_duration(c.every) << ", faults:";
  for (const Fault& f : c.faults) {
    out << " " << f.start_s << "s+" << f.length_s << "s " << (f.partition ? "partition" : "crash")
        << "(n" << f.victim << ")";
  }
  if (c.buggify) out << ", buggify";
  return out.str();
}

Case generate_case() {
  Case c;
  c.producers = *rc::gen::inRange<std::size_t>(1, 3);
  c.consumers = *rc::gen::inRange<std::size_t>(1, 4);
  c.every = Duration(std::chrono::milliseconds(*rc::gen::inRange<int>(5, 50)));
  c.seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
  const std::size_t n = c.producers + c.consumers;
  // Up to three faults, all over by kFaultsEnd: partitions and crashes with restarts.
  const auto faults = *rc::gen::inRange<int>(0, 4);
  for (int f = 0; f < faults; ++f) {
    Fault fault;
    fault.start_s = *rc::gen::inRange<int>(5, 35);
    fault.length_s = *rc::gen::inRange<int>(1, 10);
    fault.victim = *rc::gen::inRange<std::size_t>(1, n);
    fault.partition = *rc::gen::arbitrary<bool>();
    c.faults.push_back(fault);
  }
  c.buggify = *rc::gen::arbitrary<bool>();
  return c;
}

// One case, under RapidCheck (RC_ASSERT fails the property) or replayed by a plain test.
void run_case(const Case& test_case) {
  const auto& [producers, consumers, every, seed, faults, buggify] = test_case;
  if (buggify) RC_TAG("buggify");
  RC_LOG() << describe(test_case) << "\n";
  const std::size_t n = producers + consumers;
  // BUGGIFY on in the generated half of the cases; off when the faults end.
  World world({.seed = seed, .buggify = buggify});
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
      spec.setup = [&world, log, self, every = every](Network& net) {
        net.spawn(produce(world, net, log, self, every));
      };
    } else {
      spec.setup = [log, self](Network& net) { net.spawn(consume(net, log, self)); };
    }
    hosts.push_back(world.add_node(std::move(spec)));
  }
  for (const Fault& fault : faults) {
    const Instant start = Instant() + Duration(std::chrono::seconds(fault.start_s));
    const Instant end = start + Duration(std::chrono::seconds(fault.length_s));
    const HostId victim = hosts[fault.victim];
    if (fault.partition) {
      world.at(start, [&world, victim, hosts] {
        std::vector<HostId> rest;
        for (HostId h : hosts) {
          if (h != victim) rest.push_back(h);
        }
        world.net().partition({victim}, rest);
      });
      world.at(end, [&world] { world.net().heal_all(); });
    } else {
      world.at(start, [&world, victim] {
        if (world.network(victim)) world.crash(victim);
      });
      world.at(end, [&world, victim] {
        if (!world.network(victim)) world.restart(victim);
      });
    }
  }
  // The faults end, the fault points with them: completeness counts from there.
  world.at(Instant() + kFaultsEnd, [&world] {
    world.net().heal_all();
    world.set_buggify(false);
  });
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
        if (got[key].count(seq) != 1u) {
          RC_LOG() << "n" << c << " misses datum " << seq << " of n" << p << ", sent at "
                   << format_duration(at - Instant()) << "\n";
        }
        RC_ASSERT(got[key].count(seq) == 1u);
      }
    }
  }
}

RC_GTEST_PROP(StreamProperties, InOrderWithoutDuplicatesAndCompleteAfterFaults, ()) {
  run_case(generate_case());
}

}  // namespace
}  // namespace smalti::sim
