#include "smalti/scenarios/runner.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "smalti/scenarios/isolation.hpp"

namespace smalti::scenarios {
namespace {

const char* kSmall = R"(
  name small
  nodes 4
  duration 30s
  latency 500us 2ms tail 0.02 100ms
  loss 0.02
  idle-timeout 5s
  workload ping every 400ms timeout 2s
  at 3s partition 0,1 | 2,3
  at 8s heal
  at 9s crash 3
  at 12s restart 3
  check ping-safety
  check ping-liveness within 8s
)";

Scenario small() {
  auto s = parse_scenario(kSmall);
  SMALTI_ASSERT(s.is_ok());
  return std::move(s).value();
}

TEST(ScenarioRunner, PassesAndReportsWhatItChecked) {
  std::ostringstream out;
  RunOptions options;
  options.seed = 5;
  options.out = &out;
  const RunReport report = run_scenario(small(), options);
  EXPECT_EQ(report.verdict, Verdict::kPass) << out.str();
  EXPECT_GT(report.pings_succeeded, 100u);
  EXPECT_GT(report.events, 1000u);
  ASSERT_EQ(report.checks.size(), 2u);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("seed=5\n", 0), 0u) << "the seed must be printed first";
  EXPECT_NE(text.find("\ntrace_hash=" + report.trace_hash + "\n"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - report.trace_hash.size() - 12),
            "trace_hash=" + report.trace_hash + "\n");
  EXPECT_NE(text.find("[9.000s] fault: crash 3"), std::string::npos);
  EXPECT_NE(text.find("check ping-liveness within 8.000s: PASS"), std::string::npos);
}

TEST(ScenarioRunner, SameSeedSameHashDifferentSeedDifferentHash) {
  RunOptions a;
  a.seed = 11;
  RunOptions b = a;
  RunOptions c = a;
  c.seed = 12;
  const Scenario s = small();
  EXPECT_EQ(run_scenario(s, a).trace_hash, run_scenario(s, b).trace_hash);
  EXPECT_NE(run_scenario(s, a).trace_hash, run_scenario(s, c).trace_hash);
}

TEST(ScenarioRunner, PartitionThatNeverHealsIsALivenessFailure) {
  auto s = parse_scenario(R"(
    nodes 3
    duration 20s
    workload ping every 500ms timeout 2s
    at 2s partition 0 | 1,2
    check ping-liveness within 10s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  RunOptions options;
  const RunReport report = run_scenario(*s, options);
  EXPECT_EQ(report.verdict, Verdict::kLivenessFailure);
  ASSERT_EQ(report.checks.size(), 1u);
  EXPECT_NE(report.checks[0].detail.find("missing: n0->n1"), std::string::npos)
      << report.checks[0].detail;
}

TEST(ScenarioRunner, DiscoveryConvergesAndReportsCatalogSizes) {
  auto s = parse_scenario(R"(
    nodes 8
    duration 40s
    discovery announce 5s purge 20s report every 10s
    at 5s crash 3
    at 12s restart 3
    check discovery-converged within 10s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  std::ostringstream out;
  RunOptions options;
  options.out = &out;
  const RunReport report = run_scenario(*s, options);
  EXPECT_EQ(report.verdict, Verdict::kPass) << out.str();
  EXPECT_NE(out.str().find("[10.000s] discovery: 7/7 live nodes"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("peers known per node: 7 7 7 - 7 7 7 7"), std::string::npos)
      << out.str();
}

TEST(ScenarioRunner, DiscoveryThatCannotConvergeIsALivenessFailure) {
  // Node 0 is everyone's bootstrap: cut off from the start, the others never meet.
  auto s = parse_scenario(R"(
    nodes 4
    duration 30s
    discovery
    at 0s partition 0 | 1,2,3
    check discovery-converged within 20s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const RunReport report = run_scenario(*s, RunOptions{});
  EXPECT_EQ(report.verdict, Verdict::kLivenessFailure);
  ASSERT_EQ(report.checks.size(), 1u);
  EXPECT_EQ(report.checks[0].name, "discovery-converged");
}

TEST(ScenarioRunner, StreamFeedKeepsFastConsumersWhole) {
  auto s = parse_scenario(R"(
    nodes 5
    duration 40s
    discovery announce 5s
    workload stream every 50ms slow 4
    at 10s partition 0 | 1,2
    at 15s heal
    check stream-order
    check stream-liveness within 5s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  std::ostringstream out;
  RunOptions options;
  options.out = &out;
  const RunReport report = run_scenario(*s, options);
  EXPECT_EQ(report.verdict, Verdict::kPass) << out.str();
  EXPECT_NE(out.str().find("n4=0(slow)"), std::string::npos) << out.str();
}

TEST(ScenarioRunner, StreamCutOffForGoodIsALivenessFailure) {
  auto s = parse_scenario(R"(
    nodes 3
    duration 30s
    discovery
    workload stream every 100ms
    at 10s partition 0 | 2
    check stream-liveness within 5s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const RunReport report = run_scenario(*s, RunOptions{});
  EXPECT_EQ(report.verdict, Verdict::kLivenessFailure);
  ASSERT_EQ(report.checks.size(), 1u);
  EXPECT_NE(report.checks[0].detail.find("missed"), std::string::npos) << report.checks[0].detail;
}

TEST(ScenarioRunner, DeterminismSelfCheckPassesAndNamesAnInjectedDivergence) {
  const Scenario s = small();
  const DeterminismReport same = check_determinism(s, 3);
  EXPECT_TRUE(same.identical);
  EXPECT_EQ(same.first_hash, same.second_hash);
  EXPECT_GT(same.records, 1000u);

  const DeterminismReport perturbed = check_determinism(s, 3, /*perturb_second_run=*/true);
  EXPECT_FALSE(perturbed.identical);
  EXPECT_NE(perturbed.first_hash, perturbed.second_hash);
  ASSERT_TRUE(perturbed.first_difference.has_value());
  EXPECT_NE(perturbed.second_event.find("kind=perturbation"), std::string::npos)
      << perturbed.second_event;
  EXPECT_NE(perturbed.second_event.find("t=15.000s"), std::string::npos) << perturbed.second_event;
}

TEST(ScenarioRunner, ChildProcessCrashIsReportedAs127) {
  EXPECT_EQ(run_in_child([] { return 0; }, true), 0);
  EXPECT_EQ(run_in_child([] { return 128; }, true), 128);
  EXPECT_EQ(run_in_child([] { return 129; }, true), 129);
  EXPECT_EQ(run_in_child([]() -> int { std::abort(); }, true), kCrashExitCode);
  EXPECT_EQ(run_in_child([] { return 3; }, true), kCrashExitCode);
}

// Runs the smalti-sim binary and returns (exit code, output).
std::pair<int, std::string> run_cli(const std::string& args) {
  const std::string cmd = std::string(SMALTI_SIM_BINARY) + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string output;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) output.append(buf.data(), n);
  const int status = pclose(pipe.release());
  return {WEXITSTATUS(status), output};
}

std::string trace_hash_of(const std::string& output) {
  const auto at = output.rfind("trace_hash=");
  return at == std::string::npos ? "" : output.substr(at + 11, 32);
}

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/smalti-scenario-XXXXXX";
  const int fd = mkstemp(path);
  SMALTI_ASSERT(fd >= 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(SmaltiSimCli, SameSeedGivesSameHashAcrossProcesses) {
  const std::string demo = std::string(SMALTI_SOURCE_DIR) + "/scenarios/files/demo.scn";
  const auto [code1, out1] = run_cli("run " + demo + " --seed 9");
  const auto [code2, out2] = run_cli("run " + demo + " --seed 9");
  const auto [code3, out3] = run_cli("run " + demo + " --seed 10");
  EXPECT_EQ(code1, 0) << out1;
  EXPECT_EQ(out1.rfind("seed=9\n", 0), 0u);
  ASSERT_EQ(trace_hash_of(out1).size(), 32u);
  EXPECT_EQ(trace_hash_of(out1), trace_hash_of(out2));
  EXPECT_NE(trace_hash_of(out1), trace_hash_of(out3));
}

TEST(SmaltiSimCli, ExitCodesSeparateFailureKinds) {
  const std::string never_heals = write_temp(
      "nodes 3\nduration 20s\nworkload ping every 500ms\nat 2s partition 0 | 1,2\n"
      "check ping-liveness within 10s\n");
  EXPECT_EQ(run_cli("run " + never_heals + " --seed 1").first, 128);
  std::remove(never_heals.c_str());
  const std::string broken = write_temp("nodes 3\nduration 20s\nat 1s teleport 0\n");
  const auto [code, out] = run_cli("run " + broken);
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("line 3: unknown fault 'teleport'"), std::string::npos) << out;
  std::remove(broken.c_str());
  EXPECT_EQ(run_cli("frobnicate").first, 2);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(SmaltiSimCli, SwarmRunsManySeedsAndSummarises) {
  const std::string demo = std::string(SMALTI_SOURCE_DIR) + "/scenarios/files/demo.scn";
  // Fewer seeds under the sanitizers (CMakeLists.txt), where each run is many times slower.
  const std::string seeds = kSanitized ? "4" : "12";
  const auto [code, out] = run_cli("swarm " + demo + " --seeds " + seeds + " --from 100");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("swarm summary: seeds=" + seeds + " passed=" + seeds + " failed=0"),
            std::string::npos)
      << out;
}

TEST(SmaltiSimCli, TraceIsWrittenAsJsonLines) {
  const std::string demo = std::string(SMALTI_SOURCE_DIR) + "/scenarios/files/demo.scn";
  const std::string path = "/tmp/smalti-trace-test.jsonl";
  const auto [code, out] = run_cli("run " + demo + " --seed 2 --trace " + path);
  ASSERT_EQ(code, 0) << out;
  std::ifstream in(path);
  std::string line;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    ASSERT_EQ(line.front(), '{');
    ASSERT_NE(line.find("\"kind\":"), std::string::npos);
    ++lines;
  }
  EXPECT_GT(lines, 1000u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace smalti::scenarios

namespace smalti::scenarios {
namespace {

// Regression (review finding): a slowed clock reads round trips shorter than the global
// minimum, and a sped-up one fires timeouts early; neither is a safety violation.
TEST(ScenarioRunner, DriftingClocksDoNotFailPingSafety) {
  auto s = parse_scenario(R"(
    nodes 3
    duration 30s
    workload ping every 200ms timeout 2s
    at 1s drift 0 -400000ppm
    at 1s drift 1 +400000ppm
    at 2400ms partition 0 | 1,2
    at 3s drift 0 +300000ppm
    at 8s heal
    check ping-safety
    check ping-liveness within 10s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    RunOptions options;
    options.seed = seed;
    const RunReport report = run_scenario(*s, options);
    EXPECT_EQ(report.verdict, Verdict::kPass)
        << "seed " << seed << ": " << report.checks[0].detail << " / " << report.checks[1].detail;
  }
}

TEST(ScenarioRunner, OverlappingPausesResumeAtTheLaterEnd) {
  auto s = parse_scenario(R"(
    nodes 2
    duration 30s
    workload ping every 500ms timeout 2s
    at 2s pause 0 for 10s
    at 4s pause 0 for 2s
    check ping-safety
    check ping-liveness within 10s
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  std::ostringstream out;
  RunOptions options;
  options.out = &out;
  options.trace_path = "/tmp/smalti-pause-trace.jsonl";
  const RunReport report = run_scenario(*s, options);
  EXPECT_EQ(report.verdict, Verdict::kPass) << out.str();
  std::ifstream trace(options.trace_path);
  std::string line;
  int resumes = 0;
  while (std::getline(trace, line)) {
    if (line.find("\"kind\":\"resume\"") == std::string::npos) continue;
    ++resumes;
    EXPECT_NE(line.find("\"t\":12000000000"), std::string::npos) << line;
  }
  EXPECT_EQ(resumes, 1);
  std::remove(options.trace_path.c_str());
}

}  // namespace
}  // namespace smalti::scenarios

namespace smalti::scenarios {
namespace {

TEST(SmaltiSimCli, CheckDeterminismComparesTwoProcesses) {
  const std::string demo = std::string(SMALTI_SOURCE_DIR) + "/scenarios/files/demo.scn";
  const auto [code, out] = run_cli("check-determinism " + demo + " --seed 4");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("seed=4\n", 0), 0u) << out;
  EXPECT_NE(out.find("deterministic: two processes produced the same"), std::string::npos) << out;
}

}  // namespace
}  // namespace smalti::scenarios
