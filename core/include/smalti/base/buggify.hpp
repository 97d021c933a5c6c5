// Buggify: how code without a Node asks whether to inject a named fault (DESIGN.md section 5).
//
// Pure machines and the storage layer have no Node and no Tracer; their configurations carry a
// Buggify function that their driver fills with Node::buggify (the simulator's seeded decision,
// always false on the real backend). An empty function never fires, so a machine built without
// one behaves exactly as before. The points and what each models are listed in docs/buggify.md.
//
// fire() must only be reached on a path where injecting the fault keeps the protocol correct: a
// point models something the world can do (a loss, a delay, a refusal, an error), never a bug.
// Called on the thread that drives the machine (the simulator has one).
#pragma once

#include <functional>
#include <string_view>

namespace smalti {

using Buggify = std::function<bool(std::string_view point)>;

// Whether the fault named `point` is injected now; false when `buggify` is empty.
inline bool fire(const Buggify& buggify, std::string_view point) {
  return buggify && buggify(point);
}

}  // namespace smalti
