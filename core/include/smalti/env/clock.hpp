// Clock: the only source of time for a node.
//
// monotonic() never goes back and drives timers and timeouts; wall() is calendar time and may
// jump (NTP, a skewed machine): use it only for ticket expiry and entry timestamps. The simulator
// gives each node virtual time with its own drift, skew and jumps; the real backend reads
// steady_clock and system_clock. Called on the node's executor thread only.
#pragma once

#include "smalti/base/time.hpp"

namespace smalti::env {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant monotonic() const = 0;
  virtual WallTime wall() const = 0;
};

}  // namespace smalti::env
