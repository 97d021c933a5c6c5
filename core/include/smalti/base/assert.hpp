// SMALTI_ASSERT: an always-on check for programmer errors.
//
// A failed assertion prints the condition, the file and line and an optional message to stderr,
// then aborts the process. It is never used for operating errors (peer input, I/O, bad files):
// those are returned as Status. Thread-safe.
#pragma once

namespace smalti::detail {
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line,
                                   const char* message) noexcept;
}  // namespace smalti::detail

#define SMALTI_ASSERT(condition, ...)                                                     \
  do {                                                                                    \
    if (!(condition)) [[unlikely]] {                                                      \
      ::smalti::detail::assertion_failed(#condition, __FILE__, __LINE__, "" __VA_ARGS__); \
    }                                                                                     \
  } while (false)
