// Entropy: where a node's randomness comes from.
//
// A node draws one seed at start and derives every PRNG from it (smalti::Rng::derive), so the
// simulator reproduces a run from the world seed, and the real backend uses OS entropy once.
#pragma once

#include <cstdint>

namespace smalti::env {

class Entropy {
 public:
  virtual ~Entropy() = default;
  virtual std::uint64_t seed() = 0;
  // 32 bytes of key material (identity keys); deterministic in the simulator.
  virtual void fill(std::uint8_t* out, std::size_t len) = 0;
};

}  // namespace smalti::env
