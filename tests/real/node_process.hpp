// NodeProcess: a smalti-node child process for multi-process tests, with its output in a file.
// Test thread only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace smalti::real::support {

// A fresh directory under /tmp, removed with its files at the end.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/smalti-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class NodeProcess {
 public:
  NodeProcess(std::string output, std::vector<std::string> args)
      : output_(std::move(output)), args_(std::move(args)) {}
  ~NodeProcess() { kill(SIGKILL); }

  bool start() {
    std::vector<std::string> argv{SMALTI_NODE_BINARY};
    argv.insert(argv.end(), args_.begin(), args_.end());
    std::vector<char*> raw;
    for (std::string& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, raw[0], &actions, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0;
  }

  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string output() const {
    std::ifstream in(output_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Waits until the output contains `needle` at least `count` times.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout, int count = 1) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (occurrences(needle) >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return occurrences(needle) >= count;
  }

  int occurrences(const std::string& needle) const {
    const std::string text = output();
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }

  // The "<peer id>@host:port" the node printed first.
  std::string address() const {
    const std::string text = output();
    const auto at = text.find("listening ");
    if (at == std::string::npos) return "";
    const auto end = text.find('\n', at);
    return text.substr(at + 10, end - at - 10);
  }
  std::string peer_id() const { return address().substr(0, 64); }

 private:
  std::string output_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// The flags of one node of a test network: its port, identity file (dir/name.key) and bootstrap
// (empty for the first node), with announces every second and peers purged after 6 s.
inline std::vector<std::string> node_args(const TempDir& dir, const std::string& name, int port,
                                          const std::string& bootstrap,
                                          const std::string& network) {
  std::vector<std::string> args{"--listen",
                                "127.0.0.1:" + std::to_string(port),
                                "--identity",
                                dir.path() + "/" + name + ".key",
                                "--network",
                                network,
                                "--announce-interval",
                                "1",
                                "--purge-after",
                                "6"};
  if (!bootstrap.empty()) {
    args.push_back("--bootstrap");
    args.push_back(bootstrap);
  }
  return args;
}

// node_args() plus the flags of a node of a three-member test group named `network` (quick
// heartbeats and elections, founded by all three), submitting `commands` commands, then `extra`.
inline std::vector<std::string> group_node_args(const TempDir& dir, const std::string& name,
                                                int port, const std::string& bootstrap,
                                                const std::string& network, int commands,
                                                const std::vector<std::string>& extra = {}) {
  auto args = node_args(dir, name, port, bootstrap, network);
  const std::vector<std::string> group{"--group",
                                       network,
                                       "--commands",
                                       std::to_string(commands),
                                       "--bootstrap-expect",
                                       "3",
                                       "--heartbeat-interval",
                                       "100",
                                       "--election-timeout",
                                       "800",
                                       "--bootstrap-delay",
                                       "500"};
  args.insert(args.end(), group.begin(), group.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Spreads runs apart so that parallel test processes do not collide on ports.
inline int free_port_base() {
  return 20000 + static_cast<int>(::getpid() % 2000) * 10;
}

}  // namespace smalti::real::support
