// smalti-node: one smalti node on the real network (QUIC over UDP).
//
//   smalti-node --listen 127.0.0.1:7000 --identity a.key --network demo
//   smalti-node --listen 127.0.0.1:7001 --identity b.key --network demo
//               --bootstrap <peer id of a>@127.0.0.1:7000 --tag oracle   (one line)
//
// It runs discovery and the ping service, prints "listening <peer id>@<address>" first, then one
// line per catalog change (discovered / departed, with the catalog size) and per ping of a newly
// discovered peer. SIGINT or SIGTERM make it announce its departure and exit.
//
// With --group SECRET it also joins a Raft group running a replicated command log
// (node_group.hpp), submits --commands N commands to it and prints the log's state on every
// commit; --bootstrap-expect, --heartbeat-interval, --election-timeout and --bootstrap-delay set
// the group's ConsensusConfig (the jitters follow: 30% of the heartbeat, 25% of the timeout).
// With --data-dir DIR (and the same --identity across runs) the group's term, vote and log are
// kept in SQLite under DIR/<peer id>/, so a killed node resumes its membership and its log.
// --snapshot-every N snapshots the command log every N entries and prunes the log up to
// --snapshot-keep N entries before it (SnapshotPolicy; defaults 10,000 and 1,000).
// --quiet-state drops the per-commit state lines. --bench INFLIGHT:COMMANDS (repeatable, with
// --bench-payload BYTES, --bench-leader-only) runs the bench mode (node_bench.hpp) and exits
// after its last phase.
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "node_bench.hpp"
#include "node_group.hpp"
#include "smalti/real/metrics_server.hpp"
#include "smalti/real/real_network.hpp"

namespace {

using namespace smalti;

struct Args {
  real::RealNetworkOptions options;
  std::string network = "smalti";
  std::vector<std::string> bootstrap;
  std::vector<std::string> tags;
  std::string metrics;
  real::node::GroupMode group;
  real::node::BenchMode bench;
};

void usage() {
  std::fprintf(stderr,
               "usage: smalti-node [--listen HOST:PORT] [--advertise HOST:PORT] [--identity FILE]\n"
               "                   [--data-dir DIR]   (durable groups, in DIR/<peer id>/)\n"
               "                   [--network NAME]\n"
               "                   [--bootstrap PEER@HOST:PORT]... [--tag TAG]...\n"
               "                   [--announce-interval SECONDS] [--purge-after SECONDS]\n"
               "                   [--metrics HOST:PORT]   (Prometheus text over HTTP)\n"
               "                   [--group SECRET [--commands N] [--bootstrap-expect N]\n"
               "                    [--heartbeat-interval MS] [--election-timeout MS]\n"
               "                    [--bootstrap-delay MS] [--print-applied]\n"
               "                    [--command-prefix TEXT] [--quiet-state]\n"
               "                    [--snapshot-every N] [--snapshot-keep N]\n"
               "                    [--bench INFLIGHT:COMMANDS]... [--bench-payload BYTES]\n"
               "                    [--bench-leader-only]]\n");
}

constexpr unsigned kMaxBenchPayload = 1u << 20;

std::optional<unsigned> positive(const std::string& text) {
  unsigned n = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (err != std::errc() || end != text.data() + text.size() || n == 0) return std::nullopt;
  return n;
}

std::optional<Duration> seconds(const std::string& text) {
  auto n = positive(text);
  if (!n) return std::nullopt;
  return Duration(std::chrono::seconds(*n));
}

std::optional<Duration> milliseconds(const std::string& text) {
  auto n = positive(text);
  if (!n) return std::nullopt;
  return Duration(std::chrono::milliseconds(*n));
}

// The group flags; false when `flag` is not one of them or its value is invalid.
bool parse_group_flag(const std::string& flag, const std::string& value, Args& args) {
  groups::ConsensusConfig& c = args.group.consensus;
  if (flag == "--group") {
    args.group.secret = value;
    return true;
  }
  if (flag == "--command-prefix") {
    args.group.command_prefix = value;
    return true;
  }
  if (flag == "--commands") {
    unsigned n = 0;
    const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), n);
    args.group.commands = n;
    return err == std::errc() && end == value.data() + value.size();
  }
  if (flag == "--bench") {
    real::node::BenchPhase phase;
    if (!real::node::parse_bench_phase(value, phase)) return false;
    args.bench.phases.push_back(phase);
    return true;
  }
  if (flag == "--bench-payload") {
    auto n = positive(value);
    if (n) args.bench.payload = *n;
    return n.has_value() && *n >= 16 && *n <= kMaxBenchPayload;
  }
  if (flag == "--snapshot-every" || flag == "--snapshot-keep") {
    std::uint64_t n = 0;
    const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), n);
    (flag == "--snapshot-every" ? args.group.snapshots.every_entries
                                : args.group.snapshots.retain_entries) = n;
    return err == std::errc() && end == value.data() + value.size();
  }
  if (flag == "--bootstrap-expect") {
    auto n = positive(value);
    if (n) c.with_bootstrap_expect(*n);
    return n.has_value();
  }
  auto ms = milliseconds(value);
  if (!ms) return false;
  if (flag == "--heartbeat-interval") {
    c.with_heartbeat_interval(*ms).with_heartbeat_jitter(*ms * 3 / 10);
  } else if (flag == "--election-timeout") {
    c.with_election_timeout(*ms).with_election_timeout_jitter(*ms / 4);
  } else if (flag == "--bootstrap-delay") {
    c.with_bootstrap_delay(*ms);
  } else {
    return false;
  }
  return true;
}

bool parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--print-applied") {
      args.group.print_applied = true;
      continue;
    }
    if (flag == "--quiet-state") {  // the flags without a value
      args.group.print_state = false;
      continue;
    }
    if (flag == "--bench-leader-only" || flag == "--bench-follower-only") {
      args.bench.leader_only = true;
      args.bench.on_follower = flag == "--bench-follower-only";
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--listen") {
      args.options.bind = value;
    } else if (flag == "--identity") {
      args.options.identity_file = value;
    } else if (flag == "--data-dir") {
      args.options.data_dir = value;
    } else if (flag == "--network") {
      args.network = value;
    } else if (flag == "--bootstrap") {
      args.bootstrap.push_back(value);
    } else if (flag == "--metrics") {
      args.metrics = value;
    } else if (flag == "--tag") {
      args.tags.push_back(value);
    } else if (flag == "--advertise") {
      args.options.quic.advertise = value;
    } else if (flag == "--announce-interval") {
      auto s = seconds(value);
      if (!s) return false;
      args.options.network.discovery.announce_interval = *s;
    } else if (flag == "--purge-after") {
      auto s = seconds(value);
      if (!s) return false;
      args.options.network.discovery.purge_after = *s;
    } else if (!parse_group_flag(flag, value, args)) {
      return false;
    }
  }
  return true;
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Task<void> report(Network& net) {
  auto events = net.discovery().events();
  while (true) {
    discovery::EventOrLag next = co_await events.next();
    if (auto* lag = std::get_if<discovery::Lagged>(&next)) {
      say("events lagged: " + std::to_string(lag->missed) + " missed");
      continue;
    }
    const auto& event = std::get<discovery::Event>(next);
    const std::string size = " (catalog: " + std::to_string(net.discovery().peers_count()) + ")";
    if (auto* found = std::get_if<discovery::PeerDiscovered>(&event)) {
      const PeerAddr addr = found->entry.address;
      say("discovered " + real::format_peer_addr(addr) + size);
      net.ping().ping(addr, [addr](Result<Duration> rtt) {
        if (rtt.is_ok()) {
          say("ping " + addr.id.to_hex() + " rtt=" + format_duration(*rtt));
        } else {
          say("ping " + addr.id.to_hex() + " failed: " + rtt.status().message());
        }
      });
    } else if (auto* gone = std::get_if<discovery::PeerDeparted>(&event)) {
      say("departed " + gone->peer.to_hex() + size);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    usage();
    return 2;
  }
  args.options.network.node.name = "smalti-node";
  auto& discovery = args.options.network.discovery;
  discovery.network = NetworkId::from_string(args.network);
  for (const std::string& b : args.bootstrap) {
    auto addr = real::parse_peer_addr(b);
    if (!addr.is_ok()) {
      std::fprintf(stderr, "smalti-node: %s\n", addr.status().message().c_str());
      return 2;
    }
    discovery.with_bootstrap(*addr);
  }
  for (const std::string& t : args.tags) discovery.with_tag(Tag::from_string(t));
  args.options.quic.log = [](const std::string& line) {
    std::fprintf(stderr, "smalti-node: %s\n", line.c_str());
  };

  real::Runtime runtime;
  auto node = real::RealNetwork::create(runtime, std::move(args.options));
  if (!node.is_ok()) {
    std::fprintf(stderr, "smalti-node: %s\n", node.status().to_string().c_str());
    return 1;
  }
  Network& net = (*node)->network();
  say("listening " + real::format_peer_addr(net.addr()));
  std::unique_ptr<real::MetricsServer> metrics;
  if (!args.metrics.empty()) {
    auto server = real::MetricsServer::start(runtime, **node, args.metrics);
    if (!server.is_ok()) {
      std::fprintf(stderr, "smalti-node: %s\n", server.status().to_string().c_str());
      return 1;
    }
    metrics = std::move(server).value();
    say("metrics http://" + metrics->address() + "/metrics");
  }
  net.spawn(report(net));
  // The node's membership of its group: held until the process ends, whatever its tasks do (a
  // member whose last handle goes leaves the group).
  std::optional<groups::Group<real::node::CommandLog>> membership;
  if (!args.group.secret.empty()) {
    if (Status s = args.group.consensus.validate(); !s.is_ok()) {
      std::fprintf(stderr, "smalti-node: %s\n", s.to_string().c_str());
      return 2;
    }
    auto group = real::node::start_group_mode(net, args.group, say);
    if (!group.is_ok()) {
      std::fprintf(stderr, "smalti-node: %s\n", group.status().to_string().c_str());
      return 1;
    }
    membership = *group;
    if (!args.bench.phases.empty()) {
      net.spawn(real::node::run_bench(net, *group, args.bench, say, [&net, &runtime] {
        net.discovery().depart([&runtime] { runtime.stop(); });
      }));
    }
  }
  runtime.stop_on_signals([&](int) {
    say("leaving");
    net.discovery().depart([&runtime] { runtime.stop(); });
  });
  runtime.run();
  return 0;
}
