// KvStateMachine: a key-value map from 64-bit keys to 64-bit values, as a group StateMachine,
// for simulation tests, the demo and benchmarks (its histories are checked with KvModel of
// linearizability.hpp). Value 0 means absent.
#pragma once

#include <map>

#include "smalti/groups/state_machine.hpp"

namespace smalti::sim {

struct KvCommand {
  std::uint64_t key = 0;
  std::uint64_t value = 0;  // 0 deletes
  friend bool operator==(const KvCommand&, const KvCommand&) = default;
};
SMALTI_FIELDS(KvCommand, key, value)

struct KvQuery {
  std::uint64_t key = 0;
};
SMALTI_FIELDS(KvQuery, key)

// What KvStateMachine::snapshot() encodes.
struct KvSnapshot {
  std::map<std::uint64_t, std::uint64_t> values;
  std::uint64_t applied = 0;
};
SMALTI_FIELDS(KvSnapshot, values, applied)

struct KvStateMachine {
  using Command = KvCommand;
  using Query = KvQuery;
  using QueryResult = std::uint64_t;

  std::map<std::uint64_t, std::uint64_t> values;
  std::uint64_t applied = 0;

  Digest signature() const { return Digest::from_string("smalti.sim.kv.v1"); }
  void apply(const Command& c, const groups::ApplyContext&) {
    ++applied;
    if (c.value == 0) {
      values.erase(c.key);
    } else {
      values[c.key] = c.value;
    }
  }
  QueryResult query(const Query& q) const {
    auto it = values.find(q.key);
    return it == values.end() ? 0 : it->second;
  }
  // The whole map and the count, in the codec's canonical form: equal states, equal bytes.
  Bytes snapshot() const { return encode(KvSnapshot{values, applied}); }
  Status restore(ByteView state) {
    auto decoded = decode<KvSnapshot>(state);
    if (!decoded.is_ok()) return decoded.status();
    values = std::move(decoded->values);
    applied = decoded->applied;
    return Status::ok();
  }
};

}  // namespace smalti::sim
