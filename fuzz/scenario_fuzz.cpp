// Fuzzes the scenario file parser: any text ends in a Scenario or a clear error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smalti/scenarios/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario = smalti::scenarios::parse_scenario(text);
  if (scenario.is_ok()) {
    SMALTI_ASSERT(scenario->nodes >= 1 && scenario->nodes <= smalti::scenarios::kMaxNodes);
    SMALTI_ASSERT(scenario->duration > smalti::Duration::zero());
    for (const auto& f : scenario->faults) {
      SMALTI_ASSERT(f.at <= scenario->duration);
      for (auto h : f.side_a) SMALTI_ASSERT(h < scenario->nodes);
      for (auto h : f.side_b) SMALTI_ASSERT(h < scenario->nodes);
    }
  } else {
    SMALTI_ASSERT(!scenario.status().message().empty());
  }
  return 0;
}
