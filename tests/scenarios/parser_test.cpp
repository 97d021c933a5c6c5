#include <gtest/gtest.h>

#include "smalti/scenarios/scenario.hpp"

namespace smalti::scenarios {
namespace {

TEST(ScenarioParser, ParsesEveryStatement) {
  auto s = parse_scenario(R"(
    name every-statement   # a comment
    nodes 6
    duration 2m
    latency 1ms 3ms tail 0.05 200ms
    loss 0.1
    idle-timeout 7s
    connect-timeout 2s
    workload ping every 250ms timeout 2s
    at 1s partition 0,1 | 2-4
    at 2s partition 5 -> 0
    at 3s heal
    at 4s flap 0 | 1 every 500ms until 9s
    at 5s crash 2
    at 6s restart 2
    at 7s pause 3 for 2s
    at 8s clog 4 for 1s
    at 8s clog 0 1 for 1s
    at 9s reset-links 1
    at 10s clock-jump 1 -30s
    at 11s drift 1 +150ppm
    at 12s loss 0.2
    at 13s latency 2ms 4ms
    at 14s disk-errors 0,1 0.5
    check ping-safety
    check ping-liveness within 20s
    check determinism
  )");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->name, "every-statement");
  EXPECT_EQ(s->nodes, 6u);
  EXPECT_EQ(s->duration, 120s);
  EXPECT_EQ(s->network.latency.median, 3ms);
  EXPECT_DOUBLE_EQ(s->network.loss, 0.1);
  EXPECT_EQ(s->network.idle_timeout, 7s);
  EXPECT_EQ(s->ping_every, 250ms);
  EXPECT_EQ(s->ping_timeout, 2s);
  ASSERT_EQ(s->faults.size(), 15u);
  EXPECT_EQ(s->faults[0].kind, FaultKind::kPartition);
  EXPECT_EQ(s->faults[0].side_b, (std::vector<HostId>{2, 3, 4}));
  EXPECT_EQ(s->faults[1].kind, FaultKind::kPartitionOneWay);
  EXPECT_EQ(s->faults[3].kind, FaultKind::kFlap);
  EXPECT_EQ(s->faults[3].until, 9s);
  EXPECT_EQ(s->faults[8].kind, FaultKind::kClogPair);
  EXPECT_EQ(s->faults[9].kind, FaultKind::kResetLinks);
  EXPECT_EQ(s->faults[10].duration, -30s);
  EXPECT_EQ(s->faults[11].ppm, 150);
  ASSERT_EQ(s->checks.size(), 3u);
  EXPECT_EQ(s->checks[1].within, 20s);
  EXPECT_EQ(last_fault_end(*s), 14s);
}

TEST(ScenarioParser, FaultsAreOrderedByTimeStably) {
  auto s = parse_scenario("nodes 2\nduration 10s\nat 5s crash 0\nat 1s crash 1\nat 5s restart 0\n");
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->faults[0].at, 1s);
  EXPECT_EQ(s->faults[1].kind, FaultKind::kCrash);
  EXPECT_EQ(s->faults[2].kind, FaultKind::kRestart);
}

struct BadCase {
  const char* text;
  const char* expected_fragment;
};

// Every case is rejected as invalid, with a message that names the problem.
template <std::size_t N>
void expect_rejected(const BadCase (&cases)[N]) {
  for (const BadCase& c : cases) {
    auto s = parse_scenario(c.text);
    ASSERT_FALSE(s.is_ok()) << c.text;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.expected_fragment), std::string::npos)
        << "input: " << c.text << "\nerror: " << s.status().message();
  }
}

TEST(ScenarioParser, RejectsBadInputWithTheLineAndReason) {
  const BadCase cases[] = {
      {"duration 1s\n", "no nodes"},
      {"nodes 2\n", "positive duration"},
      {"nodes 0\nduration 1s\n", "between 1 and"},
      {"nodes 2\nduration 1s\nfrobnicate\n", "line 3: unknown statement"},
      {"nodes 2\nduration 1s\nat 1s crash 7\n", "not one of the 2 nodes"},
      {"nodes 2\nduration 1s\nat 2s crash 0\n", "after the end"},
      {"nodes 2\nduration 1s\nat 1x crash 0\n", "expected a duration"},
      {"nodes 2\nduration 1s\nloss 1.5\n", "probability"},
      {"nodes 2\nduration 1s\nat 1s partition 0 1\n", "usage: partition"},
      {"nodes 2\nduration 1s\nat 1s drift 0 +900000ppm\n", "within"},
      {"nodes 2\nduration 1s\ncheck ping-safety\n", "need 'workload"},
      {"nodes 2\nduration 10s\nworkload ping every 1s\nat 9s crash 0\ncheck ping-liveness within "
       "5s\n",
       "liveness window"},
      {"at 1s crash 0\nnodes 2\nduration 1s\n", "'nodes' must come before"},
      {"nodes 2\nduration 99999999999999999h\n", "too large"},
      {"nodes 2\nduration 9999999999999999999h\n", "expected a number"},
      {"nodes 2\nduration 1s\nlatency 5ms 1ms\n", "min <= median"},
      {"nodes 2\nduration 1s\ndiscovery announce\n", "usage: discovery"},
      {"nodes 2\nduration 1s\nworkload stream every 1s\n", "needs a 'discovery'"},
      {"nodes 2\nduration 1s\ndiscovery\nworkload stream every 1s slow 5\n", "not one of"},
      {"nodes 2\nduration 1s\ncheck stream-order\n", "need 'workload stream"},
      {"nodes 2\nduration 1s\ndiscovery purge -1s\n", "positive"},
      {"nodes 2\nduration 10s\ncheck discovery-converged within 5s\n", "need a 'discovery'"},
      {"nodes 2\nduration 10s\ndiscovery\nat 9s crash 0\ncheck discovery-converged within 5s\n",
       "liveness window"},
  };
  expect_rejected(cases);
}

TEST(ScenarioParser, ParsesDiscovery) {
  auto s = parse_scenario(
      "nodes 3\nduration 30s\ndiscovery announce 5s purge 20s report every 2s\n"
      "check discovery-converged within 10s\n");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_TRUE(s->discovery.enabled);
  EXPECT_EQ(s->discovery.announce_interval, 5s);
  EXPECT_EQ(s->discovery.purge_after, 20s);
  EXPECT_EQ(s->discovery.report_every, 2s);
  ASSERT_EQ(s->checks.size(), 1u);
  EXPECT_EQ(s->checks[0].kind, CheckKind::kDiscoveryConverged);
  auto stream = parse_scenario(
      "nodes 4\nduration 30s\ndiscovery\nworkload stream every 100ms slow 2-3\n"
      "check stream-order\ncheck stream-liveness within 5s\n");
  ASSERT_TRUE(stream.is_ok()) << stream.status().to_string();
  EXPECT_EQ(stream->stream_every, 100ms);
  EXPECT_EQ(stream->stream_slow, (std::vector<HostId>{2, 3}));
  auto plain = parse_scenario("nodes 3\nduration 30s\ndiscovery\n");
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->discovery.announce_interval, 45s);
}

TEST(ScenarioParser, ParsesDurableGroupsDisksAndWholeClusterFaults) {
  auto s = parse_scenario(
      "nodes 3\nduration 40s\ndiscovery\nworkload group every 50ms durable\n"
      "disk latency 50us 2ms keep 0 torn 0.25\n"
      "at 5s disk-errors all 0.01\nat 6s disk-errors all 0\n"
      "at 10s crash all\nat 11s restart 0-2\ncheck group-log-survived\n");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->group_every, 50ms);
  EXPECT_EQ(s->group_storage, GroupStorage::kDurable);
  EXPECT_EQ(s->disk.min_latency, 50us);
  EXPECT_EQ(s->disk.max_latency, 2ms);
  EXPECT_DOUBLE_EQ(s->disk.unsynced_keep_rate, 0.0);
  EXPECT_DOUBLE_EQ(s->disk.torn_write_rate, 0.25);
  ASSERT_EQ(s->faults.size(), 4u);
  EXPECT_EQ(s->faults[0].side_a, (std::vector<HostId>{0, 1, 2}));
  EXPECT_EQ(s->faults[2].kind, FaultKind::kCrash);
  EXPECT_EQ(s->faults[2].side_a, (std::vector<HostId>{0, 1, 2}));
  ASSERT_EQ(s->checks.size(), 1u);
  EXPECT_EQ(s->checks[0].kind, CheckKind::kGroupLogSurvived);
  auto v = parse_scenario("nodes 3\nduration 9s\ndiscovery\nworkload group every 1s volatile\n");
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_EQ(v->group_storage, GroupStorage::kVolatile);
  auto m = parse_scenario("nodes 3\nduration 9s\ndiscovery\nworkload group every 1s\n");
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->group_storage, GroupStorage::kMemory);
  EXPECT_DOUBLE_EQ(m->disk.unsynced_keep_rate, 0.5);
  const BadCase cases[] = {
      {"nodes 2\nduration 9s\ndiscovery\nworkload group every 1s sqlite\n", "durable | volatile"},
      {"nodes 2\nduration 9s\ndisk\n", "usage: disk"},
      {"nodes 2\nduration 9s\ndisk latency 2ms 1ms\n", "MIN <= MAX"},
      {"nodes 2\nduration 9s\ndisk keep 2\n", "probability"},
      {"nodes 2\nduration 9s\ncheck group-log-survived\n", "need 'workload group"},
      {"nodes 2\nduration 9s\nat 1s crash al\n", "expected a number"},
  };
  expect_rejected(cases);
}

TEST(ScenarioParser, BoundsTheInput) {
  std::string many = "nodes 2\nduration 1s\n";
  for (std::size_t i = 0; i < kMaxLines; ++i) many += "# filler\n";
  EXPECT_FALSE(parse_scenario(many).is_ok());
  EXPECT_FALSE(parse_scenario("nodes 2\n" + std::string(kMaxLineLength + 1, 'x') + "\n").is_ok());
}

TEST(ScenarioParser, LoadsTheBundledDemo) {
  auto s = load_scenario(std::string(SMALTI_SOURCE_DIR) + "/scenarios/files/demo.scn");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_GE(s->nodes, 3u);
  EXPECT_FALSE(s->faults.empty());
  EXPECT_FALSE(load_scenario("/nonexistent/file.scn").is_ok());
}

}  // namespace
}  // namespace smalti::scenarios

namespace smalti::scenarios {
namespace {

// Regressions (review findings): inputs the parser accepted that crashed the simulator.
TEST(ScenarioParser, RejectsWhatWouldCrashTheSimulator) {
  const BadCase cases[] = {
      {"nodes 5\nduration 9s\nat 1s crash 4\nnodes 2\n", "declared twice"},
      {"nodes 2\nduration 9s\nat 1s clog 0 for -1s\n", "positive duration"},
      {"nodes 2\nduration 9s\nat 1s pause 0 for 0s\n", "positive duration"},
      {"nodes 2\nduration 9s\nidle-timeout -1s\n", "positive duration"},
      {"nodes 2\nduration 9s\nconnect-timeout 0s\n", "positive duration"},
      {"nodes 2\nduration 9s\nworkload ping every 1s timeout -5s\n", "positive duration"},
      {"nodes 2\nduration 9s\nat 1s flap 0 | 1 every 1ns until 2s\n", "at least 1ms"},
      {"nodes 2\nduration 9s\nlatency 1ms 3h tail 0.1 5h\n", "above one hour"},
  };
  expect_rejected(cases);
}

}  // namespace
}  // namespace smalti::scenarios
