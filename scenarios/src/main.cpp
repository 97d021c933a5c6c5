// smalti-sim: runs scenario files in the simulator.
//
//   smalti-sim run <scenario> [--seed N] [--trace out.jsonl] [--buggify]
//   smalti-sim check-determinism <scenario> [--seed N] [--buggify]
//   smalti-sim swarm <scenario> [--seeds COUNT] [--from FIRST] [--buggify]
//
// --buggify turns the BUGGIFY fault points on (docs/buggify.md) until the scenario's last fault
// ends; `make swarm` passes it.
//
// Exit codes: 0 pass, 127 crash, 128 liveness failure, 129 safety failure, 2 usage or bad file.
// Each run happens in a child process, so a crash (an assertion, a sanitizer report, a signal)
// is reported as such instead of taking the runner down.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "smalti/scenarios/isolation.hpp"
#include "smalti/scenarios/runner.hpp"

namespace {

using smalti::scenarios::Scenario;

int usage() {
  std::fprintf(stderr,
               "usage: smalti-sim run <scenario> [--seed N] [--trace out.jsonl] [--buggify]\n"
               "       smalti-sim check-determinism <scenario> [--seed N] [--buggify]\n"
               "       smalti-sim swarm <scenario> [--seeds COUNT] [--from FIRST] [--buggify]\n");
  return 2;
}

struct Args {
  std::string command;
  std::string file;
  std::uint64_t seed = 1;
  std::uint64_t seeds = 100;
  std::uint64_t from = 1;
  std::string trace;
  bool buggify = false;
};

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(s, &end, 10);
  return *s != '\0' && *end == '\0' && errno == 0;
}

bool parse_args(int argc, char** argv, Args& args) {
  if (argc < 3) return false;
  args.command = argv[1];
  args.file = argv[2];
  for (int i = 3; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--buggify") {
      args.buggify = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (flag == "--seed" && parse_u64(value, args.seed)) continue;
    if (flag == "--seeds" && parse_u64(value, args.seeds)) continue;
    if (flag == "--from" && parse_u64(value, args.from)) continue;
    if (flag == "--trace") {
      args.trace = value;
      continue;
    }
    return false;
  }
  return true;
}

int command_run(const Scenario& scenario, const Args& args) {
  return smalti::scenarios::run_in_child(
      [&] {
        smalti::scenarios::RunOptions options;
        options.seed = args.seed;
        options.buggify = args.buggify;
        options.out = &std::cout;
        options.trace_path = args.trace;
        return static_cast<int>(smalti::scenarios::run_scenario(scenario, options).verdict);
      },
      false);
}

// Runs the scenario in two separate processes, each writing its trace, and compares the traces
// line by line: this also catches state that differs between processes (addresses, statics).
int command_check_determinism(const Scenario& scenario, const Args& args) {
  std::printf("seed=%llu\n", static_cast<unsigned long long>(args.seed));
  std::string paths[2];
  for (int run = 0; run < 2; ++run) {
    char path[] = "/tmp/smalti-determinism-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) {
      std::perror("mkstemp");
      return 2;
    }
    close(fd);
    paths[run] = path;
    const int code = smalti::scenarios::run_in_child(
        [&] {
          smalti::scenarios::RunOptions options;
          options.seed = args.seed;
          options.buggify = args.buggify;
          options.trace_path = paths[run];
          smalti::scenarios::run_scenario(scenario, options);
          return 0;
        },
        false);
    if (code != 0) return code;
  }
  std::ifstream a(paths[0]), b(paths[1]);
  std::string line_a, line_b;
  std::uint64_t index = 0;
  int verdict = 0;
  for (;; ++index) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) break;
    if (more_a != more_b || line_a != line_b) {
      std::printf(
          "NOT deterministic: the two processes differ at trace record %llu\n  process 1: %s\n"
          "  process 2: %s\n",
          static_cast<unsigned long long>(index), more_a ? line_a.c_str() : "(trace ended)",
          more_b ? line_b.c_str() : "(trace ended)");
      verdict = 129;
      break;
    }
  }
  if (verdict == 0) {
    std::printf("deterministic: two processes produced the same %llu trace records\n",
                static_cast<unsigned long long>(index));
  }
  std::remove(paths[0].c_str());
  std::remove(paths[1].c_str());
  return verdict;
}

int command_swarm(const Scenario& scenario, const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  std::map<int, std::vector<std::uint64_t>> failures;
  std::uint64_t done = 0;
  std::printf("swarm: %s, seeds %llu..%llu%s\n", scenario.name.c_str(),
              static_cast<unsigned long long>(args.from),
              static_cast<unsigned long long>(args.from + args.seeds - 1),
              args.buggify ? ", buggify on" : "");
  for (std::uint64_t seed = args.from; seed < args.from + args.seeds; ++seed) {
    const int code = smalti::scenarios::run_in_child(
        [&] {
          smalti::scenarios::RunOptions options;
          options.seed = seed;
          options.buggify = args.buggify;
          return static_cast<int>(smalti::scenarios::run_scenario(scenario, options).verdict);
        },
        true);
    ++done;
    if (code != 0) {
      failures[code].push_back(seed);
      std::printf(
          "  seed %llu failed with exit code %d (replay: smalti-sim run %s --seed %llu%s)\n",
          static_cast<unsigned long long>(seed), code, args.file.c_str(),
          static_cast<unsigned long long>(seed), args.buggify ? " --buggify" : "");
    }
    if (done % 100 == 0 || done == args.seeds) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("progress: %llu/%llu seeds, %zu failing, %.1fs\n",
                  static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(args.seeds), failures.size(), elapsed);
      std::fflush(stdout);
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t failed = 0;
  for (const auto& [code, seeds] : failures) failed += seeds.size();
  std::printf(
      "swarm summary: seeds=%llu passed=%llu failed=%llu (crash=%zu liveness=%zu safety=%zu) "
      "time=%.1fs\n",
      static_cast<unsigned long long>(done), static_cast<unsigned long long>(done - failed),
      static_cast<unsigned long long>(failed), failures[127].size(), failures[128].size(),
      failures[129].size(), elapsed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) return usage();
  auto scenario = smalti::scenarios::load_scenario(args.file);
  if (!scenario.is_ok()) {
    std::fprintf(stderr, "smalti-sim: %s\n", scenario.status().to_string().c_str());
    return 2;
  }
  if (args.command == "run") return command_run(*scenario, args);
  if (args.command == "check-determinism") return command_check_determinism(*scenario, args);
  if (args.command == "swarm") return command_swarm(*scenario, args);
  return usage();
}
