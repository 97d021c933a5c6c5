// A Raft group across separate smalti-node processes on 127.0.0.1 over real QUIC: three
// processes form it and replicate one command log; one is killed with SIGKILL while a fourth
// joins and submits; the killed one restarts (same identity, empty memory) and catches up. At
// every stage each live process must report the same count of applied commands and the same
// digest of their order.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "real/node_process.hpp"

namespace smalti::real {
namespace {

using namespace std::chrono_literals;
using support::NodeProcess;
using support::TempDir;

constexpr auto kConverge = 30s;

std::vector<std::string> group_node_args(const TempDir& dir, const std::string& name, int port,
                                         const std::string& bootstrap, int commands) {
  return support::group_node_args(dir, name, port, bootstrap, "multi-process-group-test", commands);
}

// The digest of the last "state applied=<applied> digest=<hex>" line, or "" if none.
std::string digest_at(const NodeProcess& node, int applied) {
  const std::string needle = "state applied=" + std::to_string(applied) + " digest=";
  const std::string text = node.output();
  const auto at = text.rfind(needle);
  if (at == std::string::npos) return "";
  return text.substr(at + needle.size(), 64);
}

// Waits until every node applied `applied` commands, then checks they agree on their order.
void expect_same_log(const std::vector<NodeProcess*>& nodes, int applied) {
  const std::string needle = "state applied=" + std::to_string(applied) + " ";
  for (NodeProcess* n : nodes) {
    ASSERT_TRUE(n->wait_for(needle, kConverge)) << n->output();
  }
  const std::string digest = digest_at(*nodes.front(), applied);
  ASSERT_EQ(digest.size(), 64u) << nodes.front()->output();
  for (NodeProcess* n : nodes) {
    EXPECT_EQ(digest_at(*n, applied), digest) << n->output();
    // Never more than were submitted: a retried command is applied once.
    EXPECT_EQ(n->occurrences("state applied=" + std::to_string(applied + 1) + " "), 0)
        << n->output();
  }
}

TEST(MultiProcessGroup, ProcessesReplicateOneLogThroughAKillAJoinAndARestart) {
  TempDir dir;
  const int base = support::free_port_base() + 5;  // clear of the discovery test's ports
  auto a =
      std::make_unique<NodeProcess>(dir.path() + "/a.out", group_node_args(dir, "a", base, "", 10));
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(a->wait_for("listening ", 5s)) << a->output();
  const std::string bootstrap = a->address();
  auto b = std::make_unique<NodeProcess>(dir.path() + "/b.out",
                                         group_node_args(dir, "b", base + 1, bootstrap, 10));
  auto c = std::make_unique<NodeProcess>(dir.path() + "/c.out",
                                         group_node_args(dir, "c", base + 2, bootstrap, 10));
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(c->start());

  // Formation, then ten commands from each process, forwarded to the leader by the others.
  ASSERT_NO_FATAL_FAILURE(expect_same_log({a.get(), b.get(), c.get()}, 30));
  for (NodeProcess* n : {a.get(), b.get(), c.get()}) {
    EXPECT_EQ(n->occurrences("executed "), 10) << n->output();
  }

  // c dies without a word; a new process d joins and submits through the two survivors.
  c->kill(SIGKILL);
  auto d = std::make_unique<NodeProcess>(dir.path() + "/d.out",
                                         group_node_args(dir, "d", base + 3, bootstrap, 10));
  ASSERT_TRUE(d->start());
  ASSERT_NO_FATAL_FAILURE(expect_same_log({a.get(), b.get(), d.get()}, 40));

  // c comes back with its identity but an empty log (in-memory stores): it rejoins as a new
  // incarnation, never as the voter it was, and the leader sends it the whole log again.
  auto c2 = std::make_unique<NodeProcess>(dir.path() + "/c2.out",
                                          group_node_args(dir, "c", base + 2, bootstrap, 0));
  ASSERT_TRUE(c2->start());
  ASSERT_NO_FATAL_FAILURE(expect_same_log({a.get(), b.get(), c2.get(), d.get()}, 40));
}

}  // namespace
}  // namespace smalti::real
