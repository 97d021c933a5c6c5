// smalti-sim: runs scenario files in the simulator.
//
//   smalti-sim run <scenario> [--seed N] [--trace out.jsonl]
//   smalti-sim check-determinism <scenario> [--seed N]
//   smalti-sim swarm <scenario> [--seeds COUNT] [--from FIRST]
//
// Exit codes: 0 pass, 127 crash, 128 liveness failure, 129 safety failure, 2 usage or bad file.
// Each run happens in a child process, so a crash (an assertion, a sanitizer report, a signal)
// is reported as such instead of taking the runner down.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
               "usage: smalti-sim run <scenario> [--seed N] [--trace out.jsonl]\n"
               "       smalti-sim check-determinism <scenario> [--seed N]\n"
               "       smalti-sim swarm <scenario> [--seeds COUNT] [--from FIRST]\n");
  return 2;
}

struct Args {
  std::string command;
  std::string file;
  std::uint64_t seed = 1;
  std::uint64_t seeds = 100;
  std::uint64_t from = 1;
  std::string trace;
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
  return smalti::scenarios::run_in_child([&] {
    smalti::scenarios::RunOptions options;
    options.seed = args.seed;
    options.out = &std::cout;
    options.trace_path = args.trace;
    return static_cast<int>(smalti::scenarios::run_scenario(scenario, options).verdict);
  }, false);
}

int command_check_determinism(const Scenario& scenario, const Args& args) {
  return smalti::scenarios::run_in_child([&] {
    std::printf("seed=%llu\n", static_cast<unsigned long long>(args.seed));
    const auto report = smalti::scenarios::check_determinism(scenario, args.seed);
    std::printf("run 1 trace_hash=%s\nrun 2 trace_hash=%s\nrecords compared=%llu\n",
                report.first_hash.c_str(), report.second_hash.c_str(),
                static_cast<unsigned long long>(report.records));
    if (report.identical) {
      std::printf("deterministic: both runs produced identical traces\n");
      return 0;
    }
    std::printf("NOT deterministic: first difference at event %zu\n  run 1: %s\n  run 2: %s\n",
                report.first_difference.value_or(0), report.first_event.c_str(),
                report.second_event.c_str());
    return 129;
  }, false);
}

int command_swarm(const Scenario& scenario, const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  std::map<int, std::vector<std::uint64_t>> failures;
  std::uint64_t done = 0;
  std::printf("swarm: %s, seeds %llu..%llu\n", scenario.name.c_str(),
              static_cast<unsigned long long>(args.from),
              static_cast<unsigned long long>(args.from + args.seeds - 1));
  for (std::uint64_t seed = args.from; seed < args.from + args.seeds; ++seed) {
    const int code = smalti::scenarios::run_in_child([&] {
      smalti::scenarios::RunOptions options;
      options.seed = seed;
      return static_cast<int>(smalti::scenarios::run_scenario(scenario, options).verdict);
    }, true);
    ++done;
    if (code != 0) {
      failures[code].push_back(seed);
      std::printf("  seed %llu failed with exit code %d (replay: smalti-sim run %s --seed %llu)\n",
                  static_cast<unsigned long long>(seed), code, args.file.c_str(),
                  static_cast<unsigned long long>(seed));
    }
    if (done % 100 == 0 || done == args.seeds) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("progress: %llu/%llu seeds, %zu failing, %.1fs\n", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(args.seeds), failures.size(), elapsed);
      std::fflush(stdout);
    }
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t failed = 0;
  for (const auto& [code, seeds] : failures) failed += seeds.size();
  std::printf("swarm summary: seeds=%llu passed=%llu failed=%llu (crash=%zu liveness=%zu safety=%zu) time=%.1fs\n",
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
