#include "smalti/scenarios/workload.hpp"

#include <algorithm>

namespace smalti::scenarios {
namespace {

Task<void> ping_loop(sim::World& world, PingRecorder& recorder, HostId self, Network& net,
                     Duration every) {
  Rng rng = net.node().make_rng("workload.ping");
  // A random phase, so nodes do not ping in lockstep.
  co_await net.node().sleep(Duration(rng.below(static_cast<std::uint64_t>(every.count()))));
  const std::uint32_t incarnation = world.incarnation(self);
  for (;;) {
    for (HostId peer = 0; peer < world.host_count(); ++peer) {
      if (peer == self) continue;
      const std::size_t index = recorder.on_start(self, peer, incarnation, world.now());
      net.ping().ping(world.addr(peer), [&world, &recorder, index](const Result<Duration>& result) {
        recorder.on_complete(index, result, world.now());
      });
    }
    co_await net.node().sleep(every);
  }
}

}  // namespace

void start_ping_workload(sim::World& world, PingRecorder& recorder, HostId self, Network& net) {
  net.spawn(ping_loop(world, recorder, self, net, recorder.interval()));
}

std::size_t PingRecorder::on_start(HostId from, HostId to, std::uint32_t incarnation, Instant at) {
  Ping p;
  p.from = from;
  p.to = to;
  p.incarnation = incarnation;
  p.started = at;
  pings_.push_back(p);
  return pings_.size() - 1;
}

void PingRecorder::on_complete(std::size_t index, const Result<Duration>& result, Instant at) {
  SMALTI_ASSERT(index < pings_.size());
  Ping& p = pings_[index];
  ++p.completions;
  if (p.completions > 1) {
    ++extra_completions_;
    return;
  }
  p.completed = at;
  if (result.is_ok()) {
    p.succeeded = true;
    p.rtt = result.value();
    ++succeeded_;
  } else {
    ++failed_;
  }
}

std::vector<CheckResult> PingRecorder::evaluate(sim::World& world, const Scenario& scenario) const {
  std::vector<CheckResult> out;
  for (const Check& c : scenario.checks) {
    if (c.kind == CheckKind::kPingSafety) out.push_back(check_safety(world));
    if (c.kind == CheckKind::kPingLiveness) out.push_back(check_liveness(world, c.within));
  }
  return out;
}

CheckResult PingRecorder::check_safety(sim::World& world) const {
  CheckResult r{"ping-safety", true, false, ""};
  Duration min_latency = scenario_.network.latency.min;
  Duration paused{0};
  std::int64_t slowest_ppm = 0;  // the slowest clock stretches timeouts and shrinks RTTs
  for (const FaultAction& f : scenario_.faults) {
    if (f.kind == FaultKind::kLatency) min_latency = std::min(min_latency, f.latency.min);
    if (f.kind == FaultKind::kPause) paused += f.duration;
    if (f.kind == FaultKind::kClockDrift) slowest_ppm = std::min(slowest_ppm, f.ppm);
  }
  const double rate = 1.0 + static_cast<double>(slowest_ppm) / 1e6;
  // RTTs are measured on the pinger's clock: a slow clock reads a shorter time.
  const auto min_rtt =
      Duration(static_cast<std::int64_t>(static_cast<double>((2 * min_latency).count()) * rate));
  // A ping resolves within its timeout on the pinger's clock, plus pauses and a turn or two.
  const Duration deadline = Duration(static_cast<std::int64_t>(
                                static_cast<double>(scenario_.ping_timeout.count()) / rate)) +
                            paused + 10ms;
  std::uint64_t too_fast = 0, too_slow = 0, late = 0, unresolved = 0;
  std::string first;
  for (const Ping& p : pings_) {
    std::string problem;
    if (p.succeeded && p.rtt < min_rtt) {
      ++too_fast;
      problem = "RTT " + format_duration(p.rtt) + " is below the physical minimum";
    } else if (p.succeeded && p.rtt > scenario_.ping_timeout) {
      ++too_slow;
      problem = "RTT " + format_duration(p.rtt) + " exceeds the timeout yet succeeded";
    } else if (p.completions > 0 && p.completed - p.started > deadline) {
      ++late;
      problem = "resolved after " + format_duration(p.completed - p.started);
    } else if (p.completions == 0 && world.state(p.from) == sim::HostState::kUp &&
               world.incarnation(p.from) == p.incarnation && world.now() - p.started > deadline) {
      ++unresolved;
      problem = "never resolved";
    }
    if (!problem.empty() && first.empty()) {
      first = "ping n" + std::to_string(p.from) + "->n" + std::to_string(p.to) + " started at " +
              format_duration(p.started.since_origin()) + ": " + problem;
    }
  }
  r.passed = too_fast + too_slow + late + unresolved + extra_completions_ == 0;
  r.detail = std::to_string(pings_.size()) + " pings; " + std::to_string(extra_completions_) +
             " double completions, " + std::to_string(too_fast) + " impossibly fast, " +
             std::to_string(too_slow) + " past timeout, " + std::to_string(late) +
             " resolved late, " + std::to_string(unresolved) + " unresolved";
  if (!first.empty()) r.detail += "; first: " + first;
  return r;
}

CheckResult PingRecorder::check_liveness(sim::World& world, Duration within) const {
  CheckResult r{"ping-liveness within " + format_duration(within), true, true, ""};
  const Instant from = Instant() + last_fault_end(scenario_);
  const Instant until = from + within;
  const std::size_t n = world.host_count();
  std::vector<bool> reached(n * n, false);
  for (const Ping& p : pings_) {
    if (p.succeeded && p.completed >= from && p.completed <= until)
      reached[p.from * n + p.to] = true;
  }
  std::uint64_t pairs = 0, missing = 0;
  std::string examples;
  for (HostId a = 0; a < n; ++a) {
    for (HostId b = 0; b < n; ++b) {
      if (a == b || world.state(a) != sim::HostState::kUp || world.state(b) != sim::HostState::kUp)
        continue;
      ++pairs;
      if (reached[a * n + b]) continue;
      if (++missing <= 5) examples += " n" + std::to_string(a) + "->n" + std::to_string(b);
    }
  }
  r.passed = missing == 0;
  r.detail = std::to_string(pairs - missing) + "/" + std::to_string(pairs) +
             " pairs pinged successfully between " + format_duration(from.since_origin()) +
             " and " + format_duration(until.since_origin());
  if (missing > 0) r.detail += "; missing:" + examples;
  return r;
}

}  // namespace smalti::scenarios
