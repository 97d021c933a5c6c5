// The scenario runner: builds a World from a Scenario, runs it, checks it, reports.
//
// run_scenario() prints "seed=<n>" first and "trace_hash=<hex>" last, with the faults it
// injected, the events it processed, virtual against wall time and each check's verdict between.
// Verdicts map to the runner's exit codes: 0 pass, 128 liveness failure, 129 safety or
// correctness failure (127, a crash, is detected by the process that forks the run).
// Single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "smalti/scenarios/scenario.hpp"

namespace smalti::scenarios {

enum class Verdict : std::uint8_t { kPass = 0, kLivenessFailure = 128, kSafetyFailure = 129 };
inline constexpr int kCrashExitCode = 127;

struct RunOptions {
  std::uint64_t seed = 1;
  // Where the report goes; null for silence.
  std::ostream* out = nullptr;
  // Write every trace record as JSON Lines to this path.
  std::string trace_path;
  // Test hook for the determinism self-check: adds one extra event to the run.
  bool perturb = false;
  // BUGGIFY (docs/buggify.md): the fault points are on, with the World's default probabilities,
  // until the last fault of the scenario ends (its checks count from there). Swarm runs set it.
  bool buggify = false;
};

struct CheckResult {
  std::string name;
  bool passed = false;
  bool is_liveness = false;
  std::string detail;
};

struct RunReport {
  std::uint64_t seed = 0;
  std::string trace_hash;
  std::uint64_t events = 0;
  std::uint64_t trace_records = 0;
  Duration virtual_time{0};
  double wall_seconds = 0;
  std::uint64_t pings_started = 0;
  std::uint64_t pings_succeeded = 0;
  std::uint64_t pings_failed = 0;
  std::vector<CheckResult> checks;
  Verdict verdict = Verdict::kPass;
};

RunReport run_scenario(const Scenario& scenario, const RunOptions& options);

struct DeterminismReport {
  bool identical = false;
  std::string first_hash;
  std::string second_hash;
  std::uint64_t records = 0;
  // When the runs differ: the index of the first differing event and both versions of it.
  std::optional<std::size_t> first_difference;
  std::string first_event;
  std::string second_event;
};

// Runs the scenario twice with the same seed (the second time perturbed if asked) and compares
// the traces record by record.
DeterminismReport check_determinism(const Scenario& scenario, std::uint64_t seed,
                                    bool perturb_second_run = false, bool buggify = false);

}  // namespace smalti::scenarios
