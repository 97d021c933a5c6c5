// TeeProvider: produces attestation quotes binding 64 bytes of report data to this machine.
//
// Only the interface exists so far: neither backend implements it yet (a configfs-tsm provider
// for Intel TDX and a simulated TEE signing with a test CA come with the tickets work), so
// Environment::tee is null on both and nothing in core calls it. Called on the node's executor
// thread.
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
