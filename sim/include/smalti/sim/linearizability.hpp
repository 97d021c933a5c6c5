// Linearizability checking of operation histories recorded in the simulator.
//
// A history is a list of operations, each with the client that issued it, when it was invoked,
// when it completed and what it returned. check_linearizability() decides whether some total
// order of the operations (a) respects real time: an operation that completed before another was
// invoked comes first, and (b) is a legal sequential run of a Model. Operations whose intervals
// overlap, or merely touch (a.completed == b.invoked), are concurrent and may go in either order.
//
// An operation whose outcome is unknown (a timeout, a crashed client) has completed ==
// Instant::max(): it may take effect at any point after its invocation, or never. An empty output
// with a finite completion means the operation did take effect within its interval but what it
// returned was not recorded; the model then accepts any output.
//
// The search is Wing & Gong's with Lowe's memo of (linearized operations, state), run on each
// partition the model names separately (P-compositionality), as in Porcupine and Knossos. As
// unknown-outcome operations make it exponential in their number, moves that others provably
// cover are skipped: completed operations are tried first; a completed read-only one that fits is
// placed without alternatives; an unknown-outcome operation is never placed where it changes
// nothing, nor where the next operation gets as far without it or before it; and an explored
// configuration with a subset of the unknown-outcome operations covers this one. The model's
// optional hints (read-only operations, blind writes, special states) decide most of that without a
// model step.
//
// Bounded: each partition's search stops after LinearizabilityOptions::max_search_steps search
// steps (model steps, memo comparisons, candidates considered), or when its memo grows past
// max_cache_bytes, and the verdict is then kGaveUp. Deterministic: the verdict and the
// explanation depend only on the history's contents and order, never on pointer values or on the
// iteration order of a hash table. Partitions are checked in ascending key order and the first
// one that is not linearizable is reported.
//
// Thread-safety: the functions are pure and keep no state between calls; concurrent calls are safe.
#pragma once

// The checker's parts, one job each; including this header includes them all.
#include "smalti/sim/linearizability/check_types.hpp"  // LinearizabilityOptions, ...Result
#include "smalti/sim/linearizability/checker.hpp"      // check_linearizability()
#include "smalti/sim/linearizability/history.hpp"      // Operation, History
#include "smalti/sim/linearizability/kv_model.hpp"     // KvModel
#include "smalti/sim/linearizability/model.hpp"        // the LinearizabilityModel concept
