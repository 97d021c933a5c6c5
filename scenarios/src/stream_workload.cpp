#include "smalti/scenarios/stream_workload.hpp"

#include <algorithm>
#include <set>

namespace smalti::scenarios {

struct Tick {
  std::uint32_t incarnation = 0;
  std::uint64_t seq = 0;
};
SMALTI_FIELDS(Tick, incarnation, seq)
SMALTI_STREAM(Tick, "smalti.scenario.tick")

namespace {

constexpr std::size_t kConsumerBuffer = 64;
constexpr std::size_t kProducerBuffer = 64;

}  // namespace

bool StreamRecorder::is_slow(HostId host) const {
  const auto& slow = scenario_.stream_slow;
  return std::find(slow.begin(), slow.end(), host) != slow.end();
}

void StreamRecorder::start(sim::World& world, HostId host, Network& net) {
  const std::uint32_t incarnation = world.incarnation(host);
  if (host == 0) {
    auto sent = std::make_shared<std::vector<std::pair<std::uint32_t, std::uint64_t>>>();
    net.spawn([](sim::World& w, StreamRecorder* self, Network& n, Duration every,
                 std::uint32_t inc) -> Task<void> {
      auto producer =
          n.streams().producer<Tick>().with_buffer_size(kProducerBuffer).build().value();
      for (std::uint64_t seq = 0;; ++seq) {
        co_await n.node().sleep(every);
        if (producer.try_send(Tick{inc, seq}).is_ok())
          self->sent_.push_back(Sent{inc, seq, w.now()});
      }
    }(world, this, net, scenario_.stream_every, incarnation));
    return;
  }
  const bool slow = is_slow(host);
  net.spawn([](sim::World& w, StreamRecorder* self, Network& n, HostId h, bool lazy) -> Task<void> {
    auto consumer = n.streams().consumer<Tick>().with_buffer_size(kConsumerBuffer).build().value();
    while (true) {
      if (lazy) {
        co_await n.node().sleep(1h);  // subscribed, never reading
        continue;
      }
      Tick t = co_await consumer.recv();
      self->received_[h].push_back(Received{t.incarnation, t.seq, w.now()});
    }
  }(world, this, net, host, slow));
}

std::uint64_t StreamRecorder::received(HostId host) const {
  auto it = received_.find(host);
  return it == received_.end() ? 0 : it->second.size();
}

std::vector<CheckResult> StreamRecorder::evaluate(sim::World& world) const {
  std::vector<CheckResult> out;
  for (const Check& c : scenario_.checks) {
    if (c.kind == CheckKind::kStreamOrder) {
      CheckResult r{"stream-order", true, false, ""};
      std::uint64_t total = 0;
      for (const auto& [host, got] : received_) {
        std::map<std::uint32_t, std::uint64_t> last;  // per producer incarnation
        for (const Received& x : got) {
          ++total;
          auto [it, first] = last.try_emplace(x.producer_incarnation, x.seq);
          if (!first && x.seq <= it->second && r.passed) {
            r.passed = false;
            r.detail = "n" + std::to_string(host) + " received tick " + std::to_string(x.seq) +
                       " after " + std::to_string(it->second) + "; ";
          }
          it->second = std::max(it->second, x.seq);
        }
      }
      r.detail += std::to_string(total) + " ticks received in order, without duplicates, by " +
                  std::to_string(received_.size()) + " consumers";
      out.push_back(std::move(r));
    }
    if (c.kind == CheckKind::kStreamLiveness) {
      CheckResult r{"stream-liveness within " + format_duration(c.within), true, true, ""};
      const Instant from = Instant() + last_fault_end(scenario_) + c.within;
      const Instant until = Instant() + scenario_.duration - 1s;
      std::set<std::pair<std::uint32_t, std::uint64_t>> expected;
      for (const Sent& s : sent_) {
        if (s.at >= from && s.at <= until) expected.insert({s.incarnation, s.seq});
      }
      std::uint64_t consumers = 0, missing = 0;
      for (HostId h = 1; h < world.host_count(); ++h) {
        if (is_slow(h) || world.state(h) != sim::HostState::kUp) continue;
        ++consumers;
        std::set<std::pair<std::uint32_t, std::uint64_t>> got;
        auto it = received_.find(h);
        if (it != received_.end()) {
          for (const Received& x : it->second) got.insert({x.producer_incarnation, x.seq});
        }
        for (const auto& e : expected) {
          if (got.count(e)) continue;
          if (++missing == 1)
            r.detail = "n" + std::to_string(h) + " missed tick " + std::to_string(e.second) + "; ";
        }
      }
      r.passed = missing == 0 && !expected.empty();
      r.detail += std::to_string(consumers) + " fast consumers each received all " +
                  std::to_string(expected.size()) + " ticks sent between " +
                  format_duration(from.since_origin()) + " and " +
                  format_duration(until.since_origin());
      if (missing > 0) r.detail = std::to_string(missing) + " ticks missed: " + r.detail;
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace smalti::scenarios
