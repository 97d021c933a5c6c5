// Three smalti-node processes on 127.0.0.1 over real QUIC: they find each other through one
// bootstrap and ping each other; one is killed with SIGKILL and the others see it depart; it is
// restarted with the same identity file and rejoins.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <memory>

#include "real/node_process.hpp"

namespace smalti::real {
namespace {

using namespace std::chrono_literals;
using support::free_port_base;
using support::NodeProcess;
using support::TempDir;

std::vector<std::string> node_args(const TempDir& dir, const std::string& name, int port,
                                   const std::string& bootstrap) {
  return support::node_args(dir, name, port, bootstrap, "multi-process-test");
}

TEST(MultiProcess, ThreeNodesDiscoverPingDepartAndRejoin) {
  TempDir dir;
  const int base = free_port_base();
  auto a = std::make_unique<NodeProcess>(dir.path() + "/a.out", node_args(dir, "a", base, ""));
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(a->wait_for("listening ", 5s)) << a->output();
  const std::string bootstrap = a->address();
  auto b = std::make_unique<NodeProcess>(dir.path() + "/b.out",
                                         node_args(dir, "b", base + 1, bootstrap));
  auto c = std::make_unique<NodeProcess>(dir.path() + "/c.out",
                                         node_args(dir, "c", base + 2, bootstrap));
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(c->start());
  ASSERT_TRUE(b->wait_for("listening ", 5s));
  ASSERT_TRUE(c->wait_for("listening ", 5s));
  // Everyone discovers everyone (b and c only through a) and pings them.
  for (NodeProcess* n : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(n->wait_for("discovered ", 15s, 2)) << n->output();
    ASSERT_TRUE(n->wait_for(" rtt=", 15s, 2)) << n->output();
  }
  EXPECT_GE(b->occurrences("discovered " + c->peer_id()), 1) << b->output();
  EXPECT_GE(c->occurrences("discovered " + b->peer_id()), 1) << c->output();

  // SIGKILL c: no departure message, so the others purge it once its entry is stale.
  const std::string c_id = c->peer_id();
  c->kill(SIGKILL);
  ASSERT_TRUE(a->wait_for("departed " + c_id, 20s)) << a->output();
  ASSERT_TRUE(b->wait_for("departed " + c_id, 20s)) << b->output();

  // Restarted with the same identity file: the same PeerId rejoins.
  auto c2 = std::make_unique<NodeProcess>(dir.path() + "/c2.out",
                                          node_args(dir, "c", base + 2, bootstrap));
  ASSERT_TRUE(c2->start());
  ASSERT_TRUE(c2->wait_for("listening ", 5s));
  EXPECT_EQ(c2->peer_id(), c_id);
  ASSERT_TRUE(a->wait_for("discovered " + c_id, 15s, 2)) << a->output();
  ASSERT_TRUE(b->wait_for("discovered " + c_id, 15s, 2)) << b->output();
  ASSERT_TRUE(c2->wait_for("discovered ", 15s, 2)) << c2->output();

  // A graceful stop (SIGTERM) is announced: the others see it depart at once.
  const std::string b_id = b->peer_id();
  b->kill(SIGTERM);
  ASSERT_TRUE(a->wait_for("departed " + b_id, 5s)) << a->output();
}

}  // namespace
}  // namespace smalti::real
