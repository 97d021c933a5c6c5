// Durable groups across real processes: three smalti-node processes with --data-dir keep their
// group's term, vote and log in SQLite files, run a command workload and are killed with SIGKILL
// again and again, one at a time and all three at once, and restarted with the same identity and
// data directory. Each run submits commands no earlier run submitted. At the end every command
// any run saw acknowledged ("executed") is in every member's applied log, once, and the three
// logs list the same commands in the same order.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "real/node_process.hpp"

namespace smalti::real {
namespace {

using namespace std::chrono_literals;
using support::NodeProcess;
using support::TempDir;

constexpr auto kConverge = 60s;
constexpr int kCommandsPerRun = 40;

// Each run submits commands of its own ("<name>.<run>-<n>"): a command acknowledged to an
// earlier run is never submitted again, so a lost one cannot come back by a retry.
std::vector<std::string> durable_args(const TempDir& dir, const std::string& name, int run,
                                      int port, const std::string& bootstrap) {
  return support::group_node_args(dir, name, port, bootstrap, "durable-process-test",
                                  kCommandsPerRun,
                                  {"--data-dir", dir.path() + "/data", "--print-applied",
                                   "--command-prefix", name + "." + std::to_string(run) + "-"});
}

// The words after `prefix` on each line of `text` that starts with it.
std::vector<std::vector<std::string>> lines_with(const std::string& text,
                                                 const std::string& prefix) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream words(line.substr(prefix.size()));
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    out.push_back(std::move(w));
  }
  return out;
}

// One member: its current process, and the output of every run it had.
struct Member {
  std::string name;
  int port = 0;
  int runs = 0;
  std::unique_ptr<NodeProcess> process;
  std::vector<std::string> outputs;
};

class DurableCluster {
 public:
  explicit DurableCluster(int base) {
    for (int i = 0; i < 3; ++i) members_.push_back(Member{std::string(1, char('a' + i)), base + i});
  }
  const TempDir& dir() const { return dir_; }

  void start(Member& m, const std::string& bootstrap) {
    const int run = m.runs++;
    const std::string out = dir_.path() + "/" + m.name + std::to_string(run) + ".out";
    m.outputs.push_back(out);
    m.process =
        std::make_unique<NodeProcess>(out, durable_args(dir_, m.name, run, m.port, bootstrap));
    ASSERT_TRUE(m.process->start());
    ASSERT_TRUE(m.process->wait_for("listening ", 5s)) << m.process->output();
  }
  void kill(Member& m) {
    if (m.process) m.process->kill(SIGKILL);
    m.process.reset();
  }
  std::vector<Member>& members() { return members_; }

  // Every command some run of some member saw acknowledged.
  std::set<std::string> acknowledged() const {
    std::set<std::string> out;
    for (const Member& m : members_) {
      for (const std::string& file : m.outputs) {
        for (const auto& w : lines_with(read(file), "executed ")) {
          if (w.size() == 2) out.insert(w[1]);
        }
      }
    }
    return out;
  }

  static std::string read(const std::string& file) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  TempDir dir_;
  std::vector<Member> members_;
};

// The commands the current run of `m` applied, in order ("applied <n> <command>" lines).
std::vector<std::string> applied_log(const Member& m) {
  std::vector<std::string> log;
  for (const auto& w : lines_with(m.process->output(), "applied ")) {
    if (w.size() == 2) log.push_back(w[1]);
  }
  return log;
}

TEST(DurableProcesses, NoAcknowledgedCommandIsLostThroughRepeatedKills) {
  // Three ports of this process's own range (free_port_base: ten per test process).
  const int base = support::free_port_base();
  DurableCluster cluster(base);
  auto& ms = cluster.members();
  ASSERT_NO_FATAL_FAILURE(cluster.start(ms[0], ""));
  const std::string bootstrap = ms[0].process->address();
  ASSERT_NO_FATAL_FAILURE(cluster.start(ms[1], bootstrap));
  ASSERT_NO_FATAL_FAILURE(cluster.start(ms[2], bootstrap));
  for (Member& m : ms) ASSERT_TRUE(m.process->wait_for("group online", kConverge)) << m.name;

  // Rounds of SIGKILL and restart: one member, another, then all three at once; twice over.
  std::mt19937 rng(::getpid());
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    std::vector<Member*> victims;
    if (round % 3 == 2) {
      for (Member& m : ms) victims.push_back(&m);
    } else {
      victims.push_back(&ms[rng() % ms.size()]);
    }
    for (Member* v : victims) cluster.kill(*v);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    for (Member* v : victims) {
      ASSERT_NO_FATAL_FAILURE(cluster.start(*v, v == &ms[0] ? "" : bootstrap));
    }
  }

  // The last runs finish their submissions; every acknowledged command shows up in each log.
  for (Member& m : ms) {
    ASSERT_TRUE(m.process->wait_for("submitted ", kConverge)) << m.name << m.process->output();
  }
  const std::set<std::string> acked = cluster.acknowledged();
  ASSERT_GE(acked.size(), static_cast<std::size_t>(kCommandsPerRun)) << "too little ran";
  const auto deadline = std::chrono::steady_clock::now() + kConverge;
  auto has_all = [&](const Member& m) {
    const auto log = applied_log(m);
    const std::set<std::string> in_log(log.begin(), log.end());
    for (const std::string& c : acked) {
      if (in_log.count(c) == 0) return false;
    }
    return true;
  };
  for (Member& m : ms) {
    while (!has_all(m) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
  }
  std::vector<std::string> reference;
  for (Member& m : ms) {
    const auto log = applied_log(m);
    const std::set<std::string> unique(log.begin(), log.end());
    EXPECT_EQ(unique.size(), log.size()) << m.name << ": a command applied twice";
    for (const std::string& c : acked) {
      EXPECT_EQ(unique.count(c), 1u) << m.name << " lost the acknowledged command " << c;
    }
    // The same order everywhere: each log is a prefix of the longest, or equal to it.
    if (log.size() > reference.size()) reference = log;
  }
  for (Member& m : ms) {
    const auto log = applied_log(m);
    EXPECT_TRUE(std::equal(log.begin(), log.end(), reference.begin())) << m.name;
  }
}

}  // namespace
}  // namespace smalti::real
