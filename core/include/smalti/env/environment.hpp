// Environment: everything a node may touch in the world, passed explicitly (no globals).
//
// The pointers are owned by the backend (simulator or real runtime) and outlive the node. tee
// and tracer may be null. Threading: see each interface; all are used from the node's executor.
#pragma once

#include "smalti/env/clock.hpp"
#include "smalti/env/entropy.hpp"
#include "smalti/env/executor.hpp"
#include "smalti/env/file_system.hpp"
#include "smalti/env/tee_provider.hpp"
#include "smalti/env/tracer.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::env {

struct Environment {
  Clock* clock = nullptr;
  Executor* executor = nullptr;
  Transport* transport = nullptr;
  FileSystem* file_system = nullptr;
  Entropy* entropy = nullptr;
  TeeProvider* tee = nullptr;
  Tracer* tracer = nullptr;
};

}  // namespace smalti::env
