#include "smalti/base/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace smalti::detail {

void assertion_failed(const char* condition, const char* file, int line,
                      const char* message) noexcept {
  std::fprintf(stderr, "smalti: assertion failed: %s at %s:%d%s%s\n", condition, file, line,
               message[0] != '\0' ? ": " : "", message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace smalti::detail
