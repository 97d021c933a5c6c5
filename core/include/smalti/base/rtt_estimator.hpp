// RttEstimator: RFC 6298 smoothing of round-trip samples (alpha 1/8, beta 1/4).
//
// The first sample R sets srtt = R and rttvar = R/2; later samples update
// rttvar = 3/4 rttvar + 1/4 |srtt - R| and then srtt = 7/8 srtt + 1/8 R. Value type.
#pragma once

#include <cstdint>

#include "smalti/base/time.hpp"

namespace smalti {

class RttEstimator {
 public:
  void add_sample(Duration sample) {
    if (sample < Duration::zero()) sample = Duration::zero();
    if (samples_ == 0) {
      srtt_ = sample;
      rttvar_ = sample / 2;
    } else {
      const Duration diff = srtt_ > sample ? srtt_ - sample : sample - srtt_;
      rttvar_ = (rttvar_ * 3 + diff) / 4;
      srtt_ = (srtt_ * 7 + sample) / 8;
    }
    ++samples_;
  }
  bool has_sample() const { return samples_ > 0; }
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  std::uint64_t samples() const { return samples_; }

 private:
  Duration srtt_{0};
  Duration rttvar_{0};
  std::uint64_t samples_ = 0;
};

}  // namespace smalti
