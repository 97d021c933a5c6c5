// The effects every link-speaking protocol machine (discovery, streams) asks its driver for:
// send a frame on one of its links, or close one. Links are named by the driver's token.
// Plain value types.
#pragma once

#include <cstdint>
#include <string>

#include "smalti/base/bytes.hpp"

namespace smalti {

using LinkToken = std::uint64_t;

struct SendFrame {
  LinkToken link = 0;
  Bytes frame;
};

struct CloseLink {
  LinkToken link = 0;
  std::uint32_t code = 0;
  std::string reason;
};

}  // namespace smalti
