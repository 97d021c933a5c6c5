// Group identity and consensus settings: Index, Term, Cursor, GroupKey, ConsensusConfig,
// LeadershipPreference and the GroupId derivation (mosaik-behaviour.md section 5).
//
// GroupId = BLAKE3(key secret) .derive(consensus digest) .derive(state machine signature)
//           .derive(state sync signature) [.derive(validator signature)...]
// where the consensus digest covers the heartbeat settings only (interval, jitter, missed count,
// each a 16-byte little-endian integer of milliseconds or a count), exactly as mosaik does, so
// nodes that differ only in election timeouts still form one group; the state sync signature
// is that of log replay with its batch size (LogReplayConfig::signature()). Value types.
#pragma once

#include <compare>
#include <cstdint>
#include <span>
#include <string>

#include "smalti/base/codec.hpp"
#include "smalti/base/digest.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/base/time.hpp"

namespace smalti::groups {

using GroupId = Digest;

// The most voters a configuration may hold (and a peer's configuration entry may list).
inline constexpr std::uint32_t kMaxVoters = 255;
using Index = std::uint64_t;  // 0 is "before the first entry"
using Term = std::uint64_t;   // 0 is "before the first election"

// A log position, ordered by (term, index): the Raft "at least as up to date" order.
struct Cursor {
  Term term = 0;
  Index index = 0;
  friend auto operator<=>(const Cursor&, const Cursor&) = default;
};
SMALTI_FIELDS(Cursor, term, index)

// The shared secret of a group. Knowing it is what lets a peer bond (see bond_machine.hpp).
class GroupKey {
 public:
  GroupKey() = default;
  explicit GroupKey(const Digest& secret) : secret_(secret) {}
  // A 64-character hex string is used verbatim; any other string is hashed (Digest rule).
  static GroupKey from_secret(std::string_view secret) {
    return GroupKey(Digest::from_string(secret));
  }
  const Digest& secret() const { return secret_; }
  // "ab****cd": the first and last byte, never the whole secret.
  std::string redacted() const;
  friend bool operator==(const GroupKey&, const GroupKey&) = default;

 private:
  Digest secret_;
};

// How willing this node is to lead. Per node; not part of the GroupId.
struct LeadershipPreference {
  enum class Kind : std::uint8_t { kNormal, kReluctant, kObserver };
  Kind kind = Kind::kNormal;
  std::uint32_t factor = 1;  // kReluctant: election timeout and bootstrap delay are multiplied

  static LeadershipPreference normal() { return {}; }
  static LeadershipPreference reluctant(std::uint32_t factor = 3) {
    return {Kind::kReluctant, factor < 1 ? 1 : factor};
  }
  // Replicates and applies, answers Abstained to votes, never leads and never votes.
  static LeadershipPreference observer() { return {Kind::kObserver, 1}; }
  bool is_observer() const { return kind == Kind::kObserver; }
  std::uint32_t multiplier() const { return kind == Kind::kReluctant ? factor : 1; }
  friend bool operator==(const LeadershipPreference&, const LeadershipPreference&) = default;
};

// Raft timings. Defaults are mosaik's.
struct ConsensusConfig {
  Duration heartbeat_interval = 500ms;
  Duration heartbeat_jitter = 150ms;  // must be positive and below heartbeat_interval
  std::uint32_t max_missed_heartbeats = 10;
  Duration election_timeout = 2s;
  Duration election_timeout_jitter = 500ms;
  Duration bootstrap_delay = 3s;
  Duration forward_timeout = 2s;
  Duration query_timeout = 2s;
  // Voters the leader keeps in the configuration (mosaik hard-codes 5); other members replicate
  // as non-voting learners and are promoted when a voter is lost.
  std::uint32_t max_voters = 5;
  // Members (this one included) whose votes found the cluster, and whose stored copies commit
  // entries until the founding is known committed. 1, mosaik's behaviour, lets a lone member
  // found; a member cut off from the others while the group forms then founds a second
  // cluster, and when they meet the smaller one's entries are dropped. Set it to a majority of
  // the expected group size and that cannot happen (raft_machine.hpp says why).
  std::uint32_t bootstrap_expect = 1;

  ConsensusConfig& with_heartbeat_interval(Duration d) { return heartbeat_interval = d, *this; }
  ConsensusConfig& with_heartbeat_jitter(Duration d) { return heartbeat_jitter = d, *this; }
  ConsensusConfig& with_max_missed_heartbeats(std::uint32_t n) {
    return max_missed_heartbeats = n, *this;
  }
  ConsensusConfig& with_election_timeout(Duration d) { return election_timeout = d, *this; }
  ConsensusConfig& with_election_timeout_jitter(Duration d) {
    return election_timeout_jitter = d, *this;
  }
  ConsensusConfig& with_bootstrap_delay(Duration d) { return bootstrap_delay = d, *this; }
  ConsensusConfig& with_forward_timeout(Duration d) { return forward_timeout = d, *this; }
  ConsensusConfig& with_query_timeout(Duration d) { return query_timeout = d, *this; }
  ConsensusConfig& with_max_voters(std::uint32_t n) { return max_voters = n, *this; }
  ConsensusConfig& with_bootstrap_expect(std::uint32_t n) { return bootstrap_expect = n, *this; }

  // kInvalidArgument naming the first bad setting (mosaik divides by a zero jitter).
  Status validate() const;
  // The part of the settings that is in the GroupId (heartbeat settings only).
  Digest digest() const;
  // Bond liveness: a bond that received nothing for this long is cut.
  Duration bond_timeout() const {
    return (heartbeat_interval + heartbeat_jitter) * max_missed_heartbeats;
  }
};

// Catch-up by log replay (mosaik's LogReplaySync): a member far behind fetches the committed
// entries it misses from several members, at most batch_size entries (and about 1 MiB) per
// request. The batch size is in the GroupId, as in mosaik's sync signature.
struct LogReplayConfig {
  std::uint32_t batch_size = 2000;  // mosaik's default

  LogReplayConfig& with_batch_size(std::uint32_t n) { return batch_size = n, *this; }
  // kInvalidArgument unless 1 <= batch_size <= kMaxLogReplayBatch.
  Status validate() const;
  // BLAKE3("smalti_log_replay_sync.v1").derive(batch_size as 8 little-endian bytes).
  Digest signature() const;
  friend bool operator==(const LogReplayConfig&, const LogReplayConfig&) = default;
};

// When a member of a group whose state machine has snapshot() / restore() snapshots it (per
// member, not in the GroupId): at the first applied index `every_entries` entries, or
// `every_bytes` bytes of commands, past its previous snapshot. Members that apply the same log
// from the same snapshot snapshot at the same indexes, so a member catching up can fetch one
// snapshot from several of them. The log is then pruned up to `retain_entries` before the
// snapshot: a member less far behind still catches up from the log. every_entries = 0: never.
struct SnapshotPolicy {
  std::uint64_t every_entries = 10'000;
  std::uint64_t every_bytes = std::uint64_t{64} << 20;
  std::uint64_t retain_entries = 1'000;

  static SnapshotPolicy never() { return {0, 0, 0}; }
  SnapshotPolicy& with_every_entries(std::uint64_t n) { return every_entries = n, *this; }
  SnapshotPolicy& with_every_bytes(std::uint64_t n) { return every_bytes = n, *this; }
  SnapshotPolicy& with_retain_entries(std::uint64_t n) { return retain_entries = n, *this; }
  bool enabled() const { return every_entries != 0; }
  // kInvalidArgument unless every_bytes >= 1 when enabled.
  Status validate() const;
  friend bool operator==(const SnapshotPolicy&, const SnapshotPolicy&) = default;
};

// The largest batch a member asks for or serves (the decoder's limit on a chunk's entries).
inline constexpr std::uint32_t kMaxLogReplayBatch = 8192;

GroupId derive_group_id(const GroupKey& key, const ConsensusConfig& consensus,
                        const Digest& state_machine_signature, const Digest& sync_signature,
                        std::span<const Digest> validator_signatures);

}  // namespace smalti::groups
