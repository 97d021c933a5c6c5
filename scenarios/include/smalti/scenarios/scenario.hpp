// Scenario: a simulated run described in a small text file (format: scenarios/README.md).
//
// A scenario names the cluster (nodes, network), the workload, the faults at given virtual
// times and the checks to run. parse_scenario() turns text into a Scenario or a Status naming
// the line and the problem; its input is bounded (kMaxLines, kMaxNodes, ...). Value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/sim/network.hpp"

namespace smalti::scenarios {

using sim::HostId;

inline constexpr std::size_t kMaxLines = 10'000;
inline constexpr std::size_t kMaxLineLength = 1'000;
inline constexpr std::uint32_t kMaxNodes = 10'000;
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 365);

enum class FaultKind : std::uint8_t {
  kPartition,        // a | b, both ways
  kPartitionOneWay,  // a -> b
  kHeal,             // every partition
  kFlap,             // a | b every P until T
  kCrash,
  kRestart,
  kPause,       // host for D (resumes after D)
  kClogHost,    // host for D
  kClogPair,    // a b for D
  kResetLinks,  // host
  kClockJump,   // host +/-D (wall clock step)
  kClockDrift,  // host +/-N ppm
  kLoss,        // probability
  kLatency,     // min median [tail P max]
  kDiskFaults,  // host error-rate P (I/O errors on every op kind)
};

struct FaultAction {
  Duration at{0};
  FaultKind kind = FaultKind::kHeal;
  std::vector<HostId> side_a;
  std::vector<HostId> side_b;
  Duration duration{0};  // pause, clog, jump (signed)
  Duration period{0};    // flap
  Duration until{0};     // flap
  std::int64_t ppm = 0;
  double probability = 0;
  sim::LatencyModel latency;
  std::string text;  // the line as written, for logs
};

enum class CheckKind : std::uint8_t {
  kPingSafety,
  kPingLiveness,
  kDeterminism,
  kDiscoveryConverged,
  kStreamOrder,
  kStreamLiveness,
  kGroupSafety,
  kGroupLinearizable,
  kGroupLiveness,
  kGroupLogSurvived,
};

struct Check {
  CheckKind kind = CheckKind::kPingSafety;
  Duration within{0};  // liveness bound
};

// Every node runs discovery on the scenario's network, bootstrapping from node 0.
struct DiscoverySpec {
  bool enabled = false;
  Duration announce_interval = 45s;
  Duration purge_after = 300s;
  Duration report_every{0};  // zero: no catalog-size lines
};

// Where the group workload's members keep their term, vote and log.
enum class GroupStorage : std::uint8_t {
  kMemory,    // in-memory stores over the simulator's per-host medium (survives a crash)
  kDurable,   // SQLite files on the host's simulated disk (storage::sqlite_storage())
  kVolatile,  // in-memory stores lost at a crash: a restarted member starts empty (for tests)
};

// The simulated disks of every host, from the start (sim::DiskFaults): the latency of each
// operation, and what a crash does to writes not yet synced.
struct DiskSpec {
  Duration min_latency{0};
  Duration max_latency{0};
  double unsynced_keep_rate = 0.5;  // a not-torn unsynced write survives a crash
  double torn_write_rate = 0.5;     // an unsynced write is torn at a crash
};

struct Scenario {
  std::string name;
  std::uint32_t nodes = 0;
  Duration duration{0};
  sim::NetworkConfig network;
  Duration ping_every{0};  // zero: no ping workload
  Duration ping_timeout = 5s;
  DiscoverySpec discovery;
  Duration stream_every{0};  // zero: no stream workload
  std::vector<HostId> stream_slow;
  Duration group_every{0};  // zero: no group workload
  GroupStorage group_storage = GroupStorage::kMemory;
  DiskSpec disk;
  std::vector<FaultAction> faults;  // ordered by time, then by line
  std::vector<Check> checks;
};

Result<Scenario> parse_scenario(std::string_view text);
Result<Scenario> load_scenario(const std::string& path);

// When the last fault's effect ends: the latest of every fault's time, or its end for pauses,
// clogs and flaps. A partition or crash that is never undone therefore leaves the cluster
// split after this point, and a liveness check over it fails, as it should.
Duration last_fault_end(const Scenario& scenario);

std::string describe(const FaultAction& action);

}  // namespace smalti::scenarios
