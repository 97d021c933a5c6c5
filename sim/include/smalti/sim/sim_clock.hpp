// SimClock: a node's view of virtual time, with drift, skew and jumps.
//
// Global virtual time g (the World's) maps to the node's monotonic time through a piecewise
// linear function whose slope is 1 + drift_ppm / 1e6, so a drifting node's timers run fast or
// slow but its monotonic time never goes back. Wall time is monotonic time plus a fixed epoch
// plus a skew that jump() may move in either direction (like a stepped NTP correction).
// Single-threaded (the simulator's thread).
#pragma once

#include <cstdint>
#include <functional>

#include "smalti/base/time.hpp"
#include "smalti/env/clock.hpp"

namespace smalti::sim {

class SimClock final : public env::Clock {
 public:
  SimClock(std::function<Instant()> global_now, WallTime epoch)
      : global_now_(std::move(global_now)), epoch_(epoch) {}

  Instant monotonic() const override { return local_from_global(global_now_()); }
  WallTime wall() const override { return epoch_ + monotonic().since_origin() + skew_; }

  // Local monotonic instant -> the earliest global instant at which it is reached.
  Instant global_from_local(Instant local) const;
  Instant local_from_global(Instant global) const;

  // Changes the rate from now on; parts per million, e.g. +100 runs 0.01% fast. |ppm| < 500000.
  void set_drift_ppm(std::int64_t ppm);
  std::int64_t drift_ppm() const { return ppm_; }
  // Steps wall time by `delta` (monotonic time is unaffected).
  void jump(Duration delta) { skew_ += delta; }
  void set_skew(Duration skew) { skew_ = skew; }
  Duration skew() const { return skew_; }

 private:
  std::function<Instant()> global_now_;
  WallTime epoch_;
  Duration skew_{0};
  std::int64_t ppm_ = 0;
  Instant anchor_global_;
  Instant anchor_local_;
};

}  // namespace smalti::sim
