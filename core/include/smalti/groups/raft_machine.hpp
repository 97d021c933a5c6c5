// RaftMachine: one member's Raft, as a pure state machine (DESIGN.md section 3).
//
// smalti's Raft keeps mosaik's shape (abstaining observers, a voting committee sized by the
// members present, leadership preference, a bootstrap delay) and closes the safety gaps of
// mosaik-behaviour.md section 12.2:
//   - term, vote and log are persisted (Persist effects) before any message that depends on
//     them leaves: sends queued behind a Persist are held until handle_persisted(token). A
//     leader's AppendEntries depends only on its term, so it leaves while the leader's own
//     append is written; the leader counts its own copy only once durable;
//   - the voters are a configuration stored in the log (one voter added or removed at a time,
//     only after the leader committed an entry of its own term), so two disjoint sets of
//     members can never both be a quorum;
//   - a leader commits by counting replicas only for entries of its current term;
//   - every AppendEntries, heartbeats included, is acknowledged: a leader that has not heard
//     from a quorum for an election timeout steps down, and reads confirm leadership with a
//     heartbeat round (read-index);
//   - pre-vote, and a member that heard from its leader within the election timeout ignores
//     vote requests, so a rejoining member does not depose a healthy leader;
//   - a member is a voter in one storage incarnation: a restart with empty storage is a new,
//     non-voting member, never the old voter with its vote forgotten.
//
// A follower far behind its leader catches up by log replay (mosaik's LogReplaySync): it
// fetches the committed entries it misses from several members, in batches of
// RaftOptions::log_replay.batch_size entries (raft_catch_up.cpp).
//
// Snapshots (raft_snapshot.cpp): the driver hands the machine a snapshot of its state machine
// at an applied index (take_snapshot); the machine keeps it, has it stored and prunes the log
// before it, keeping a tail. A follower that needs entries no member holds any more fetches a
// snapshot in chunks from the members that hold the same one (the leader last), resumes with
// another member when one fails, checks the whole against the snapshot's digest, installs it
// (a Restore effect rebuilds the state machine) and continues by log replay.
//
// Bootstrap: a member with an empty log that has not heard from a leader stands for founding
// the cluster after bootstrap_delay if it has the lowest PeerId among its bonded non-observer
// peers, at least bootstrap_expect members (itself included) are bonded, and the driver
// allows it (set_founding_allowed: lowest among every member it knows of). It asks every
// bonded member for a pre-vote, then a vote; with bootstrap_expect votes it founds the cluster with
// itself and the members that voted for it as the founding configuration (up to max_voters, an odd
// number past two).
//
// Until a member knows the founding entry committed (`founded`, persisted), every decision
// needs, besides a majority of the configuration, bootstrap_expect members of the group:
// votes for an election, stored copies for a commit. The group's members are the implicit
// configuration before the first one, and when bootstrap_expect is more than half of them,
// any two such sets meet: Raft's own argument then shows that two foundings can never both
// commit, and an uncommitted founding is simply overwritten by the committed one's leader
// (docs/decisions.md). Two committed clusters of one GroupId (bootstrap_expect at most half
// the group; mosaik's default of 1) merge as mosaik's do: the one with the lower commit index
// (then the higher cluster digest) resets its log and rejoins as new members; the Reset
// effect reports this.
//
// Inputs take `now`, which never decreases. Outputs are effects pulled with poll_effect().
// Not thread-safe; driven by one GroupWorker.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/base/status.hpp"
#include "smalti/groups/raft_log.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::groups {

enum class Role : std::uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role role);

// What a member must find again after a restart (with its log).
struct HardState {
  Term term = 0;
  std::optional<Member> vote;
  std::uint64_t incarnation = 0;  // 0: storage never initialised
  bool founded = false;           // the log's founding entry is known committed
  friend bool operator==(const HardState&, const HardState&) = default;
};
SMALTI_FIELDS(HardState, term, vote, incarnation, founded)

struct RaftOptions {
  PeerId self;
  ConsensusConfig consensus;
  LeadershipPreference preference;
  std::uint64_t seed = 0;
  // Effects waiting to be pulled (machine.hpp): room for every held send released at once.
  std::size_t max_pending_effects = std::size_t{4} << 16;
  // Log replay catch-up: the most entries one fetch asks for or serves.
  LogReplayConfig log_replay;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none.
  Buggify buggify;
};

// A peer with a live bond.
struct RaftPeer {
  PeerId id;
  bool observer = false;
  std::uint64_t incarnation = 0;  // as the bond handshake announced it
};

namespace raft_effect {
// The Sends of one broadcast (the same AppendEntries to every follower that needs it) share one
// message object, so a driver can encode it once.
struct Send {
  PeerId to;
  std::shared_ptr<const RaftMessage> message;
};
// Make durable, in order: the removal of the stored snapshot (drop_snapshot), the snapshot
// (when set), the hard state (when set), the log emptied to follow `reset_to` (when set), the
// truncation of every entry at index >= truncate_from (when set), `entries` at indexes
// append_from, append_from + 1, ..., and last the pruning of the entries up to `prune_through`
// (when set; a snapshot stored earlier holds them).
struct Persist {
  std::uint64_t token = 0;
  bool drop_snapshot = false;
  std::shared_ptr<const Snapshot> snapshot;
  std::optional<HardState> hard_state;
  std::optional<Cursor> reset_to;
  std::optional<Index> truncate_from;
  Index append_from = 0;
  std::vector<LogEntry> entries;
  std::optional<Cursor> prune_through;
};
// Entries up to `index` are committed: apply them (they are in log()).
struct Committed {
  Index index = 0;
};
// Role, term or leader changed (read them from the machine).
struct RoleChanged {};
// A linearizable read may run once the local state reflects `index`.
struct ReadReady {
  std::uint64_t read = 0;
  Index index = 0;
};
// The read cannot be confirmed here (not, or no longer, the leader).
struct ReadFailed {
  std::uint64_t read = 0;
};
// This member lost a cluster merge: its log is gone; rebuild the state machine from nothing.
struct Reset {};
// A snapshot fetched from other members was installed (it is snapshot()): rebuild the state
// machine from it; every entry up to `index` is applied by it.
struct Restore {
  Index index = 0;
};
}  // namespace raft_effect

using RaftEffect = std::variant<raft_effect::Send, raft_effect::Persist, raft_effect::Committed,
                                raft_effect::RoleChanged, raft_effect::ReadReady,
                                raft_effect::ReadFailed, raft_effect::Reset, raft_effect::Restore>;

// What the stores recovered: the log's entries after `base`, and the latest snapshot.
struct RecoveredLog {
  Cursor base;
  std::vector<LogEntry> entries;
  std::optional<Snapshot> snapshot;
};

// One chunk asked of one member.
struct CatchUpFetch {
  Index from = 0;
  Index to = 0;
  Instant deadline;
};
// A snapshot being fetched in chunks (raft_snapshot.cpp).
struct SnapshotTransfer {
  SnapshotMeta meta;
  std::set<PeerId> providers;                   // members that offered this very snapshot
  std::map<std::uint64_t, SharedBytes> chunks;  // offset -> bytes
  std::uint64_t next_offset = 0;                // the first byte not yet asked of anyone
  std::deque<std::uint64_t> retry;              // chunk offsets to ask again
  std::map<PeerId, std::pair<std::uint64_t, Instant>> inflight;  // offset and deadline
};
// A follower's log replay session (raft_catch_up.cpp): committed entries [commit + 1, target]
// fetched from members. Outside RaftMachine so that std::optional of it is complete for clang.
struct CatchUpSession {
  Digest cluster;  // the leader's
  Index target = 0;
  Index next_apply = 0;                       // the first index the session has not written yet
  Index next_assign = 0;                      // the first index not yet asked of anyone
  std::deque<std::pair<Index, Index>> retry;  // ranges to ask again
  std::map<PeerId, std::pair<Index, Index>> available;    // member -> [first, last] it serves
  std::map<PeerId, CatchUpFetch> inflight;                // at most one per member
  std::map<Index, std::vector<LogEntry>> received;        // chunk start -> entries
  std::deque<std::pair<PeerId, AppendEntries>> buffered;  // the leader's appends meanwhile
  std::optional<SnapshotTransfer> snapshot;               // entries no member holds any more
  bool snapshot_leader_only = false;  // the chunks of several members did not add up
  Instant next_ask;  // with nothing in flight, every member is asked again what it serves then
};

class RaftMachine : public MachineBase<RaftEffect> {
 public:
  // `hard_state` and `log` are what the stores recovered (empty for a new member). Requires a
  // recovered snapshot, if any, to hold every entry pruned (its index >= the log's base).
  RaftMachine(RaftOptions options, HardState hard_state, RecoveredLog log, Instant now);
  RaftMachine(RaftOptions options, HardState hard_state, std::vector<LogEntry> log, Instant now)
      : RaftMachine(std::move(options), hard_state, RecoveredLog{{}, std::move(log), {}}, now) {}

  // ---- inputs ----------------------------------------------------------------------------------
  void handle_message(Instant now, const PeerId& from, const RaftMessage& message);
  void handle_timeout(Instant now);
  // Everything of Persist effects with a token <= `token` is durable.
  void handle_persisted(Instant now, std::uint64_t token);
  // The bonded peers changed.
  void handle_peers(Instant now, const std::vector<RaftPeer>& peers);
  // Whether this member may found the cluster: the driver allows it only while no member of
  // the group it knows of (bonded or not) has a lower PeerId. A member cut off at formation then
  // waits for the founder instead of founding a second cluster.
  void set_founding_allowed(bool allowed) { founding_allowed_ = allowed; }
  // Leader only: appends commands; returns the cursor of the first (kUnavailable otherwise,
  // kLimitExceeded for an oversized command).
  Result<Cursor> propose(Instant now, std::vector<SharedBytes> commands);
  // Asks to confirm leadership for a linearizable read: a ReadReady or ReadFailed effect follows.
  void read(Instant now, std::uint64_t read_id);
  // The state machine's state after applying every entry up to `index`: kept as this member's
  // snapshot (served to members that need it), stored, and the log pruned up to `index -
  // retain` (the tail kept serves followers a little behind by log replay). kInvalidArgument
  // unless the latest snapshot's index < index <= commit index, or for a state larger than
  // kMaxSnapshotBytes.
  Status take_snapshot(Instant now, Index index, SharedBytes state, Index retain);

  // ---- outputs (poll_effect() from MachineBase) ----------------------------------------------
  Instant next_deadline() const;
  void invariants() const;

  // ---- views -----------------------------------------------------------------------------------
  Role role() const { return role_; }
  Term term() const { return hard_.term; }
  const std::optional<PeerId>& leader() const { return leader_; }
  bool is_leader() const { return role_ == Role::kLeader; }
  // Leader, or a follower whose log the leader's last AppendEntries found consistent.
  bool is_online() const { return role_ == Role::kLeader || (leader_ && in_sync_); }
  Index commit_index() const { return commit_; }
  const RaftLog& log() const { return log_; }
  const VoterSet& voters() const { return config_; }
  const Digest& cluster() const { return cluster_; }
  const HardState& hard_state() const { return hard_; }
  const PeerId& self() const { return options_.self; }
  // The latest snapshot taken or installed; null when there is none.
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  Member self_member() const { return {options_.self, hard_.incarnation}; }
  bool is_voter() const;

  // What log replay catch-up did (tests and metrics).
  struct CatchUpStats {
    std::uint64_t sessions = 0;
    std::uint64_t entries_fetched = 0;
    std::uint64_t appends_kept = 0;  // the leader's, while the gap was fetched
    std::set<PeerId> served_by;      // members that sent entries
    std::uint64_t snapshots_installed = 0;
    std::uint64_t snapshot_chunks = 0;      // fetched and accepted
    std::uint64_t snapshot_mismatches = 0;  // assembled snapshots that failed their digest
    std::set<PeerId> snapshot_served_by;    // members that sent chunks
  };
  const CatchUpStats& catch_up_stats() const { return catch_up_stats_; }
  bool catching_up() const { return catch_up_.has_value(); }

  static constexpr std::size_t kMaxInflightAppends = 8;
  // A follower this far behind its leader's commit index catches up by log replay.
  static constexpr Index kCatchUpGap = 2 * kMaxEntriesPerAppend;
  // Leader appends kept while catching up, applied once the gap is closed.
  static constexpr std::size_t kMaxBufferedAppends = 64;
  static constexpr std::size_t kMaxPendingReads = 4096;
  static constexpr std::size_t kMaxCommandBytes = 1u << 20;
  static constexpr std::size_t kMaxHeldSends = 1u << 16;
  // Terms above this are refused (a faulty peer; the next term would wrap around).
  static constexpr Term kMaxTerm = Term{1} << 62;
  // An AppendEntries a correct leader could send (see raft_machine.cpp).
  static bool well_formed(const AppendEntries& m);

 private:
  struct Progress {
    Index next = 1;
    Index match = 0;
    std::size_t inflight = 0;
    bool bonded = false;
    bool observer = false;
    std::uint64_t incarnation = 0;  // from its last answer; 0 before one
    Instant last_ack;
    bool acked = false;
    std::uint64_t round = 0;
  };
  struct Ballot {
    Vote vote = Vote::kDenied;
    std::uint64_t incarnation = 0;
  };
  struct PendingRead {
    std::uint64_t id = 0;
    Index index = 0;
    std::uint64_t round = 0;
  };

  // raft_machine.cpp: plumbing
  bool buggify(std::string_view point) const { return fire(options_.buggify, point); }
  Header header() const;
  void send(const PeerId& to, RaftMessage message);
  void send_shared(const PeerId& to, std::shared_ptr<const RaftMessage> message);
  HardState& mutate_hard_state();
  void persist_truncate(Index from);
  raft_effect::Persist& pending_persist();  // the Persist flush() emits, created when needed
  void reserve_persist(std::size_t entries);
  void persist_append(const LogEntry& entry);
  void flush();
  void reset_election_timer(Instant now);
  void become_follower(Instant now, Term term, std::optional<PeerId> leader);
  void stand_if_due(Instant now);
  void set_commit(Index index);
  void refresh_config();
  std::size_t quorum() const { return config_.voters.size() / 2 + 1; }
  bool is_config_voter(const PeerId& peer, std::uint64_t incarnation) const;
  bool in_leader_lease(Instant now) const;
  // raft_election.cpp
  void start_pre_vote(Instant now);
  void start_election(Instant now);
  void request_votes(const Header& header, bool pre_vote);
  void become_leader(Instant now);
  void on_vote_request(Instant now, const PeerId& from, const VoteRequest& m);
  void on_vote_response(Instant now, const PeerId& from, const VoteResponse& m);
  bool count_votes() const;
  // raft_replication.cpp
  void on_append(Instant now, const PeerId& from, const AppendEntries& m);
  void on_append_response(Instant now, const PeerId& from, const AppendResponse& m);
  void append_from_leader(const AppendEntries& m);
  bool contradicts_commit(const AppendEntries& m) const;
  AppendEntries after_base(const AppendEntries& m) const;
  // The AppendEntries last built by replicate_all, reused for the next follower whose next
  // index and need of entries are the same (header and round do not change within one call).
  struct AppendMemo {
    Index next = 0;
    bool with_entries = false;
    std::size_t entries = 0;
    std::shared_ptr<const RaftMessage> message;
  };
  void replicate(const PeerId& peer, bool heartbeat, AppendMemo* memo = nullptr);
  void replicate_all(bool heartbeat);
  void broadcast_heartbeat(Instant now);
  void advance_commit();
  void serve_reads();
  void fail_reads();
  void check_quorum(Instant now);
  // raft_catch_up.cpp
  bool start_catch_up(Instant now, const AppendEntries& m, bool beyond_leader);
  void on_sync_availability(Instant now, const PeerId& from, const SyncAvailability& m);
  void on_sync_fetch(const PeerId& from, const SyncFetch& m);
  void on_sync_entries(Instant now, const PeerId& from, const SyncEntries& m);
  void schedule_fetches(Instant now);
  void write_fetched();
  void expire_fetches(Instant now);
  Instant catch_up_deadline() const;
  // How long a member has to answer a fetch of entries or of a snapshot chunk.
  Duration fetch_timeout() const { return 2 * options_.consensus.election_timeout; }
  bool nothing_in_flight() const;
  static bool entries_well_formed(Term prev_term, Term max_term, std::size_t max_entries,
                                  const std::vector<LogEntry>& entries);
  // raft_snapshot.cpp
  std::optional<SnapshotMeta> offered_snapshot() const;
  void consider_snapshot(Instant now, const PeerId& from, const SyncAvailability& m);
  void on_snapshot_fetch(const PeerId& from, const SnapshotFetch& m);
  void on_snapshot_chunk(Instant now, const PeerId& from, const SnapshotChunk& m);
  void schedule_chunks(Instant now);
  void finish_transfer(Instant now);
  void install_snapshot(Snapshot snapshot);
  void expire_chunks(Instant now);
  VoterSet config_at(Index index) const;
  bool snapshot_meta_well_formed(const SnapshotMeta& meta) const;
  void persist_reset(Cursor base);
  void persist_prune(Cursor through);
  void discard_log();
  // raft_membership.cpp
  bool may_bootstrap() const;
  bool on_foreign_cluster(Instant now, const Header& h);
  std::size_t group_quorum() const;
  void found(Instant now);
  void reset_membership(Instant now);
  void change_membership(Instant now);
  void append_config(VoterSet voters);

  RaftOptions options_;
  Rng rng_;
  HardState hard_;
  RaftLog log_;
  Digest cluster_;
  VoterSet config_;
  Index config_index_ = 0;
  Index commit_ = 0;
  Role role_ = Role::kFollower;
  std::optional<PeerId> leader_;
  bool in_sync_ = false;
  bool founding_allowed_ = true;
  Instant started_at_;
  Instant election_deadline_ = Instant::max();
  Instant heartbeat_deadline_ = Instant::max();
  std::optional<Instant> last_leader_contact_;
  std::map<PeerId, Ballot> votes_;
  std::map<PeerId, RaftPeer> peers_;
  // leader state
  std::map<PeerId, Progress> progress_;
  Index term_start_index_ = 0;
  Instant leader_since_;
  std::uint64_t round_ = 0;
  std::deque<PendingRead> reads_;
  // the latest snapshot taken or installed
  std::shared_ptr<const Snapshot> snapshot_;
  // follower state: log replay catch-up
  std::optional<CatchUpSession> catch_up_;
  CatchUpStats catch_up_stats_;
  // persistence
  std::optional<raft_effect::Persist> pending_persist_;
  std::uint64_t issued_token_ = 0;
  std::uint64_t persisted_token_ = 0;
  std::uint64_t hard_state_token_ = 0;  // the latest Persist that carries a hard state
  std::map<std::uint64_t, Index> last_index_at_token_;
  Index durable_last_index_ = 0;
  std::deque<std::pair<std::uint64_t, raft_effect::Send>> held_;
  // change detection for RoleChanged
  Role reported_role_ = Role::kFollower;
  Term reported_term_ = 0;
  std::optional<PeerId> reported_leader_;
};

}  // namespace smalti::groups
