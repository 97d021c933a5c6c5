// Raft log entries and wire messages, as smalti runs Raft (see docs/decisions.md, "Groups").
//
// Every message starts with a Header naming the sender's cluster (the digest of its log's first
// entry; zero while it has none), its term, its member incarnation and its commit index. The
// incarnation tells a member that restarted with empty storage apart from the voter it was, so
// a node that forgot its vote can never vote twice as the same voter.
//
//   AppendEntries   leader -> member   entries after `prev`, the leader's commit, a read round
//   AppendResponse  member -> leader   acknowledges every AppendEntries, heartbeats included
//   VoteRequest     candidate -> all   pre-vote (no state change) or real vote
//   VoteResponse    voter -> candidate Granted, Denied or Abstained (observers)
//   SyncAvailability, SyncFetch, SyncEntries       log replay catch-up (raft_catch_up.cpp)
//   SnapshotFetch, SnapshotChunk                   snapshot transfer (raft_snapshot.cpp)
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/groups/types.hpp"

namespace smalti::groups {

// A voter of the configuration: a peer in one incarnation of its storage.
struct Member {
  PeerId peer;
  std::uint64_t incarnation = 0;
  friend auto operator<=>(const Member&, const Member&) = default;
};
SMALTI_FIELDS(Member, peer, incarnation)

enum class EntryKind : std::uint8_t { kCommand, kNoop, kConfig };
SMALTI_ENUM(EntryKind, EntryKind::kConfig)

struct LogEntry {
  Term term = 0;
  EntryKind kind = EntryKind::kCommand;
  // kCommand: the encoded command; kConfig: an encoded VoterSet; kNoop: empty. Shared by every
  // copy of the entry (log, stores, AppendEntries slices).
  SharedBytes payload;
  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};
SMALTI_FIELDS(LogEntry, term, kind, payload)

// The payload of a kConfig entry: the voters, ordered. A configuration takes effect as soon as
// it is in a log (committed or not), as in the Raft dissertation's single-server changes.
struct VoterSet {
  std::vector<Member> voters;
  friend bool operator==(const VoterSet&, const VoterSet&) = default;
};
SMALTI_FIELDS(VoterSet, voters)

struct Header {
  Digest cluster;
  Term term = 0;
  std::uint64_t incarnation = 0;
  Index commit = 0;
  friend bool operator==(const Header&, const Header&) = default;
};
SMALTI_FIELDS(Header, cluster, term, incarnation, commit)

struct AppendEntries {
  Header header;
  Cursor prev;
  std::vector<LogEntry> entries;
  // Echoed by the response: a leader confirms it still leads (read-index) once a quorum echoed
  // a round at least as new as the one a read waits for.
  std::uint64_t round = 0;
  // The first index the leader's log still holds (earlier entries are in its snapshot): a
  // member whose log ends before it can only catch up from a snapshot.
  Index log_start = 1;
  friend bool operator==(const AppendEntries&, const AppendEntries&) = default;
};
SMALTI_FIELDS(AppendEntries, header, prev, entries, round, log_start)

struct AppendResponse {
  Header header;
  bool success = false;
  // success: the index the member now matches; failure: where the leader should retry from.
  Index index = 0;
  std::uint64_t round = 0;
  bool observer = false;
  friend bool operator==(const AppendResponse&, const AppendResponse&) = default;
};
SMALTI_FIELDS(AppendResponse, header, success, index, round, observer)

struct VoteRequest {
  Header header;  // term: the term asked for (the next term, for a pre-vote)
  Cursor last;
  bool pre_vote = false;
  friend bool operator==(const VoteRequest&, const VoteRequest&) = default;
};
SMALTI_FIELDS(VoteRequest, header, last, pre_vote)

enum class Vote : std::uint8_t { kGranted, kDenied, kAbstained };
SMALTI_ENUM(Vote, Vote::kAbstained)

struct VoteResponse {
  Header header;
  Term asked = 0;  // the term the request asked for (a pre-vote answer leaves header.term as is)
  bool pre_vote = false;
  Vote vote = Vote::kDenied;
  friend bool operator==(const VoteResponse&, const VoteResponse&) = default;
};
SMALTI_FIELDS(VoteResponse, header, asked, pre_vote, vote)

// What a snapshot holds: the state machine's state after applying every entry up to `index`
// (of term `term`), and what the log before it said that a member still needs: the cluster
// (the digest of the founding entry) and the configuration in force at `index`. `size` and
// `digest` (BLAKE3 of the state's bytes) let a member that fetched it in chunks from several
// members check what it assembled.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  Digest cluster;
  VoterSet config;
  std::uint64_t size = 0;
  Digest digest;
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};
SMALTI_FIELDS(SnapshotMeta, index, term, cluster, config, size, digest)

// A snapshot with its state's bytes (StateMachine::snapshot(), state_machine.hpp).
struct Snapshot {
  SnapshotMeta meta;
  SharedBytes data;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};
SMALTI_FIELDS(Snapshot, meta, data)

// The largest snapshot a member takes, serves or fetches, and the size of the chunks it is
// fetched in (each chunk a message of its own, within kMaxMessageSize).
inline constexpr std::uint64_t kMaxSnapshotBytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kSnapshotChunkBytes = std::uint64_t{256} << 10;

// Log replay catch-up (mosaik's LogReplaySync): a follower far behind asks every bonded member
// which committed entries it can serve, then fetches the missing range in chunks spread over
// them, instead of having the leader stream all of it. Entries a member pruned are in its
// snapshot, which it offers in the same answer.
struct SyncAvailability {
  Header header;
  bool request = false;  // true: "what can you serve?"; false: the answer, [first, last]
  Index first = 0;
  Index last = 0;  // the answerer's commit index: only committed entries are served
  std::optional<SnapshotMeta> snapshot;  // the answerer's latest snapshot, if it has one
  friend bool operator==(const SyncAvailability&, const SyncAvailability&) = default;
};
SMALTI_FIELDS(SyncAvailability, header, request, first, last, snapshot)

struct SyncFetch {
  Header header;
  Index from = 0;
  Index to = 0;  // inclusive; the answer may hold fewer entries
  friend bool operator==(const SyncFetch&, const SyncFetch&) = default;
};
SMALTI_FIELDS(SyncFetch, header, from, to)

struct SyncEntries {
  Header header;
  Index from = 0;  // the index of entries[0]; no entries: nothing to serve
  std::vector<LogEntry> entries;
  friend bool operator==(const SyncEntries&, const SyncEntries&) = default;
};
SMALTI_FIELDS(SyncEntries, header, from, entries)

// Bytes [offset, offset + kSnapshotChunkBytes) of the snapshot at `index` with `digest`.
struct SnapshotFetch {
  Header header;
  Index index = 0;
  Digest digest;
  std::uint64_t offset = 0;
  friend bool operator==(const SnapshotFetch&, const SnapshotFetch&) = default;
};
SMALTI_FIELDS(SnapshotFetch, header, index, digest, offset)

// The answer: the chunk, with a checksum over (index, offset, data) that the receiver checks;
// no data: the member no longer holds that snapshot.
struct SnapshotChunk {
  Header header;
  Index index = 0;
  Digest digest;
  std::uint64_t offset = 0;
  SharedBytes data;
  Digest checksum;
  friend bool operator==(const SnapshotChunk&, const SnapshotChunk&) = default;
};
SMALTI_FIELDS(SnapshotChunk, header, index, digest, offset, data, checksum)

// The checksum a SnapshotChunk carries.
Digest snapshot_chunk_checksum(Index index, std::uint64_t offset, ByteView data);

using RaftMessage =
    std::variant<AppendEntries, AppendResponse, VoteRequest, VoteResponse, SyncAvailability,
                 SyncFetch, SyncEntries, SnapshotFetch, SnapshotChunk>;

// Limits of one AppendEntries, which the leader respects and a decoder enforces.
inline constexpr std::size_t kMaxEntriesPerAppend = 512;
inline constexpr std::size_t kMaxAppendBytes = 1u << 20;

}  // namespace smalti::groups
