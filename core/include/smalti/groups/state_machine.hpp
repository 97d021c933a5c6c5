// The replicated state machine a group runs, and its type-erased form.
//
//   struct Counter {
//     using Command = std::uint64_t;      // each needs a codec (integers, or SMALTI_FIELDS)
//     using Query = Unit;
//     using QueryResult = std::uint64_t;
//     std::uint64_t value = 0;
//     Digest signature() const { return Digest::from_string("counter.v1"); }
//     void apply(const Command& c, const ApplyContext&) { value += c; }
//     QueryResult query(const Query&) const { return value; }
//   };
//
// Optional members: apply_batch(std::span<const Command>, const ApplyContext&) (called for each
// run of committed commands of one term; defaults to apply() on each),
// leadership_preference(), and the pair snapshot() / restore():
//
//     Bytes snapshot() const;          // the whole state, encoded
//     Status restore(ByteView state);  // back to the state snapshot() encoded
//
// apply() must be deterministic: every member applies the same commands in the same order and
// must reach the same state. The signature is part of the GroupId, so members with different
// machines never form one group. Catch-up is log replay: a member that missed entries fetches
// them from the members and applies them in order (its settings, LogReplayConfig in types.hpp,
// are in the GroupId too). A machine with snapshot() / restore() lets the group take snapshots
// (SnapshotPolicy) and prune its log: a member that needs pruned entries fetches a snapshot
// instead and restores it. snapshot() should encode the same state as the same bytes (encode()
// of the codec does), so that members that snapshot at the same index hold the same snapshot
// and a catching-up member can fetch it from several of them at once. Executor thread only.
#pragma once

#include <concepts>
#include <span>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/groups/types.hpp"

namespace smalti::groups {

// An empty command, query or result.
struct Unit {
  friend bool operator==(const Unit&, const Unit&) = default;
};
SMALTI_EMPTY_FIELDS(Unit)

struct ApplyContext {
  Index committed = 0;  // applied before this batch
  Index index = 0;      // the last entry of this batch
  Term term = 0;        // the term of this batch
  GroupId group;
  NetworkId network;
};

template <typename M>
concept StateMachine = requires(M m, const M cm, const typename M::Command& command,
                                const typename M::Query& query, const ApplyContext& ctx) {
  typename M::Command;
  typename M::Query;
  typename M::QueryResult;
  { cm.signature() } -> std::convertible_to<Digest>;
  m.apply(command, ctx);
  { cm.query(query) } -> std::convertible_to<typename M::QueryResult>;
}
&&std::copy_constructible<M>;

class ErasedStateMachine {
 public:
  virtual ~ErasedStateMachine() = default;
  virtual Digest signature() const = 0;
  virtual LeadershipPreference leadership_preference() const = 0;
  // Applies a run of commands of one term; returns how many did not decode (skipped, the same
  // way on every member).
  virtual std::size_t apply_batch(std::span<const ByteView> commands, const ApplyContext& ctx) = 0;
  virtual Result<Bytes> query(ByteView query) const = 0;
  // Back to the state the machine had when the group was joined.
  virtual void reset() = 0;
  // Whether the machine has snapshot() and restore().
  virtual bool snapshots() const = 0;
  // The machine's state (empty when it has no snapshot()).
  virtual Bytes snapshot() const = 0;
  // Replaces the state by `state`; kFailedPrecondition for a machine without restore(), or the
  // machine's error for state it cannot read (the machine must then be as before).
  virtual Status restore(ByteView state) = 0;
  // The identity of the machine's C++ type, to refuse a second join with another type.
  virtual const void* type_tag() const = 0;
};

template <StateMachine M>
class ErasedMachine final : public ErasedStateMachine {
 public:
  explicit ErasedMachine(M machine) : initial_(machine), machine_(std::move(machine)) {}
  M& get() { return machine_; }
  const M& get() const { return machine_; }

  Digest signature() const override { return machine_.signature(); }
  LeadershipPreference leadership_preference() const override {
    if constexpr (requires { machine_.leadership_preference(); }) {
      return machine_.leadership_preference();
    } else {
      return LeadershipPreference::normal();
    }
  }
  std::size_t apply_batch(std::span<const ByteView> commands, const ApplyContext& ctx) override {
    std::size_t skipped = 0;
    auto decode_each = [&](auto&& use) {
      for (ByteView b : commands) {
        Decoder d(b);
        typename M::Command c{};
        if (decode_from(d, c).is_ok() && d.remaining() == 0) {
          use(std::move(c));
        } else {
          ++skipped;
        }
      }
    };
    if constexpr (requires { machine_.apply_batch(std::span<const typename M::Command>(), ctx); }) {
      std::vector<typename M::Command> decoded;
      decoded.reserve(commands.size());
      decode_each([&](typename M::Command c) { decoded.push_back(std::move(c)); });
      machine_.apply_batch(std::span<const typename M::Command>(decoded), ctx);
    } else {
      decode_each([&](const typename M::Command& c) { machine_.apply(c, ctx); });
    }
    return skipped;
  }
  Result<Bytes> query(ByteView query) const override {
    auto q = decode<typename M::Query>(query);
    if (!q.is_ok()) return q.status();
    return encode(machine_.query(*q));
  }
  void reset() override { machine_ = initial_; }
  static constexpr bool kSnapshots = requires(const M cm, M m, ByteView state) {
    { cm.snapshot() } -> std::convertible_to<Bytes>;
    { m.restore(state) } -> std::same_as<Status>;
  };
  bool snapshots() const override { return kSnapshots; }
  Bytes snapshot() const override {
    if constexpr (kSnapshots) {
      return machine_.snapshot();
    } else {
      return {};
    }
  }
  Status restore(ByteView state) override {
    if constexpr (kSnapshots) {
      return machine_.restore(state);
    } else {
      return error(StatusCode::kFailedPrecondition, "this state machine has no restore()");
    }
  }
  const void* type_tag() const override { return tag(); }
  static const void* tag() {
    static const char unique = 0;
    return &unique;
  }

 private:
  M initial_;
  M machine_;
};

// The machine of mosaik's `join()` without one: no commands, no state.
struct NoOpMachine {
  using Command = Unit;
  using Query = Unit;
  using QueryResult = Unit;
  Digest signature() const { return Digest::from_string("smalti_noop_state_machine"); }
  void apply(const Command&, const ApplyContext&) {}
  QueryResult query(const Query&) const { return {}; }
};

}  // namespace smalti::groups
