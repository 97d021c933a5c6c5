#include "smalti/base/time.hpp"

#include <cinttypes>
#include <cstdio>

namespace smalti {

std::string format_duration(Duration d) {
  const std::int64_t ns = d.count();
  const std::int64_t magnitude = ns < 0 ? -ns : ns;
  char buf[48];
  if (magnitude >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ns) / 1e9);
  } else if (magnitude >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  } else if (magnitude >= 1'000) {
    std::snprintf(buf, sizeof buf, "%.3fus", static_cast<double>(ns) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "ns", ns);
  }
  return buf;
}

}  // namespace smalti
