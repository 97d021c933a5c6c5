// The bench mode of smalti-node (--bench INFLIGHT:COMMANDS, repeatable): once the group is
// online, this node runs each phase in turn, `inflight` callers each executing one command at a
// time until `commands` commands have been executed, and prints one line per phase:
//
//   bench inflight=256 commands=100000 payload=80 failed=0 seconds=4.1 per_second=24390
//         p50_us=10250 p90_us=... p99_us=... max_us=... leader=yes      (one line)
//
// Latency is from the call to execute() to its completion (committed and applied here).
// Commands are `payload` bytes: a unique 16-byte key (this node's id and a counter) then filler,
// like a 16-byte key and a 64-byte value. After the last phase it prints "bench done" and calls
// `done`. Executor thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "node_group.hpp"
#include "smalti/groups/groups.hpp"
#include "smalti/network.hpp"

namespace smalti::real::node {

struct BenchPhase {
  std::uint32_t inflight = 1;
  std::uint32_t commands = 0;
};

struct BenchMode {
  std::vector<BenchPhase> phases;  // empty: no bench
  std::uint32_t payload = 80;      // bytes per command, at least 16
  // Run only if this node leads the group once it is online ("bench skipped: not the leader"
  // otherwise), so that every node can be started alike and the leader is the client.
  bool leader_only = false;
  bool on_follower = false;  // with leader_only: run only if this node does not lead
};

// "INFLIGHT:COMMANDS", both positive, inflight at most kMaxBenchInflight.
bool parse_bench_phase(const std::string& text, BenchPhase& phase);
inline constexpr std::uint32_t kMaxBenchInflight = 4096;

Task<void> run_bench(Network& net, groups::Group<CommandLog> group, BenchMode mode, Say say,
                     std::function<void()> done);

}  // namespace smalti::real::node
