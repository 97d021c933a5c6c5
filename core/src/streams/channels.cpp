#include "smalti/streams/channels.hpp"

namespace smalti::streams {

std::string to_string(const Stats& stats) {
  return "uptime: " + (stats.uptime ? format_duration(*stats.uptime) : std::string("none")) +
         ", datums: " + std::to_string(stats.datums) + ", bytes: " + std::to_string(stats.bytes);
}

}  // namespace smalti::streams
