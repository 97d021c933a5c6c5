// run_in_child: runs a simulation in a child process so that a crash is a verdict, not an end.
//
// Returns the body's exit code when it is one of the runner's codes (0, 2, 128, 129), and
// kCrashExitCode (127) when the child died of a signal (an assertion, a sanitizer abort) or
// exited with any other code. Output written by the child is flushed before it exits.
#pragma once

#include <functional>

namespace smalti::scenarios {

int run_in_child(const std::function<int()>& body, bool quiet);

}  // namespace smalti::scenarios
