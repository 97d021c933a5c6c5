#include "node_bench.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <utility>

#include "smalti/runtime/await_callback.hpp"

namespace smalti::real::node {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr Duration kSettle = 2s;

struct PhaseResult {
  double seconds = 0;
  std::uint64_t failed = 0;
  std::vector<std::int64_t> latencies_us;  // one per executed command
  std::string first_failure;
};

// One phase: `inflight` callers, each with one execute() outstanding at a time, until
// `commands` were issued; `finish` runs once the last caller is done.
struct PhaseRun {
  groups::Group<CommandLog> group;
  BenchPhase phase;
  std::uint64_t first = 0;  // the counter of this phase's first command
  std::string prefix;
  std::uint32_t payload = 0;
  std::function<void(PhaseResult)> finish;
  std::uint64_t next = 0;
  std::uint32_t callers_left = 0;
  Clock::time_point started;
  PhaseResult result;

  // A unique 16-byte key (prefix and counter, zero-padded) followed by filler up to payload.
  std::string command(std::uint64_t n) const {
    char key[17];
    std::snprintf(key, sizeof key, "%s%08llx", prefix.c_str(), static_cast<unsigned long long>(n));
    std::string c(key, 16);
    c.resize(payload, 'v');
    return c;
  }
};

Task<void> caller(std::shared_ptr<PhaseRun> run) {
  while (run->next < run->phase.commands) {
    const std::uint64_t n = run->first + run->next++;
    const Clock::time_point t0 = Clock::now();
    const Result<groups::Index> at = co_await run->group.execute(run->command(n));
    const Clock::time_point t1 = Clock::now();
    run->result.latencies_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    if (!at.is_ok() && run->result.failed++ == 0)
      run->result.first_failure = at.status().to_string();
  }
  if (--run->callers_left > 0) co_return;
  run->result.seconds = std::chrono::duration<double>(Clock::now() - run->started).count();
  std::exchange(run->finish, {})(std::move(run->result));
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

std::string report(const BenchPhase& phase, std::uint32_t payload, PhaseResult r, bool leader) {
  std::sort(r.latencies_us.begin(), r.latencies_us.end());
  const auto& l = r.latencies_us;
  char line[384];
  std::snprintf(
      line, sizeof line,
      "bench inflight=%u commands=%u payload=%u failed=%llu seconds=%.3f "
      "per_second=%.0f p50_us=%lld p90_us=%lld p99_us=%lld max_us=%lld leader=%s",
      phase.inflight, phase.commands, payload, static_cast<unsigned long long>(r.failed), r.seconds,
      static_cast<double>(phase.commands) / r.seconds, static_cast<long long>(percentile(l, 0.50)),
      static_cast<long long>(percentile(l, 0.90)), static_cast<long long>(percentile(l, 0.99)),
      static_cast<long long>(l.empty() ? 0 : l.back()), leader ? "yes" : "no");
  return r.failed == 0 ? std::string(line)
                       : std::string(line) + " first_failure=" + r.first_failure;
}

}  // namespace

bool parse_bench_phase(const std::string& text, BenchPhase& phase) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  const char* end = text.data() + text.size();
  const auto a = std::from_chars(text.data(), text.data() + colon, phase.inflight);
  const auto b = std::from_chars(text.data() + colon + 1, end, phase.commands);
  return a.ec == std::errc() && a.ptr == text.data() + colon && b.ec == std::errc() &&
         b.ptr == end && phase.inflight > 0 && phase.inflight <= kMaxBenchInflight &&
         phase.commands > 0;
}

Task<void> run_bench(Network& net, groups::Group<CommandLog> group, BenchMode mode, Say say,
                     std::function<void()> done) {
  co_await group.when().online();
  // The group's formation may still move the leadership right after it comes online.
  co_await net.node().sleep(kSettle);
  if (mode.leader_only && group.is_leader() == mode.on_follower) {
    say(mode.on_follower ? "bench skipped: the leader" : "bench skipped: not the leader");
    co_return;
  }
  // A fixed 8-character prefix per node keeps keys at 16 bytes: 8 of the id, 8 of a counter.
  const std::string prefix = net.id().to_hex().substr(0, 8);
  std::uint64_t issued = 0;
  for (const BenchPhase& phase : mode.phases) {
    PhaseResult r = co_await await_callback<PhaseResult>([&](auto finish) {
      auto run = std::make_shared<PhaseRun>(PhaseRun{.group = group,
                                                     .phase = phase,
                                                     .first = issued,
                                                     .prefix = prefix,
                                                     .payload = mode.payload,
                                                     .finish = std::move(finish)});
      run->result.latencies_us.reserve(phase.commands);
      run->callers_left = std::min(phase.inflight, phase.commands);
      run->started = Clock::now();
      for (std::uint32_t i = 0; i < run->callers_left; ++i) net.spawn(caller(run));
    });
    say(report(phase, mode.payload, std::move(r), group.is_leader()));
    issued += phase.commands;
  }
  say("bench done commands=" + std::to_string(issued));
  done();
}

}  // namespace smalti::real::node
