#include "smalti/scenarios/isolation.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "smalti/scenarios/runner.hpp"

namespace smalti::scenarios {

int run_in_child(const std::function<int()>& body, bool quiet) {
  std::fflush(stdout);
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return kCrashExitCode;
  }
  if (pid == 0) {
    const int code = body();
    std::cout.flush();
    std::fflush(stdout);
    _exit(code);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    if (!quiet) {
      std::printf("crash: the run died with signal %d (%s)\n", WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
    }
    return kCrashExitCode;
  }
  const int code = WEXITSTATUS(status);
  // Sanitizers and assertions that exit instead of raising still count as crashes.
  if (code == 0 || code == 2 || code == static_cast<int>(Verdict::kLivenessFailure) ||
      code == static_cast<int>(Verdict::kSafetyFailure)) {
    return code;
  }
  if (!quiet) std::printf("crash: the run exited with code %d\n", code);
  return kCrashExitCode;
}

}  // namespace smalti::scenarios
