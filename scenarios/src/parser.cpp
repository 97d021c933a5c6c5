// The scenario file parser: one statement per line, `#` starts a comment.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "smalti/scenarios/scenario.hpp"

namespace smalti::scenarios {
namespace {

using Tokens = std::vector<std::string_view>;

Tokens split(std::string_view line) {
  Tokens out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

Status bad(const std::string& what) {
  return error(StatusCode::kInvalidArgument, what);
}

Result<std::int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 18) return bad("expected a number, got '" + std::string(s) + "'");
  std::int64_t v = 0;
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (s[0] == '+' || s[0] == '-') ++i;
  if (i == s.size()) return bad("expected a number, got '" + std::string(s) + "'");
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return bad("expected a number, got '" + std::string(s) + "'");
    v = v * 10 + (s[i] - '0');
  }
  return negative ? -v : v;
}

Result<double> parse_probability(std::string_view s) {
  std::string text(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !(v >= 0.0 && v <= 1.0)) {
    return bad("expected a probability in [0, 1], got '" + text + "'");
  }
  return v;
}

// "500ms", "10s", "+30s", "-2s", "1m", "250us", "7ns", "1h".
Result<Duration> parse_duration(std::string_view s) {
  std::size_t unit_at = s.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(s[unit_at - 1]))) --unit_at;
  const std::string_view unit = s.substr(unit_at);
  SMALTI_ASSIGN_OR_RETURN(std::int64_t n, parse_int(s.substr(0, unit_at)));
  std::int64_t scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1'000;
  else if (unit == "ms")
    scale = 1'000'000;
  else if (unit == "s")
    scale = 1'000'000'000;
  else if (unit == "m")
    scale = 60'000'000'000;
  else if (unit == "h")
    scale = 3'600'000'000'000;
  else
    return bad("expected a duration like 500ms or 10s, got '" + std::string(s) + "'");
  const std::int64_t limit = kMaxDuration.count() / scale;
  if (n > limit || n < -limit) return bad("duration '" + std::string(s) + "' is too large");
  return Duration(n * scale);
}

Result<Duration> parse_positive(std::string_view s) {
  SMALTI_ASSIGN_OR_RETURN(Duration d, parse_duration(s));
  if (d <= Duration::zero()) return bad("'" + std::string(s) + "' must be a positive duration");
  return d;
}

// "0,1,2" or "0-3" or "1,4-6", or "all"; every host must exist.
Result<std::vector<HostId>> parse_hosts(std::string_view s, std::uint32_t nodes) {
  std::vector<HostId> out;
  if (s == "all") {
    for (std::uint32_t h = 0; h < nodes; ++h) out.push_back(h);
    return out;
  }
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = std::min(s.find(',', pos), s.size());
    const std::string_view item = s.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    SMALTI_ASSIGN_OR_RETURN(std::int64_t lo, parse_int(item.substr(0, dash)));
    std::int64_t hi = lo;
    if (dash != std::string_view::npos) {
      SMALTI_ASSIGN_OR_RETURN(hi, parse_int(item.substr(dash + 1)));
    }
    if (lo < 0 || hi < lo || hi >= static_cast<std::int64_t>(nodes)) {
      return bad("host '" + std::string(item) + "' is not one of the " + std::to_string(nodes) +
                 " nodes");
    }
    for (std::int64_t h = lo; h <= hi; ++h) out.push_back(static_cast<HostId>(h));
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<sim::LatencyModel> parse_latency(const Tokens& t, std::size_t i) {
  // min median [tail P max]
  if (t.size() != i + 2 && t.size() != i + 5) return bad("latency takes: min median [tail P max]");
  sim::LatencyModel m;
  SMALTI_ASSIGN_OR_RETURN(m.min, parse_duration(t[i]));
  SMALTI_ASSIGN_OR_RETURN(m.median, parse_duration(t[i + 1]));
  m.tail_probability = 0;
  if (t.size() == i + 5) {
    if (t[i + 2] != "tail") return bad("expected 'tail' after the median");
    SMALTI_ASSIGN_OR_RETURN(m.tail_probability, parse_probability(t[i + 3]));
    SMALTI_ASSIGN_OR_RETURN(m.tail_max, parse_duration(t[i + 4]));
  }
  if (m.min < Duration::zero() || m.median < m.min) return bad("latency needs 0 <= min <= median");
  if (m.median > std::chrono::hours(1) || m.tail_max > std::chrono::hours(1)) {
    return bad("latency above one hour is not supported");
  }
  return m;
}

class Parser {
 public:
  Result<Scenario> parse(std::string_view text);

 private:
  Status statement(const Tokens& t, std::string_view line);
  Status fault(const Tokens& t, std::string_view line);
  Status fault_body(FaultAction& f, const Tokens& t);
  Status check(const Tokens& t);
  Status discovery(const Tokens& t);
  Status group_workload(const Tokens& t);
  Status disk(const Tokens& t);
  Status expect_size(const Tokens& t, std::size_t n, const char* usage) {
    return t.size() == n ? Status::ok() : bad(std::string("usage: ") + usage);
  }
  Scenario s_;
};

Status Parser::check(const Tokens& t) {
  if (t.size() == 2 && t[1] == "ping-safety") {
    s_.checks.push_back({CheckKind::kPingSafety, {}});
  } else if (t.size() == 2 && t[1] == "determinism") {
    s_.checks.push_back({CheckKind::kDeterminism, {}});
  } else if (t.size() == 4 && t[1] == "ping-liveness" && t[2] == "within") {
    SMALTI_ASSIGN_OR_RETURN(Duration d, parse_duration(t[3]));
    s_.checks.push_back({CheckKind::kPingLiveness, d});
  } else if (t.size() == 2 && t[1] == "stream-order") {
    s_.checks.push_back({CheckKind::kStreamOrder, {}});
  } else if (t.size() == 4 && t[1] == "stream-liveness" && t[2] == "within") {
    SMALTI_ASSIGN_OR_RETURN(Duration d, parse_duration(t[3]));
    s_.checks.push_back({CheckKind::kStreamLiveness, d});
  } else if (t.size() == 2 && t[1] == "group-safety") {
    s_.checks.push_back({CheckKind::kGroupSafety, {}});
  } else if (t.size() == 2 && t[1] == "group-linearizable") {
    s_.checks.push_back({CheckKind::kGroupLinearizable, {}});
  } else if (t.size() == 2 && t[1] == "group-log-survived") {
    s_.checks.push_back({CheckKind::kGroupLogSurvived, {}});
  } else if (t.size() == 4 && t[1] == "group-liveness" && t[2] == "within") {
    SMALTI_ASSIGN_OR_RETURN(Duration d, parse_duration(t[3]));
    s_.checks.push_back({CheckKind::kGroupLiveness, d});
  } else if (t.size() == 4 && t[1] == "discovery-converged" && t[2] == "within") {
    SMALTI_ASSIGN_OR_RETURN(Duration d, parse_duration(t[3]));
    s_.checks.push_back({CheckKind::kDiscoveryConverged, d});
  } else {
    return bad(
        "usage: check ping-safety | ping-liveness within D | discovery-converged within D | "
        "stream-order | stream-liveness within D | group-safety | group-linearizable | "
        "group-liveness within D | group-log-survived | determinism");
  }
  return Status::ok();
}

Status Parser::discovery(const Tokens& t) {
  static constexpr const char* kUsage = "usage: discovery [announce D] [purge D] [report every D]";
  DiscoverySpec& d = s_.discovery;
  d.enabled = true;
  for (std::size_t i = 1; i < t.size();) {
    if (t[i] == "report" && i + 2 < t.size() && t[i + 1] == "every") {
      SMALTI_ASSIGN_OR_RETURN(d.report_every, parse_positive(t[i + 2]));
      i += 3;
    } else if (t[i] == "announce" && i + 1 < t.size()) {
      SMALTI_ASSIGN_OR_RETURN(d.announce_interval, parse_positive(t[i + 1]));
      i += 2;
    } else if (t[i] == "purge" && i + 1 < t.size()) {
      SMALTI_ASSIGN_OR_RETURN(d.purge_after, parse_positive(t[i + 1]));
      i += 2;
    } else {
      return bad(kUsage);
    }
  }
  return Status::ok();
}

Status Parser::group_workload(const Tokens& t) {
  static constexpr const char* kUsage = "usage: workload group every D [durable | volatile]";
  if ((t.size() != 4 && t.size() != 5) || t[2] != "every") return bad(kUsage);
  SMALTI_ASSIGN_OR_RETURN(s_.group_every, parse_positive(t[3]));
  if (t.size() == 5) {
    if (t[4] == "durable") {
      s_.group_storage = GroupStorage::kDurable;
    } else if (t[4] == "volatile") {
      s_.group_storage = GroupStorage::kVolatile;
    } else {
      return bad(kUsage);
    }
  }
  return Status::ok();
}

Status Parser::disk(const Tokens& t) {
  static constexpr const char* kUsage = "usage: disk [latency MIN MAX] [keep P] [torn P]";
  DiskSpec& d = s_.disk;
  if (t.size() == 1) return bad(kUsage);
  for (std::size_t i = 1; i < t.size();) {
    if (t[i] == "latency" && i + 2 < t.size()) {
      SMALTI_ASSIGN_OR_RETURN(d.min_latency, parse_duration(t[i + 1]));
      SMALTI_ASSIGN_OR_RETURN(d.max_latency, parse_duration(t[i + 2]));
      if (d.min_latency < Duration::zero() || d.max_latency < d.min_latency ||
          d.max_latency > std::chrono::seconds(1)) {
        return bad("disk latency needs 0 <= MIN <= MAX <= 1s");
      }
      i += 3;
    } else if (t[i] == "keep" && i + 1 < t.size()) {
      SMALTI_ASSIGN_OR_RETURN(d.unsynced_keep_rate, parse_probability(t[i + 1]));
      i += 2;
    } else if (t[i] == "torn" && i + 1 < t.size()) {
      SMALTI_ASSIGN_OR_RETURN(d.torn_write_rate, parse_probability(t[i + 1]));
      i += 2;
    } else {
      return bad(kUsage);
    }
  }
  return Status::ok();
}

Status Parser::statement(const Tokens& t, std::string_view line) {
  const std::string_view kw = t[0];
  if (kw == "at") return fault(t, line);
  if (kw == "check") return check(t);
  if (kw == "name") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "name WORD"));
    s_.name = std::string(t[1]);
  } else if (kw == "nodes") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "nodes N"));
    if (s_.nodes != 0) return bad("'nodes' is declared twice");
    SMALTI_ASSIGN_OR_RETURN(std::int64_t n, parse_int(t[1]));
    if (n < 1 || n > kMaxNodes)
      return bad("nodes must be between 1 and " + std::to_string(kMaxNodes));
    s_.nodes = static_cast<std::uint32_t>(n);
  } else if (kw == "duration") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "duration D"));
    SMALTI_ASSIGN_OR_RETURN(s_.duration, parse_duration(t[1]));
  } else if (kw == "latency") {
    SMALTI_ASSIGN_OR_RETURN(s_.network.latency, parse_latency(t, 1));
  } else if (kw == "loss") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "loss P"));
    SMALTI_ASSIGN_OR_RETURN(s_.network.loss, parse_probability(t[1]));
  } else if (kw == "idle-timeout") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "idle-timeout D"));
    SMALTI_ASSIGN_OR_RETURN(s_.network.idle_timeout, parse_positive(t[1]));
  } else if (kw == "connect-timeout") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 2, "connect-timeout D"));
    SMALTI_ASSIGN_OR_RETURN(s_.network.connect_timeout, parse_positive(t[1]));
  } else if (kw == "workload" && t.size() >= 2 && t[1] == "stream") {
    static constexpr const char* kUsage = "usage: workload stream every D [slow HOSTS]";
    if ((t.size() != 4 && t.size() != 6) || t[2] != "every") return bad(kUsage);
    SMALTI_ASSIGN_OR_RETURN(s_.stream_every, parse_positive(t[3]));
    if (t.size() == 6) {
      if (t[4] != "slow" || s_.nodes == 0) return bad(std::string(kUsage) + " (after 'nodes')");
      SMALTI_ASSIGN_OR_RETURN(s_.stream_slow, parse_hosts(t[5], s_.nodes));
    }
  } else if (kw == "workload" && t.size() >= 2 && t[1] == "group") {
    SMALTI_RETURN_IF_ERROR(group_workload(t));
  } else if (kw == "workload") {
    if (t.size() != 4 && t.size() != 6) return bad("usage: workload ping every D [timeout D]");
    if (t[1] != "ping" || t[2] != "every") return bad("usage: workload ping every D [timeout D]");
    SMALTI_ASSIGN_OR_RETURN(s_.ping_every, parse_positive(t[3]));
    if (t.size() == 6) {
      if (t[4] != "timeout") return bad("usage: workload ping every D [timeout D]");
      SMALTI_ASSIGN_OR_RETURN(s_.ping_timeout, parse_positive(t[5]));
    }
  } else if (kw == "discovery") {
    SMALTI_RETURN_IF_ERROR(discovery(t));
  } else if (kw == "disk") {
    SMALTI_RETURN_IF_ERROR(disk(t));
  } else {
    return bad("unknown statement '" + std::string(kw) + "'");
  }
  (void)line;
  return Status::ok();
}

Status Parser::fault(const Tokens& t, std::string_view line) {
  if (s_.nodes == 0) return bad("'nodes' must come before the first fault");
  if (t.size() < 3) return bad("usage: at TIME FAULT ...");
  FaultAction f;
  SMALTI_ASSIGN_OR_RETURN(f.at, parse_duration(t[1]));
  if (f.at < Duration::zero()) return bad("fault time must not be negative");
  f.text = std::string(line);
  SMALTI_RETURN_IF_ERROR(fault_body(f, t));
  s_.faults.push_back(std::move(f));
  return Status::ok();
}

Status Parser::fault_body(FaultAction& f, const Tokens& t) {
  const std::string_view kind = t[2];
  const std::uint32_t n = s_.nodes;
  if (kind == "partition") {
    if (t.size() != 6 || (t[4] != "|" && t[4] != "->"))
      return bad("usage: partition A | B  or  partition A -> B");
    f.kind = t[4] == "|" ? FaultKind::kPartition : FaultKind::kPartitionOneWay;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.side_b, parse_hosts(t[5], n));
  } else if (kind == "heal") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 3, "heal"));
    f.kind = FaultKind::kHeal;
  } else if (kind == "flap") {
    if (t.size() != 10 || t[4] != "|" || t[6] != "every" || t[8] != "until") {
      return bad("usage: flap A | B every D until T");
    }
    f.kind = FaultKind::kFlap;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.side_b, parse_hosts(t[5], n));
    SMALTI_ASSIGN_OR_RETURN(f.period, parse_duration(t[7]));
    SMALTI_ASSIGN_OR_RETURN(f.until, parse_duration(t[9]));
    if (f.period < sim::kMinFlapPeriod || f.until < f.at) {
      return bad("flap needs a period of at least 1ms and until >= at");
    }
  } else if (kind == "crash" || kind == "restart" || kind == "reset-links") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 4, "crash|restart|reset-links HOSTS"));
    f.kind = kind == "crash"     ? FaultKind::kCrash
             : kind == "restart" ? FaultKind::kRestart
                                 : FaultKind::kResetLinks;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
  } else if (kind == "pause" || (kind == "clog" && t.size() == 6)) {
    if (t.size() != 6 || t[4] != "for") return bad("usage: pause|clog HOSTS for D");
    f.kind = kind == "pause" ? FaultKind::kPause : FaultKind::kClogHost;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.duration, parse_positive(t[5]));
  } else if (kind == "clog") {
    if (t.size() != 7 || t[5] != "for") return bad("usage: clog A B for D");
    f.kind = FaultKind::kClogPair;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.side_b, parse_hosts(t[4], n));
    SMALTI_ASSIGN_OR_RETURN(f.duration, parse_positive(t[6]));
  } else if (kind == "clock-jump") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 5, "clock-jump HOSTS +D"));
    f.kind = FaultKind::kClockJump;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.duration, parse_duration(t[4]));
  } else if (kind == "drift") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 5, "drift HOSTS +Nppm"));
    f.kind = FaultKind::kClockDrift;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    std::string_view v = t[4];
    if (v.size() < 4 || v.substr(v.size() - 3) != "ppm")
      return bad("drift is written like +200ppm");
    SMALTI_ASSIGN_OR_RETURN(f.ppm, parse_int(v.substr(0, v.size() - 3)));
    if (f.ppm <= -500'000 || f.ppm >= 500'000) return bad("drift must be within +/-500000ppm");
  } else if (kind == "loss") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 4, "loss P"));
    f.kind = FaultKind::kLoss;
    SMALTI_ASSIGN_OR_RETURN(f.probability, parse_probability(t[3]));
  } else if (kind == "latency") {
    f.kind = FaultKind::kLatency;
    SMALTI_ASSIGN_OR_RETURN(f.latency, parse_latency(t, 3));
  } else if (kind == "disk-errors") {
    SMALTI_RETURN_IF_ERROR(expect_size(t, 5, "disk-errors HOSTS P"));
    f.kind = FaultKind::kDiskFaults;
    SMALTI_ASSIGN_OR_RETURN(f.side_a, parse_hosts(t[3], n));
    SMALTI_ASSIGN_OR_RETURN(f.probability, parse_probability(t[4]));
  } else {
    return bad("unknown fault '" + std::string(kind) + "'");
  }
  return Status::ok();
}

Result<Scenario> Parser::parse(std::string_view text) {
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (++line_no > kMaxLines) return bad("more than " + std::to_string(kMaxLines) + " lines");
    if (line.size() > kMaxLineLength)
      return bad("line " + std::to_string(line_no) + " is too long");
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    const Tokens t = split(line);
    if (t.empty()) continue;
    Status s = statement(t, line);
    if (!s.is_ok()) return s.with_context("line " + std::to_string(line_no));
  }
  if (s_.nodes == 0) return bad("the scenario declares no nodes");
  if (s_.duration <= Duration::zero()) return bad("the scenario needs a positive duration");
  for (const FaultAction& f : s_.faults) {
    if (f.at > s_.duration) return bad("fault '" + f.text + "' is after the end of the scenario");
  }
  if (s_.stream_every > Duration::zero() && !s_.discovery.enabled) {
    return bad("the stream workload needs a 'discovery' statement");
  }
  if (s_.group_every > Duration::zero() && !s_.discovery.enabled) {
    return bad("the group workload needs a 'discovery' statement");
  }
  std::stable_sort(s_.faults.begin(), s_.faults.end(),
                   [](const FaultAction& a, const FaultAction& b) { return a.at < b.at; });
  for (const Check& c : s_.checks) {
    const bool ping_check = c.kind == CheckKind::kPingSafety || c.kind == CheckKind::kPingLiveness;
    if (ping_check && s_.ping_every == Duration::zero()) {
      return bad("ping checks need 'workload ping every D'");
    }
    if (c.kind == CheckKind::kDiscoveryConverged && !s_.discovery.enabled) {
      return bad("discovery checks need a 'discovery' statement");
    }
    const bool stream_check =
        c.kind == CheckKind::kStreamOrder || c.kind == CheckKind::kStreamLiveness;
    if (stream_check && s_.stream_every == Duration::zero()) {
      return bad("stream checks need 'workload stream every D'");
    }
    const bool group_check =
        c.kind == CheckKind::kGroupSafety || c.kind == CheckKind::kGroupLinearizable ||
        c.kind == CheckKind::kGroupLiveness || c.kind == CheckKind::kGroupLogSurvived;
    if (group_check && s_.group_every == Duration::zero()) {
      return bad("group checks need 'workload group every D'");
    }
    const bool liveness =
        c.kind == CheckKind::kPingLiveness || c.kind == CheckKind::kDiscoveryConverged ||
        c.kind == CheckKind::kStreamLiveness || c.kind == CheckKind::kGroupLiveness;
    if (liveness && last_fault_end(s_) + c.within > s_.duration) {
      return bad(
          "the liveness window ends after the scenario: make it longer or the bound shorter");
    }
  }
  return std::move(s_);
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text) {
  return Parser().parse(text);
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(StatusCode::kNotFound, "cannot open scenario file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (text.size() > kMaxLines * kMaxLineLength) return bad("scenario file is too large");
  auto s = parse_scenario(text);
  if (!s.is_ok()) return s.status().with_context(path);
  if (s->name.empty()) s->name = path;
  return s;
}

Duration last_fault_end(const Scenario& scenario) {
  Duration end{0};
  for (const FaultAction& f : scenario.faults) {
    Duration e = f.at;
    switch (f.kind) {
      case FaultKind::kPause:
      case FaultKind::kClogHost:
      case FaultKind::kClogPair:
        e = f.at + f.duration;
        break;
      case FaultKind::kFlap:
        e = f.until;
        break;
      default:
        break;
    }
    end = std::max(end, e);
  }
  return end;
}

std::string describe(const FaultAction& action) {
  // The line without its leading "at TIME".
  const Tokens t = split(action.text);
  std::string out;
  for (std::size_t i = 2; i < t.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += t[i];
  }
  return out;
}

}  // namespace smalti::scenarios
