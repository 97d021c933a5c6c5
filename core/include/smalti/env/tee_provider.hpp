// TeeProvider: produces attestation quotes binding 64 bytes of report data to this machine.
//
// The real backend reads configfs-tsm (Intel TDX); the simulator signs with a test CA. A node
// without a TEE has none (Environment::tee is null). Called on the node's executor thread.
#pragma once

#include <array>
#include <cstdint>

#include "smalti/base/bytes.hpp"
#include "smalti/base/status.hpp"

namespace smalti::env {

class TeeProvider {
 public:
  virtual ~TeeProvider() = default;
  virtual Result<Bytes> quote(const std::array<std::uint8_t, 64>& report_data) = 0;
};

}  // namespace smalti::env
