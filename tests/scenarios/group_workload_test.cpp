// The group workload's group-log-survived check: it passes when every acknowledged put is still
// at its index in every member's log after a whole-cluster crash (durable SQLite members on the
// simulated disks), and fails as a safety failure when the crash wiped the logs (volatile
// members).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "smalti/scenarios/runner.hpp"

namespace smalti::scenarios {
namespace {

// Three members, disk faults for a second, then every node crashes (the disks keep none of the
// writes not yet synced, and tear half of them) and restarts.
std::string whole_cluster_crash(const std::string& storage) {
  return R"(
    name log-survived
    nodes 3
    duration 24s
    latency 500us 2ms
    discovery announce 5s
    workload group every 50ms )" +
         storage + R"(
    disk latency 50us 2ms keep 0 torn 0.5
    at 8s disk-errors all 0.01
    at 9s disk-errors all 0
    at 10s crash all
    at 11s restart all
    check group-safety
    check group-linearizable
    check group-liveness within 8s
    check group-log-survived
  )";
}

// Runs whole_cluster_crash(storage) with seed 3; its report goes to `out`.
RunReport run_whole_cluster_crash(const std::string& storage, std::ostringstream& out) {
  auto s = parse_scenario(whole_cluster_crash(storage));
  SMALTI_ASSERT(s.is_ok(), "the whole-cluster crash scenario does not parse");
  RunOptions options;
  options.seed = 3;
  options.out = &out;
  return run_scenario(*s, options);
}

const CheckResult* find_check(const RunReport& report, const std::string& name) {
  for (const CheckResult& c : report.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST(GroupLogSurvived, DurableMembersKeepEveryAcknowledgedPutThroughAWholeClusterCrash) {
  std::ostringstream out;
  const RunReport report = run_whole_cluster_crash("durable", out);
  EXPECT_EQ(report.verdict, Verdict::kPass) << out.str();
  const CheckResult* check = find_check(report, "group-log-survived");
  ASSERT_NE(check, nullptr);
  EXPECT_TRUE(check->passed) << check->detail;
  EXPECT_NE(check->detail.find(" 0 lost or changed"), std::string::npos) << check->detail;
  EXPECT_NE(check->detail.find("acknowledged before the last whole-cluster crash (at 10.000s"),
            std::string::npos)
      << check->detail;
  EXPECT_EQ(check->detail.find(" 0 of the 0 acknowledged"), std::string::npos)
      << "nothing was acknowledged before the crash: " << check->detail;
  // The disks were used, failed and crashed: the faults reached the SQLite stores.
  EXPECT_NE(out.str().find("disks: writes="), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(" crashes=3;"), std::string::npos) << out.str();
  // The durability checker watched the SQLite members' promises too, against their stores'
  // durable image.
  const CheckResult* safety = find_check(report, "group-safety");
  ASSERT_NE(safety, nullptr);
  EXPECT_NE(safety->detail.find("acknowledged appends were durable when sent"), std::string::npos)
      << safety->detail;
  EXPECT_EQ(safety->detail.find(" 0 acknowledged appends"), std::string::npos) << safety->detail;
}

TEST(GroupLogSurvived, AWholeClusterCrashOfVolatileMembersFailsAsASafetyViolation) {
  std::ostringstream out;
  const RunReport report = run_whole_cluster_crash("volatile", out);
  EXPECT_EQ(report.verdict, Verdict::kSafetyFailure) << out.str();
  EXPECT_EQ(static_cast<int>(report.verdict), 129);
  const CheckResult* check = find_check(report, "group-log-survived");
  ASSERT_NE(check, nullptr);
  EXPECT_FALSE(check->passed) << check->detail;
  EXPECT_FALSE(check->is_liveness);
  EXPECT_NE(check->detail.find("first: the put of key"), std::string::npos) << check->detail;
}

TEST(GroupLogSurvived, InMemoryMembersOverTheMediumPassWithoutAWholeClusterCrash) {
  auto s = parse_scenario(R"(
    nodes 3
    duration 20s
    latency 500us 2ms
    discovery announce 5s
    workload group every 50ms
    at 8s crash 1
    at 9s restart 1
    check group-safety
    check group-log-survived
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  RunOptions options;
  options.seed = 5;
  const RunReport report = run_scenario(*s, options);
  EXPECT_EQ(report.verdict, Verdict::kPass);
  const CheckResult* check = find_check(report, "group-log-survived");
  ASSERT_NE(check, nullptr);
  EXPECT_TRUE(check->passed) << check->detail;
  EXPECT_NE(check->detail.find("there was no whole-cluster crash"), std::string::npos)
      << check->detail;
  // Members on the medium are watched by the durability checker.
  EXPECT_NE(find_check(report, "group-safety")->detail.find("durable when sent"),
            std::string::npos);
}

}  // namespace
}  // namespace smalti::scenarios
