#include "smalti/scenarios/runner.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include "smalti/scenarios/discovery_watch.hpp"
#include "smalti/scenarios/group_workload.hpp"
#include "smalti/scenarios/stream_workload.hpp"
#include "smalti/scenarios/workload.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::scenarios {
namespace {

std::string seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(d.count()) / 1e9);
  return buf;
}

void say(const RunOptions& options, const std::string& line) {
  if (options.out != nullptr) *options.out << line << '\n';
}

// What fault actions of one run remember: the end of each host's latest pause (pauses may
// overlap, and only the latest-ending one resumes the node).
struct FaultState {
  std::map<HostId, Instant> pause_end;
};

void apply_fault(sim::World& world, const FaultAction& f,
                 const std::shared_ptr<FaultState>& state) {
  switch (f.kind) {
    case FaultKind::kPartition:
      world.net().partition(f.side_a, f.side_b);
      break;
    case FaultKind::kPartitionOneWay:
      world.net().partition_one_way(f.side_a, f.side_b);
      break;
    case FaultKind::kHeal:
      world.net().heal_all();
      break;
    case FaultKind::kFlap:
      world.net().flap(f.side_a, f.side_b, f.period, Instant() + f.until);
      break;
    case FaultKind::kCrash:
      for (HostId h : f.side_a) world.crash(h);
      break;
    case FaultKind::kRestart:
      for (HostId h : f.side_a) world.restart(h);
      break;
    case FaultKind::kPause:
      for (HostId h : f.side_a) {
        world.pause(h);
        Instant& end = state->pause_end[h];
        end = std::max(end, world.now() + f.duration);
        const Instant until = end;
        world.at(until, [&world, state, h, until] {
          if (state->pause_end[h] == until) world.resume(h);
        });
      }
      break;
    case FaultKind::kClogHost:
      for (HostId h : f.side_a) world.net().clog_host(h, f.duration);
      break;
    case FaultKind::kClogPair:
      for (HostId a : f.side_a) {
        for (HostId b : f.side_b) world.net().clog_pair(a, b, f.duration);
      }
      break;
    case FaultKind::kResetLinks:
      for (HostId h : f.side_a) world.net().reset_links(h);
      break;
    case FaultKind::kClockJump:
      for (HostId h : f.side_a) {
        world.clock(h).jump(f.duration);
        world.record_fault("clock.jump", h, static_cast<std::uint64_t>(f.duration.count()));
      }
      break;
    case FaultKind::kClockDrift:
      for (HostId h : f.side_a) world.set_drift(h, f.ppm);
      break;
    case FaultKind::kLoss:
      world.net().set_loss(f.probability);
      world.record_fault("loss", static_cast<std::uint64_t>(f.probability * 1e6), 0);
      break;
    case FaultKind::kLatency:
      world.net().set_latency(f.latency);
      world.record_fault("latency", static_cast<std::uint64_t>(f.latency.median.count()), 0);
      break;
    case FaultKind::kDiskFaults:
      for (HostId h : f.side_a) {
        sim::DiskFaults faults = world.disk(h).faults();
        faults.read_error_rate = faults.write_error_rate = faults.sync_error_rate = f.probability;
        world.disk(h).set_faults(faults);
        world.record_fault("disk.errors", h, static_cast<std::uint64_t>(f.probability * 1e6));
      }
      break;
  }
}

// The disk model every host starts with; a crash fault then loses and tears by it.
void set_disk(sim::SimFileSystem& disk, const DiskSpec& spec) {
  sim::DiskFaults faults = disk.faults();
  faults.min_latency = spec.min_latency;
  faults.max_latency = spec.max_latency;
  faults.unsynced_keep_rate = spec.unsynced_keep_rate;
  faults.torn_write_rate = spec.torn_write_rate;
  disk.set_faults(faults);
}

const char* storage_name(GroupStorage storage) {
  switch (storage) {
    case GroupStorage::kDurable:
      return "durable (SQLite on each host's simulated disk)";
    case GroupStorage::kVolatile:
      return "volatile (in memory, lost at a crash)";
    case GroupStorage::kMemory:
      break;
  }
  return "in memory over the simulator's per-host medium";
}

void print_header(const Scenario& s, const RunOptions& o) {
  say(o, "seed=" + std::to_string(o.seed));
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "scenario=%s nodes=%u duration=%s latency=[min %s, median %s, tail %.3f up to %s] "
                "loss=%.3f idle_timeout=%s ping_every=%s",
                s.name.c_str(), s.nodes, seconds(s.duration).c_str(),
                format_duration(s.network.latency.min).c_str(),
                format_duration(s.network.latency.median).c_str(),
                s.network.latency.tail_probability,
                format_duration(s.network.latency.tail_max).c_str(), s.network.loss,
                seconds(s.network.idle_timeout).c_str(), format_duration(s.ping_every).c_str());
  say(o, buf);
  if (s.discovery.enabled) {
    say(o, "discovery: network smalti.scenario." + s.name + ", bootstrap n0, announce every " +
               format_duration(s.discovery.announce_interval) + ", purge after " +
               format_duration(s.discovery.purge_after));
  }
  if (s.group_every > Duration::zero()) {
    std::snprintf(buf, sizeof buf,
                  "group: every %s, stores %s; disks: latency %s..%s, at a crash an unsynced "
                  "write is torn with p=%.2f, else kept with p=%.2f",
                  format_duration(s.group_every).c_str(), storage_name(s.group_storage),
                  format_duration(s.disk.min_latency).c_str(),
                  format_duration(s.disk.max_latency).c_str(), s.disk.torn_write_rate,
                  s.disk.unsynced_keep_rate);
    say(o, buf);
  }
  if (o.buggify) {
    const sim::WorldOptions defaults;
    std::snprintf(buf, sizeof buf,
                  "buggify: on until the last fault ends (points enabled with p=%.2f, fired with "
                  "p=%.2f; docs/buggify.md)",
                  defaults.buggify_enable_probability, defaults.buggify_fire_probability);
    say(o, buf);
  }
  Rng master(o.seed);
  std::snprintf(buf, sizeof buf,
                "derived seeds: network=%016" PRIx64 " node0=%016" PRIx64 " disk0=%016" PRIx64,
                master.derive_seed("network"), master.derive_seed("node", 0),
                master.derive_seed("disk", 0));
  say(o, buf);
}

// Builds the world of `scenario`: its nodes with their workload, and its fault schedule.
std::unique_ptr<sim::World> make_world(const Scenario& scenario, std::uint64_t seed, bool record,
                                       bool perturb, bool buggify, PingRecorder& recorder,
                                       DiscoveryWatch& watch, StreamRecorder& streams,
                                       GroupRecorder& group, const RunOptions* log) {
  auto state = std::make_shared<FaultState>();
  auto world = std::make_unique<sim::World>(sim::WorldOptions{
      .seed = seed, .network = scenario.network, .record_trace = record, .buggify = buggify});
  sim::World& w = *world;
  // BUGGIFY is a fault like the others: it ends with the last one.
  if (buggify) w.at(Instant() + last_fault_end(scenario), [&w] { w.set_buggify(false); });
  for (std::uint32_t i = 0; i < scenario.nodes; ++i) {
    sim::NodeSpec spec;
    spec.name = "n" + std::to_string(i);
    spec.options.ping.timeout = scenario.ping_timeout;
    if (scenario.discovery.enabled) {
      auto& config = spec.options.discovery;
      config = discovery::Config(NetworkId::from_string("smalti.scenario." + scenario.name));
      config.with_announce_interval(scenario.discovery.announce_interval)
          .with_purge_after(scenario.discovery.purge_after);
      if (i > 0) config.with_bootstrap(w.addr(0));
    }
    spec.options.groups.storage = storage_of(scenario.group_storage);
    const bool ping = scenario.ping_every > Duration::zero();
    const bool stream = scenario.stream_every > Duration::zero();
    const bool kv = scenario.group_every > Duration::zero();
    if (ping || stream || kv) {
      spec.setup = [&w, &recorder, &streams, &group, i, ping, stream, kv](Network& net) {
        if (ping) start_ping_workload(w, recorder, i, net);
        if (stream) streams.start(w, i, net);
        if (kv) group.start(w, i, net);
      };
    }
    const HostId host = w.add_node(std::move(spec));
    set_disk(w.disk(host), scenario.disk);
  }
  for (const FaultAction& f : scenario.faults) {
    w.at(Instant() + f.at, [&w, &f, &group, log, state] {
      if (log != nullptr)
        say(*log, "[" + seconds(w.now().since_origin()) + "] fault: " + describe(f));
      apply_fault(w, f, state);
      if (f.kind == FaultKind::kCrash) group.after_crash(w);
    });
  }
  watch.schedule(w, log != nullptr ? log->out : nullptr);
  if (scenario.group_every > Duration::zero()) {
    group.set_log(log != nullptr ? log->out : nullptr);
    group.watch_durability(w);
    w.set_step_observer([&w, &group](HostId host) { group.observe(w, host); });
  }
  // The self-check's test hook: halfway through, a perturbed run records one extra event, the
  // way an unseeded random draw or a timing race would. The event exists in every run so that
  // runs number their events alike.
  w.at(Instant() + scenario.duration / 2, [&w, perturb] {
    if (perturb) w.record(0, "perturbation", 1, 0, 0);
  });
  return world;
}

// What the simulated disks went through, when anything used them (durable group stores).
void say_disks(sim::World& world, const RunOptions& options) {
  sim::SimFileSystem::Stats total;
  for (HostId h = 0; h < world.host_count(); ++h) {
    const sim::SimFileSystem::Stats& s = world.disk(h).stats();
    total.writes += s.writes;
    total.syncs += s.syncs;
    total.io_errors_injected += s.io_errors_injected;
    total.crashes += s.crashes;
    total.ops_dropped_at_crash += s.ops_dropped_at_crash;
    total.writes_torn_at_crash += s.writes_torn_at_crash;
    total.files_lost_at_crash += s.files_lost_at_crash;
  }
  if (total.writes == 0) return;
  say(options,
      "disks: writes=" + std::to_string(total.writes) + " syncs=" + std::to_string(total.syncs) +
          " I/O errors injected=" + std::to_string(total.io_errors_injected) + " crashes=" +
          std::to_string(total.crashes) + "; at the crashes: unsynced writes dropped=" +
          std::to_string(total.ops_dropped_at_crash) +
          " torn=" + std::to_string(total.writes_torn_at_crash) +
          " unsynced files lost=" + std::to_string(total.files_lost_at_crash));
}

}  // namespace

RunReport run_scenario(const Scenario& scenario, const RunOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  RunReport report;
  report.seed = options.seed;
  PingRecorder recorder(scenario);
  DiscoveryWatch watch(scenario);
  StreamRecorder streams(scenario);
  GroupRecorder group(scenario);
  auto world_ptr = make_world(scenario, options.seed, !options.trace_path.empty(), options.perturb,
                              options.buggify, recorder, watch, streams, group, &options);
  sim::World& world = *world_ptr;
  print_header(scenario, options);
  world.run_until(Instant() + scenario.duration);
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  report.events = world.events_processed();
  report.trace_records = world.trace().count();
  report.virtual_time = world.now().since_origin();
  report.pings_started = recorder.started();
  report.pings_succeeded = recorder.succeeded();
  report.pings_failed = recorder.failed();
  report.checks = recorder.evaluate(world, scenario);
  for (CheckResult& r : watch.evaluate()) report.checks.push_back(std::move(r));
  for (CheckResult& r : streams.evaluate(world)) report.checks.push_back(std::move(r));
  for (CheckResult& r : group.evaluate(world)) report.checks.push_back(std::move(r));
  group.close();
  for (const Check& c : scenario.checks) {
    if (c.kind != CheckKind::kDeterminism) continue;
    const DeterminismReport d =
        check_determinism(scenario, options.seed, /*perturb_second_run=*/false, options.buggify);
    CheckResult r{"determinism", d.identical && d.first_hash == world.trace().hash_hex(), false,
                  ""};
    r.detail = r.passed ? "two more runs of seed " + std::to_string(options.seed) +
                              " gave the same " + std::to_string(d.records) + " trace records"
                        : "runs differ at event " + std::to_string(d.first_difference.value_or(0)) +
                              ": " + d.first_event + " vs " + d.second_event;
    report.checks.push_back(std::move(r));
  }
  for (const CheckResult& c : report.checks) {
    if (c.passed) continue;
    if (!c.is_liveness)
      report.verdict = Verdict::kSafetyFailure;
    else if (report.verdict == Verdict::kPass)
      report.verdict = Verdict::kLivenessFailure;
  }
  if (!options.trace_path.empty()) {
    std::ofstream out(options.trace_path);
    world.trace().write_jsonl(out);
  }
  report.trace_hash = world.trace().hash_hex();

  std::string faults = "faults injected:";
  for (const sim::FaultCount& f : world.faults())
    faults += " " + f.kind + "=" + std::to_string(f.count);
  if (world.faults().empty()) faults += " none";
  say(options, faults);
  const auto& net = world.net().stats();
  say(options, "network: frames delivered=" + std::to_string(net.frames_delivered) +
                   " delayed by loss=" + std::to_string(net.frames_delayed_by_loss) +
                   " stalled=" + std::to_string(net.frames_stalled) + " links opened=" +
                   std::to_string(net.links_opened) + " reset=" + std::to_string(net.links_reset));
  if (scenario.stream_every > Duration::zero()) {
    std::string per_node;
    for (HostId h = 1; h < world.host_count(); ++h) {
      const bool slow = std::find(scenario.stream_slow.begin(), scenario.stream_slow.end(), h) !=
                        scenario.stream_slow.end();
      per_node += " n" + std::to_string(h) + "=" + std::to_string(streams.received(h)) +
                  (slow ? "(slow)" : "");
    }
    say(options,
        "stream: ticks sent by n0=" + std::to_string(streams.sent()) + "; received:" + per_node);
  }
  if (scenario.group_every > Duration::zero()) say(options, group.summary());
  say_disks(world, options);
  say(options, "pings: started=" + std::to_string(report.pings_started) +
                   " succeeded=" + std::to_string(report.pings_succeeded) +
                   " failed or timed out=" + std::to_string(report.pings_failed));
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "events processed=%" PRIu64 " trace records=%" PRIu64
                " virtual time=%s wall time=%.3fs speed-up=%.0fx",
                report.events, report.trace_records, seconds(report.virtual_time).c_str(),
                report.wall_seconds,
                report.wall_seconds > 0
                    ? static_cast<double>(report.virtual_time.count()) / 1e9 / report.wall_seconds
                    : 0.0);
  say(options, buf);
  std::size_t passed = 0;
  for (const CheckResult& c : report.checks) {
    say(options, "check " + c.name + ": " + (c.passed ? "PASS" : "FAIL") + " (" + c.detail + ")");
    passed += c.passed ? 1 : 0;
  }
  say(options,
      "checks passed: " + std::to_string(passed) + "/" + std::to_string(report.checks.size()));
  say(options, std::string("verdict: ") + (report.verdict == Verdict::kPass ? "pass"
                                           : report.verdict == Verdict::kLivenessFailure
                                               ? "liveness failure"
                                               : "safety failure"));
  say(options, "trace_hash=" + report.trace_hash);
  return report;
}

DeterminismReport check_determinism(const Scenario& scenario, std::uint64_t seed,
                                    bool perturb_second_run, bool buggify) {
  DeterminismReport report;
  std::vector<std::unique_ptr<sim::Trace>> traces;
  std::vector<std::string> hashes;
  for (int run = 0; run < 2; ++run) {
    PingRecorder recorder(scenario);
    DiscoveryWatch watch(scenario);
    StreamRecorder streams(scenario);
    GroupRecorder group(scenario);
    auto world_ptr = make_world(scenario, seed, true, run == 1 && perturb_second_run, buggify,
                                recorder, watch, streams, group, nullptr);
    sim::World& world = *world_ptr;
    world.run_until(Instant() + scenario.duration);
    group.close();
    hashes.push_back(world.trace().hash_hex());
    traces.push_back(std::make_unique<sim::Trace>(world.trace()));
  }
  report.first_hash = hashes[0];
  report.second_hash = hashes[1];
  report.records = traces[0]->count();
  report.first_difference = sim::Trace::first_difference(*traces[0], *traces[1]);
  report.identical = !report.first_difference.has_value() && hashes[0] == hashes[1];
  if (report.first_difference) {
    const std::size_t i = *report.first_difference;
    const auto& a = traces[0]->records();
    const auto& b = traces[1]->records();
    report.first_event = i < a.size() ? traces[0]->describe(a[i]) : "(run ended)";
    report.second_event = i < b.size() ? traces[1]->describe(b[i]) : "(run ended)";
  }
  return report;
}

}  // namespace smalti::scenarios
