// Rng: the seeded pseudo-random generator every protocol and the simulator draw from.
//
// xoshiro256** seeded through SplitMix64. derive(label) gives an independent child generator
// whose seed depends only on this generator's seed and the label, never on how much has been
// drawn, so adding a draw somewhere does not shift unrelated streams. Not synchronised: each
// state machine owns its own.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "smalti/base/time.hpp"

namespace smalti {

class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t seed() const { return seed_; }
  std::uint64_t next_u64();
  // Uniform in [0, bound); requires bound > 0. Unbiased (rejection sampling).
  std::uint64_t below(std::uint64_t bound);
  // Uniform in [lo, hi]; requires lo <= hi.
  std::int64_t between(std::int64_t lo, std::int64_t hi);
  // Uniform in [0, 1).
  double unit();
  bool chance(double probability) { return unit() < probability; }
  // Uniform in [lo, hi].
  Duration duration_between(Duration lo, Duration hi) {
    return Duration(between(lo.count(), hi.count()));
  }

  // An independent generator named by `label` (and an optional index).
  Rng derive(std::string_view label, std::uint64_t index = 0) const;
  std::uint64_t derive_seed(std::string_view label, std::uint64_t index = 0) const;

 private:
  std::uint64_t seed_;
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace smalti
