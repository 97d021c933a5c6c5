// Tracer: where a node reports the inputs it handled and the effects it produced.
//
// The simulator records them with virtual time and node into its trace (and running trace hash);
// the real backend passes no tracer. `kind` is a short static name ("ping.send"), `a`/`b` are
// small numbers and `detail` a digest of the payload. Called on the node's executor thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "smalti/base/bytes.hpp"

namespace smalti::env {

class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void record(std::string_view kind, std::uint64_t a, std::uint64_t b, ByteView detail) = 0;
  // BUGGIFY-style fault point: true when the simulator decides to inject the named fault here.
  // Always false on the real backend (where there is no tracer).
  virtual bool buggify(std::string_view point) = 0;
};

}  // namespace smalti::env
