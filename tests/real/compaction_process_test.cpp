// Log compaction across real processes: three smalti-node processes with --data-dir and a small
// --snapshot-every. One is killed; the other two commit commands far past its position, snapshot
// and prune their logs; the killed one restarts, fetches a snapshot over QUIC, restores it and
// ends with the same state as the others (same count, same chain digest), and says it installed
// a snapshot.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "real/node_process.hpp"

namespace smalti::real {
namespace {

using namespace std::chrono_literals;
using support::NodeProcess;
using support::TempDir;

constexpr int kCommands = 150;

std::vector<std::string> compaction_args(const TempDir& dir, const std::string& name, int run,
                                         int port, const std::string& bootstrap, int commands) {
  return support::group_node_args(
      dir, name, port, bootstrap, "compaction-process-test", commands,
      {"--data-dir", dir.path() + "/data", "--snapshot-every", "20", "--snapshot-keep", "5",
       "--command-prefix", name + "." + std::to_string(run) + "-"});
}

// The last "state applied=<n> digest=<hex>" line of `output`, or "".
std::string last_state(const std::string& output) {
  const auto at = output.rfind("state applied=");
  if (at == std::string::npos) return "";
  return output.substr(at, output.find('\n', at) - at);
}

TEST(CompactionProcesses, AMemberBehindPrunedLogsCatchesUpFromASnapshot) {
  TempDir dir;
  const int base = support::free_port_base() + 5;  // apart from the durable test's ports
  std::string bootstrap;
  auto start = [&](const std::string& name, int index, int run, int commands) {
    auto p = std::make_unique<NodeProcess>(
        dir.path() + "/" + name + std::to_string(run) + ".out",
        compaction_args(dir, name, run, base + index, index == 0 ? "" : bootstrap, commands));
    EXPECT_TRUE(p->start());
    EXPECT_TRUE(p->wait_for("listening ", 5s)) << p->output();
    return p;
  };
  auto a = start("a", 0, 0, 0);
  bootstrap = a->address();
  auto b = start("b", 1, 0, 0);
  auto c = start("c", 2, 0, 0);
  for (auto* p : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(p->wait_for("group online", 30s)) << p->output();
  }
  c->kill(SIGKILL);
  c.reset();
  // a comes back submitting commands; with b it is a quorum and the log grows past c's.
  a->kill(SIGKILL);
  a = start("a", 0, 1, kCommands);
  ASSERT_TRUE(a->wait_for("submitted " + std::to_string(kCommands), 60s)) << a->output();
  c = start("c", 2, 1, 0);
  ASSERT_TRUE(c->wait_for("snapshots installed=1", 30s)) << c->output();
  const std::string want = "state applied=" + std::to_string(kCommands) + " ";
  ASSERT_TRUE(c->wait_for(want, 30s)) << c->output();
  ASSERT_TRUE(a->wait_for(want, 10s)) << a->output();
  EXPECT_EQ(last_state(c->output()), last_state(a->output()));
}

}  // namespace
}  // namespace smalti::real
