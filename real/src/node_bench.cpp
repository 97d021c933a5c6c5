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

struct PhaseResult {
  double seconds = 0;
  std::uint64_t failed = 0;
  std::vector<std::int64_t> latencies_us;  // one per executed command
};

// One phase: `inflight` callers, each with one execute() outstanding at a time, until
// `commands` were issued; `finish` runs once the last one completed.
class PhaseRun : public std::enable_shared_from_this<PhaseRun> {
 public:
  PhaseRun(groups::Group<CommandLog> group, BenchPhase phase, std::uint64_t first,
           std::string prefix, std::uint32_t payload, std::function<void(PhaseResult)> finish)
      : group_(std::move(group)),
        phase_(phase),
        first_(first),
        prefix_(std::move(prefix)),
        payload_(payload),
        finish_(std::move(finish)) {
    result_.latencies_us.reserve(phase.commands);
  }

  void start() {
    started_ = Clock::now();
    const std::uint32_t callers = std::min(phase_.inflight, phase_.commands);
    for (std::uint32_t i = 0; i < callers; ++i) issue();
  }

 private:
  // A unique 16-byte key (prefix and counter, zero-padded) followed by filler up to payload_.
  std::string command(std::uint64_t n) const {
    char key[17];
    std::snprintf(key, sizeof key, "%s%08llx", prefix_.c_str(), static_cast<unsigned long long>(n));
    std::string c(key, 16);
    c.resize(payload_, 'v');
    return c;
  }

  void issue() {
    const std::uint64_t n = first_ + next_++;
    const Clock::time_point t0 = Clock::now();
    group_.execute(command(n), [self = shared_from_this(), t0](Result<groups::Index> at) {
      self->completed(t0, at.is_ok());
    });
  }

  void completed(Clock::time_point t0, bool ok) {
    const Clock::time_point t1 = Clock::now();
    result_.latencies_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    if (!ok) ++result_.failed;
    if (next_ < phase_.commands) {
      issue();
      return;
    }
    if (result_.latencies_us.size() < phase_.commands) return;
    result_.seconds = std::chrono::duration<double>(t1 - started_).count();
    std::exchange(finish_, {})(std::move(result_));
  }

  groups::Group<CommandLog> group_;
  BenchPhase phase_;
  std::uint64_t first_;  // the counter of this phase's first command
  std::string prefix_;
  std::uint32_t payload_;
  std::function<void(PhaseResult)> finish_;
  std::uint64_t next_ = 0;
  Clock::time_point started_;
  PhaseResult result_;
};

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
  return line;
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
  if (mode.leader_only && !group.is_leader()) {
    say("bench skipped: not the leader");
    co_return;
  }
  // A fixed 8-character prefix per node keeps keys at 16 bytes: 8 of the id, 8 of a counter.
  const std::string prefix = net.id().to_hex().substr(0, 8);
  std::uint64_t issued = 0;
  for (const BenchPhase& phase : mode.phases) {
    PhaseResult r = co_await await_callback<PhaseResult>([&](auto finish) {
      auto run =
          std::make_shared<PhaseRun>(group, phase, issued, prefix, mode.payload, std::move(finish));
      run->start();
    });
    say(report(phase, mode.payload, std::move(r), group.is_leader()));
    issued += phase.commands;
  }
  say("bench done commands=" + std::to_string(issued));
  done();
}

}  // namespace smalti::real::node
