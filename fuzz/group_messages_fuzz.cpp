// libFuzzer target for groups: decode_group_message, BondMachine, RaftMachine and GroupSession.
//
// The raw input is first decoded as one groups frame: a frame that decodes must re-encode to the
// very same bytes and decode again to an equal message; anything else must be rejected with
// kMalformed or kLimitExceeded (always kLimitExceeded past kMaxMessageSize).
//
// Then the input drives four machines of node A, wired as its group worker wires them (bonds
// deliver Raft frames to Raft and the rest to the session; Raft's role, reads, commits and
// resets go to the session; the session's proposals and reads go to Raft). Byte 0 picks the setup:
// whether the Hello an acceptor bond answers has the right network, group and proof, its observer
// flag and bonds; whether A's RaftMachine recovers a fixed three-voter log (A, B, C) or starts
// empty; and A's leadership preference. Then, for at most kMaxSteps steps, an opcode byte (low 3
// bits: the input, top 5 bits: a modifier) and its arguments:
//   0 a raw frame (two length bytes, then the bytes) to the acceptor bond, from B
//   1 a raw frame to the initiator bond, from C
//   2 a raw frame to the Raft machine (a RaftFrame inside it), from B, C or D
//   3 a well-formed Raft message built from the next bytes (the right cluster, terms near A's
//     or any 64-bit term, incarnations of the voters, configuration entries whose payload may
//     not decode, log replay catch-up messages): this reaches the states random bytes cannot
//   4 time passes (the modifier scales it, or jumps to the earliest deadline), then every
//     machine's handle_timeout
//   5 the store acknowledges some or all of the Persist effects issued so far
//   6 a command: bonded peers change (and whether A may found the cluster), propose, read, a
//     Welcome (right or wrong proof) to the initiator, note_sent, depart; or for the session:
//     feed, execute, a weak or strong query, a catalog of members (listed, authorized or not),
//     a Hello on a new link, a link down, refuse the next frames it sends, a forwarded call or
//     answer from B
//   7 a bond message from B (Ping, Pong, Departure, BondFormed, Hello, a forwarded command, ...)
// `now` never decreases. After every step every effect is pulled and checked, then the machines:
//   - RaftMachine::invariants() holds; the term never goes backwards; after a timeout nothing
//     is due any more;
//   - the Persist effects, applied in order to a model store, never leave a gap and rebuild
//     exactly the machine's log and hard state; a granted vote leaves only once it is durable;
//   - every frame a machine sends decodes (the node respects the limits its peers enforce);
//   - a bond reports Up at most once and nothing after Close, and delivers no bond-level
//     message; Committed indexes increase (until a Reset); every read is answered once;
//   - GroupSession::invariants() holds; every call it accepted ends exactly once (Done) and
//     no other does; after a timeout nothing is due; the links it dials are new tokens.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "smalti/base/assert.hpp"
#include "smalti/groups/bond_machine.hpp"
#include "smalti/groups/group_messages.hpp"
#include "smalti/groups/group_session.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace {

namespace groups = smalti::groups;
using smalti::Bytes;
using smalti::ByteView;
using smalti::Digest;
using smalti::Duration;
using smalti::Instant;
using smalti::PeerId;
using smalti::StatusCode;
using namespace std::chrono_literals;

constexpr int kMaxSteps = 64;

const smalti::NetworkId kNetwork = Digest::from_string("smalti-fuzz-net");
const groups::GroupId kGroup = Digest::from_string("smalti-fuzz-group");
const Digest kKey = Digest::from_string("smalti-fuzz-key");
const Digest kLinkB = Digest::from_string("link-b");  // the acceptor bond's connection
const Digest kLinkC = Digest::from_string("link-c");  // the initiator bond's connection
const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};
const PeerId kC{Digest::from_u64(3)};
const PeerId kD{Digest::from_u64(4)};  // bonded sometimes, never a voter
const groups::Member kMa{kA, 5}, kMb{kB, 7}, kMc{kC, 8};
constexpr smalti::LinkToken kLinkToB = 1;  // the acceptor bond's link
constexpr smalti::LinkToken kLinkToC = 2;  // the initiator bond's link
constexpr smalti::LinkToken kFirstDial = 1000;
// Raft read ids of the fuzzer's own reads (the session's are its call ids, far below).
constexpr std::uint64_t kOwnReads = std::uint64_t{1} << 40;

groups::ConsensusConfig consensus() {
  return groups::ConsensusConfig{}
      .with_heartbeat_interval(100ms)
      .with_heartbeat_jitter(30ms)
      .with_max_missed_heartbeats(5)
      .with_election_timeout(400ms)
      .with_election_timeout_jitter(100ms)
      .with_bootstrap_delay(200ms);
}

using Input = smalti::fuzz::FuzzInput;

void check_decode(ByteView raw) {
  smalti::fuzz::check_canonical_decode(
      raw, [](ByteView b) { return groups::decode_group_message(b); }, groups::kMaxMessageSize);
}

// What a peer would receive must pass the peer's decoder.
void check_sendable(const groups::GroupMessage& message) {
  auto back = groups::decode_group_message(smalti::encode(message));
  SMALTI_ASSERT(back.is_ok() && *back == message, "a node sent a frame its peers reject");
}

groups::LogEntry config_entry(groups::Term term, std::vector<groups::Member> voters) {
  return {term, groups::EntryKind::kConfig, smalti::encode(groups::VoterSet{std::move(voters)})};
}

// The durable medium as a LogStore and SnapshotStore would keep it, fed the Persist effects in
// order: `log` holds the entries after `base`.
struct ModelStore {
  groups::HardState hard_state;
  groups::Cursor base;
  std::vector<groups::LogEntry> log;
  std::optional<groups::Snapshot> snapshot;

  groups::Index last_index() const { return base.index + log.size(); }
  void apply(const groups::raft_effect::Persist& p) {
    if (p.drop_snapshot) snapshot.reset();
    if (p.snapshot) snapshot = *p.snapshot;
    if (p.hard_state) hard_state = *p.hard_state;
    if (p.reset_to) {
      base = *p.reset_to;
      log.clear();
    }
    if (p.truncate_from) {
      SMALTI_ASSERT(*p.truncate_from > base.index, "Persist truncates a pruned entry");
      if (*p.truncate_from <= last_index()) log.resize(*p.truncate_from - 1 - base.index);
    }
    if (!p.entries.empty()) {
      SMALTI_ASSERT(p.append_from > base.index && p.append_from <= last_index() + 1,
                    "Persist appends past the end of the stored log");
      log.resize(p.append_from - 1 - base.index);
      log.insert(log.end(), p.entries.begin(), p.entries.end());
    }
    if (p.prune_through && p.prune_through->index > base.index) {
      SMALTI_ASSERT(snapshot && snapshot->meta.index >= p.prune_through->index,
                    "Persist prunes entries no stored snapshot holds");
      const auto drop = std::min<std::size_t>(p.prune_through->index - base.index, log.size());
      log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(drop));
      base = *p.prune_through;
    }
  }
};

class Driver {
 public:
  explicit Driver(std::uint8_t setup)
      : bond_config_{.network = kNetwork,
                     .group = kGroup,
                     .key_secret = kKey,
                     .self = kA,
                     .incarnation = kMa.incarnation,
                     .consensus = consensus(),
                     .handshake_timeout = 1s},
        acceptor_(make_acceptor(setup)),
        initiator_(
            groups::BondMachine::initiate(bond_config_, kLinkToC, kC, kLinkC, {kB}, now_, 2)),
        raft_(make_raft(setup)),
        session_(groups::SessionConfig{.self = kA,
                                       .consensus = consensus(),
                                       .handshake_timeout = 1s,
                                       .first_link = kFirstDial,
                                       .max_pending_calls = 16,
                                       .max_links = 6},
                 raft_.log(), now_) {
    // Both bonds' links are the session's; it hears of them coming up from their Up effects.
    SMALTI_ASSERT(session_.handle_hello(now_, kLinkToB, kB, true, true));
    SMALTI_ASSERT(session_.handle_hello(now_, kLinkToC, kC, true, true));
    drain();
  }

  void run(Input& in) {
    for (int step = 0; step < kMaxSteps && !in.empty(); ++step) {
      const std::uint8_t op = in.byte();
      const std::uint8_t mod = op >> 3;
      bool timed_out = false;
      switch (op & 7) {
        case 0:
          bond_frame(acceptor_, raw_frame(in));
          break;
        case 1:
          bond_frame(initiator_, raw_frame(in));
          break;
        case 2:
          raft_frame(mod, raw_frame(in));
          break;
        case 3:
          raft_.handle_message(now_, sender(mod), craft(in, mod));
          break;
        case 4:
          timeout(mod, in.byte());
          timed_out = true;
          break;
        case 5:
          persisted(in.byte(), mod & 1);
          break;
        case 6:
          command(in, mod);
          break;
        default:
          acceptor_.handle_message(now_, bond_message(in, mod));
          break;
      }
      drain();
      check(timed_out);
    }
    // Far in the future, with every write durable: timers fire, nothing crashes.
    now_ += 1h;
    persisted(0, true);
    timeout(0, 0);
    drain();
    check(true);
  }

 private:
  groups::BondMachine make_acceptor(std::uint8_t setup) {
    groups::Hello hello{.network = kNetwork,
                        .group = kGroup,
                        .proof = groups::bond_proof(kKey, kLinkB, kB),
                        .incarnation = kMb.incarnation};
    if (setup & 1) hello.network = Digest::from_string("another-net");
    if (setup & 2) hello.group = Digest::from_string("another-group");
    if (setup & 4) hello.proof = groups::bond_proof(kKey, kLinkC, kB);  // replayed elsewhere
    hello.observer = (setup & 8) != 0;
    for (std::uint64_t i = 0; i < ((setup >> 4) & 3); ++i) {
      hello.bonds.push_back(PeerId{Digest::from_u64(10 + i)});
    }
    return groups::BondMachine::accept(bond_config_, kLinkToB, kB, kLinkB, hello, {kC}, now_, 1);
  }

  groups::RaftMachine make_raft(std::uint8_t setup) {
    groups::RaftOptions options{kA, consensus(), groups::LeadershipPreference::normal(), 3};
    if (setup & 0x80) options.preference = groups::LeadershipPreference::reluctant(2);
    if ((setup & 0xc0) == 0xc0) options.preference = groups::LeadershipPreference::observer();
    if (setup & 0x40) {
      return groups::RaftMachine(options, {}, std::vector<groups::LogEntry>{},
                                 now_);  // a new member
    }
    store_.hard_state = groups::HardState{2, std::nullopt, kMa.incarnation};
    store_.log = {config_entry(1, {kMa, kMb, kMc}),
                  groups::LogEntry{1, groups::EntryKind::kCommand, smalti::encode(7u)},
                  groups::LogEntry{2, groups::EntryKind::kNoop, {}}};
    durable_ = store_;
    return groups::RaftMachine(options, store_.hard_state, store_.log, now_);
  }

  static ByteView raw_frame(Input& in) {
    const std::size_t len = in.byte() | (std::size_t{in.byte()} << 8);
    const ByteView raw = in.take(len);
    check_decode(raw);
    return raw;
  }

  static PeerId sender(std::uint8_t mod) {
    static const PeerId kSenders[] = {kB, kC, kD, kB};
    return kSenders[mod & 3];
  }

  void bond_frame(groups::BondMachine& bond, ByteView raw) {
    auto message = groups::decode_group_message(raw);
    if (message.is_ok()) bond.handle_message(now_, std::move(message).value());
  }

  void raft_frame(std::uint8_t mod, ByteView raw) {
    auto message = groups::decode_group_message(raw);
    if (!message.is_ok()) return;
    if (auto* frame = std::get_if<groups::RaftFrame>(&*message)) {
      raft_.handle_message(now_, sender(mod), frame->message);
    }
  }

  // ---- well-formed Raft messages ------------------------------------------------------------

  // A's term moved by `delta`, not below 0.
  groups::Term near_term(int delta) const {
    const groups::Term t = raft_.term();
    return delta < 0 && t < static_cast<groups::Term>(-delta) ? 0 : t + delta;
  }

  groups::Header header(Input& in, std::uint8_t mod) {
    groups::Header h;
    const std::uint8_t b = in.byte();
    switch (b & 3) {
      case 0:
      case 1:
        h.cluster = raft_.cluster();
        break;
      case 2:
        h.cluster = Digest::zero();
        break;
      default:
        h.cluster = Digest::from_u64(1000 + (b >> 2));  // another cluster of the group
        break;
    }
    const std::uint8_t t = in.byte();
    h.term = (t & 0x80) ? in.u64() : near_term((t & 3) - 1 + ((t >> 2) & 1));
    const std::uint8_t i = in.byte();
    h.incarnation = (i & 3) == 3 ? i : (sender(mod) == kC ? kMc.incarnation : kMb.incarnation);
    h.commit = in.byte() % 8;
    return h;
  }

  groups::Cursor cursor(Input& in) {
    const std::uint8_t b = in.byte();
    return groups::Cursor{near_term((b & 3) - 2 + ((b >> 2) & 1) * 2), (b >> 3) % 8u};
  }

  groups::LogEntry entry(Input& in) {
    const std::uint8_t b = in.byte();
    groups::LogEntry e{near_term((b & 3) - 2), groups::EntryKind::kCommand, {}};
    switch ((b >> 2) & 7) {
      case 0:
        e.kind = groups::EntryKind::kNoop;
        break;
      case 1:
        e = config_entry(e.term, {kMa, kMb, kMc});
        break;
      case 2:
        e = config_entry(e.term, {kMb, kMc});
        break;
      case 3: {
        // A configuration whose payload is whatever the peer put there.
        const ByteView p = in.take(in.byte() % 8);
        e.kind = groups::EntryKind::kConfig;
        e.payload = Bytes(p.begin(), p.end());
        break;
      }
      default: {
        const ByteView p = in.take(in.byte() % 8);
        e.payload = Bytes(p.begin(), p.end());
        break;
      }
    }
    return e;
  }

  // Log replay catch-up messages (raft_catch_up.cpp): availability questions and answers,
  // fetches, and chunks of entries at indexes near A's commit index; snapshot offers, fetches
  // and chunks (raft_snapshot.cpp) of one of two small snapshots near A's commit index, whose
  // meta may be well formed or not and whose chunk may be the right bytes or not.
  groups::RaftMessage sync_message(Input& in, const groups::Header& h) {
    const std::uint8_t kind = in.byte();
    const groups::Index near = raft_.commit_index() + 1 + in.byte() % 4;
    switch (kind % 6) {
      case 0:
        return groups::SyncAvailability{h, (kind & 4) != 0, in.byte() % 3u, near + in.byte(), {}};
      case 1:
        return groups::SyncFetch{h, in.byte() % 8u, in.byte() % 16u};
      case 2: {
        groups::SyncEntries m{h, near, {}};
        for (int n = (kind >> 3) % 5; n > 0; --n) m.entries.push_back(entry(in));
        return m;
      }
      case 3: {
        const groups::Snapshot snap = crafted_snapshot(in, h, near);
        return groups::SyncAvailability{h, false, near + 1 + in.byte() % 4, near + in.byte(),
                                        snap.meta};
      }
      case 4:
        return groups::SnapshotFetch{h, near + in.byte() % 4,
                                     crafted_snapshot(in, h, near).meta.digest,
                                     groups::kSnapshotChunkBytes * (in.byte() % 2)};
      default: {
        const groups::Snapshot snap = crafted_snapshot(in, h, near);
        const bool right = (kind & 8) == 0;
        const smalti::SharedBytes data = right ? snap.data : smalti::SharedBytes(Bytes{1, 2});
        return groups::SnapshotChunk{
            h,
            snap.meta.index,
            snap.meta.digest,
            0,
            data,
            groups::snapshot_chunk_checksum(snap.meta.index, 0, data.view())};
      }
    }
  }

  // One of two small snapshots at an index near A's commit index, offered by a member of term
  // h.term; its meta is well formed unless the next byte says otherwise.
  groups::Snapshot crafted_snapshot(Input& in, const groups::Header& h, groups::Index near) {
    const std::uint8_t b = in.byte();
    const Bytes data = (b & 1) ? Bytes{7, 7, 7} : Bytes{1, 2, 3, 4, 5};
    groups::SnapshotMeta meta{near + (b >> 1) % 3, std::max<groups::Term>(1, h.term),
                              h.cluster,           groups::VoterSet{{kMa, kMb, kMc}},
                              data.size(),         Digest::hash(data)};
    if ((b & 16) != 0) meta.config.voters.clear();  // not well formed
    if ((b & 32) != 0) meta.size += 1;              // the bytes will not add up
    return groups::Snapshot{meta, data};
  }

  groups::RaftMessage craft(Input& in, std::uint8_t mod) {
    const std::uint8_t kind = in.byte();
    groups::Header h = header(in, mod);
    if ((mod & 16) != 0) return sync_message(in, h);
    switch (kind & 3) {
      case 0: {
        groups::AppendEntries m{h, cursor(in), {}, in.byte()};
        for (int n = (kind >> 2) % 5; n > 0; --n) m.entries.push_back(entry(in));
        return m;
      }
      case 1:
        return groups::AppendResponse{h, (kind & 4) != 0, in.byte() % 8u, in.byte(),
                                      (kind & 8) != 0};
      case 2:
        return groups::VoteRequest{h, cursor(in), (kind & 4) != 0};
      default: {
        // Mostly an answer to what A asks right now: a pre-vote for term + 1, a vote for term.
        const bool pre = (kind & 4) != 0;
        const groups::Term asked = (kind & 8) ? h.term : raft_.term() + (pre ? 1 : 0);
        return groups::VoteResponse{h, asked, pre, static_cast<groups::Vote>((kind >> 4) % 3)};
      }
    }
  }

  groups::GroupMessage bond_message(Input& in, std::uint8_t mod) {
    switch (mod % 9) {
      case 0:
        return groups::Ping{};
      case 1:
        return groups::Pong{};
      case 2:
        return groups::Departure{};
      case 3:
        return groups::BondFormed{sender(in.byte())};
      case 4:
        return groups::Hello{
            .network = kNetwork, .group = kGroup, .proof = groups::bond_proof(kKey, kLinkB, kB)};
      case 5:
        return groups::Welcome{.proof = groups::bond_proof(kKey, kLinkB, kB)};
      case 6:
        return groups::ForwardCommands{in.byte(), {smalti::encode(in.byte())}};
      case 7:
        return groups::QueryAnswer{in.byte(), true, {}, in.byte()};
      default:
        return groups::RaftFrame{craft(in, 0)};
    }
  }

  // ---- time, persistence, commands ----------------------------------------------------------

  void timeout(std::uint8_t mod, std::uint8_t dt) {
    if (mod % 8 == 7) {
      const Instant next = std::min({raft_.next_deadline(), acceptor_.next_deadline(),
                                     initiator_.next_deadline(), session_.next_deadline()});
      if (next != Instant::max()) now_ = std::max(now_, next);
    } else {
      static constexpr Duration kScale[] = {1ms, 10ms, 50ms, 100ms, 500ms, 1s, 10s};
      now_ += kScale[mod % 8] * dt;
    }
    acceptor_.handle_timeout(now_);
    initiator_.handle_timeout(now_);
    raft_.handle_timeout(now_);
    session_.handle_timeout(now_);
  }

  // Acknowledges every Persist issued so far, or up to one picked by `pick`.
  void persisted(std::uint8_t pick, bool all) {
    if (unacked_.empty()) return;
    const std::size_t upto = all ? unacked_.size() - 1 : pick % unacked_.size();
    const std::uint64_t token = unacked_[upto].token;
    for (std::size_t i = 0; i <= upto; ++i) durable_.apply(unacked_[i]);
    unacked_.erase(unacked_.begin(), unacked_.begin() + static_cast<std::ptrdiff_t>(upto + 1));
    raft_.handle_persisted(now_, token);
  }

  void command(Input& in, std::uint8_t mod) {
    if (mod & 16) return session_command(in, mod);
    switch (mod % 8) {
      case 0:
      case 1: {
        std::vector<groups::RaftPeer> peers;
        const std::uint8_t b = in.byte();
        // Incarnations as the handshake announced them (0: an old peer that announces none).
        const std::uint64_t d_incarnation = (b & 128) ? 0 : 9;
        if (b & 1)
          peers.push_back({.id = kB, .observer = (b & 2) != 0, .incarnation = kMb.incarnation});
        if (b & 4)
          peers.push_back({.id = kC, .observer = (b & 8) != 0, .incarnation = kMc.incarnation});
        if (b & 16)
          peers.push_back({.id = kD, .observer = (b & 32) != 0, .incarnation = d_incarnation});
        if (b & 64) peers.push_back({.id = kA, .incarnation = kMa.incarnation});  // itself: ignored
        raft_.handle_peers(now_, peers);
        // The driver allows founding only while no known member sorts before this one.
        raft_.set_founding_allowed((mod & 1) == 0);
        break;
      }
      case 2: {
        std::vector<smalti::SharedBytes> commands(1 + in.byte() % 3);
        for (smalti::SharedBytes& c : commands) {
          const ByteView p = in.take(in.byte() % 16);
          c = Bytes(p.begin(), p.end());
        }
        (void)raft_.propose(now_, std::move(commands));
        break;
      }
      case 3:
        if ((mod & 2) != 0) {
          // The worker's snapshot at an index at or below the commit index (or a wrong one).
          const groups::Index at = committed_ > 0 ? committed_ - in.byte() % 3 : in.byte() % 2;
          (void)raft_.take_snapshot(now_, at, Bytes{static_cast<std::uint8_t>(at)}, in.byte() % 4);
          break;
        }
        reads_.insert(next_read_);
        raft_.read(now_, next_read_++);
        break;
      case 4: {
        const Digest link = (in.byte() & 1) ? kLinkB : kLinkC;
        initiator_.handle_message(now_, groups::Welcome{.proof = groups::bond_proof(kKey, link, kC),
                                                        .observer = (mod & 8) != 0,
                                                        .incarnation = kMc.incarnation,
                                                        .bonds = {kD, kB}});
        break;
      }
      case 5:
        acceptor_.note_sent(now_);
        initiator_.note_sent(now_);
        break;
      case 6:
        acceptor_.depart(now_);
        break;
      default:
        initiator_.depart(now_);
        break;
    }
  }

  // ---- the session's inputs ----------------------------------------------------------------

  static std::vector<smalti::SharedBytes> some_commands(Input& in) {
    std::vector<smalti::SharedBytes> commands(in.byte() % 4);  // sometimes none
    for (smalti::SharedBytes& c : commands) c = smalti::encode(in.byte());
    return commands;
  }

  void accepted_call(const smalti::Result<groups::CallId>& call) {
    if (!call.is_ok()) return;
    SMALTI_ASSERT(calls_.insert(*call).second, "the session gave out a call id twice");
  }

  void session_command(Input& in, std::uint8_t mod) {
    static const PeerId kMembers[] = {kB, kC, kD, PeerId{Digest::from_u64(0)}};
    switch (mod % 8) {
      case 0:
        accepted_call(session_.feed(now_, some_commands(in)));
        break;
      case 1:
        accepted_call(session_.execute(now_, some_commands(in)));
        break;
      case 2:
        accepted_call(session_.query(now_, smalti::encode(in.byte()), (mod & 8) != 0));
        break;
      case 3: {
        // The catalog: which members are listed, may bond, and a stale bonded one.
        std::vector<groups::Candidate> candidates;
        const std::uint8_t b = in.byte();
        for (int i = 0; i < 4; ++i) {
          if ((b >> i) & 1) {
            candidates.push_back(groups::Candidate{smalti::PeerAddr{kMembers[i], {"sim:1"}},
                                                   ((b >> 4) & 1) == 0,
                                                   ((b >> (5 + i % 3)) & 1) == 0});
          }
        }
        session_.handle_catalog(now_, candidates);
        break;
      }
      case 4: {
        // A Hello on a new link, or on one the session dialled (a crossed link).
        const smalti::LinkToken link = next_accepted_++;
        const std::uint8_t b = in.byte();
        if (session_.handle_hello(now_, link, kMembers[b % 4], (b & 4) == 0, (b & 8) == 0) &&
            (b & 16) != 0) {
          session_.handle_bond_up(now_, link, {kMembers[(b >> 5) % 4]});
        }
        break;
      }
      case 5: {
        // A link goes down: one of the bonds, or one the session dialled.
        const std::uint8_t b = in.byte();
        const smalti::LinkToken link = (b & 1)   ? kLinkToB
                                       : (b & 2) ? kLinkToC
                                                 : kFirstDial + (b >> 2) % 8;
        session_.handle_link_down(now_, link);
        break;
      }
      case 6:
        refuse_sends_ = in.byte() % 4;
        break;
      default: {
        // From B's bond, past the bond layer: forwarded calls and answers to A's own.
        const std::uint64_t request = in.byte() % 4 == 0 ? in.u64() : 1 + in.byte() % 16;
        switch (in.byte() % 4) {
          case 0:
            session_.handle_message(now_, kLinkToB,
                                    groups::ForwardCommands{request, some_commands(in)});
            break;
          case 1:
            session_.handle_message(now_, kLinkToB,
                                    groups::CommandsAccepted{request, (mod & 8) != 0, cursor(in)});
            break;
          case 2:
            session_.handle_message(now_, kLinkToB,
                                    groups::ForwardQuery{request, smalti::encode(1)});
            break;
          default:
            session_.handle_message(now_, kLinkToB,
                                    groups::QueryAnswer{request, (mod & 8) != 0, {}, in.byte()});
            break;
        }
        break;
      }
    }
  }

  // ---- effects and checks -------------------------------------------------------------------

  struct BondSeen {
    bool up = false;
    bool closed = false;
  };

  void drain_bond(groups::BondMachine& bond, BondSeen& seen, smalti::LinkToken link,
                  const PeerId& remote) {
    while (auto effect = bond.poll_effect()) {
      SMALTI_ASSERT(!seen.closed, "a bond effect after Close");
      if (auto* send = std::get_if<smalti::effect::Send>(&*effect)) {
        SMALTI_ASSERT(send->link == link, "a bond sent on another link");
        auto m = groups::decode_group_message(send->frame);
        SMALTI_ASSERT(m.is_ok(), "a bond sent a frame its peer rejects");
        check_sendable(*m);
        if (refuse_sends_ > 0) {
          --refuse_sends_;
          bond.handle_send_refused(now_, link, send->frame,
                                   smalti::error(StatusCode::kLimitExceeded, "fuzz"));
        }
      } else if (auto* up = std::get_if<groups::bond_effect::Up>(&*effect)) {
        SMALTI_ASSERT(!seen.up, "a bond came up twice");
        seen.up = true;
        session_.handle_bond_up(now_, link, up->bonds);
      } else if (auto* deliver =
                     std::get_if<smalti::effect::Deliver<groups::GroupMessage>>(&*effect)) {
        SMALTI_ASSERT(seen.up, "a bond delivered before it was up");
        auto& m = deliver->value;
        SMALTI_ASSERT(!std::holds_alternative<groups::Hello>(m) &&
                          !std::holds_alternative<groups::Welcome>(m) &&
                          !std::holds_alternative<groups::Ping>(m) &&
                          !std::holds_alternative<groups::Pong>(m) &&
                          !std::holds_alternative<groups::Departure>(m),
                      "a bond delivered one of its own messages");
        if (auto* frame = std::get_if<groups::RaftFrame>(&m)) {
          raft_.handle_message(now_, remote, frame->message);
        } else {
          session_.handle_message(now_, link, std::move(m));
        }
      } else {
        SMALTI_ASSERT(std::get<smalti::effect::Close>(*effect).link == link, "closed another link");
        seen.closed = true;
        SMALTI_ASSERT(bond.state() == groups::BondMachine::State::kClosed, "Close but not closed");
        session_.handle_link_down(now_, link);
      }
    }
  }

  void drain_session() {
    while (auto effect = session_.poll_effect()) {
      std::visit([&](auto& e) { session_effect(e); }, *effect);
    }
  }
  void session_effect(smalti::effect::Send& e) {
    auto m = groups::decode_group_message(e.frame);
    SMALTI_ASSERT(m.is_ok(), "the session sent a frame its peer rejects");
    check_sendable(*m);
    if (refuse_sends_ > 0) {
      --refuse_sends_;
      session_.handle_send_refused(now_, e.link, e.frame,
                                   smalti::error(StatusCode::kUnavailable, "fuzz"));
    }
  }
  void session_effect(smalti::effect::Connect& e) {
    SMALTI_ASSERT(e.link >= kFirstDial && dialled_.insert(e.link).second,
                  "the session dialled a token twice or outside its range");
    SMALTI_ASSERT(e.addr.id != kA, "the session dialled itself");
  }
  void session_effect(smalti::effect::Close&) {}
  void session_effect(groups::session_effect::Propose& e) {
    session_.handle_proposed(now_, e.call, raft_.propose(now_, std::move(e.commands)));
  }
  void session_effect(groups::session_effect::Read& e) {
    SMALTI_ASSERT(e.call < kOwnReads, "a session read id collides with the fuzzer's");
    raft_.read(now_, e.call);
  }
  void session_effect(groups::session_effect::RunQuery& e) {
    session_.handle_query_result(now_, e.call, std::move(e.query), committed_);
  }
  template <typename Done>
  void done(const Done& e) {
    SMALTI_ASSERT(calls_.erase(e.call) == 1, "a call ended that was not pending");
  }
  void session_effect(groups::session_effect::FeedDone& e) { done(e); }
  void session_effect(groups::session_effect::ExecuteDone& e) { done(e); }
  void session_effect(groups::session_effect::QueryDone& e) { done(e); }
  void session_effect(groups::session_effect::FoundingAllowed& e) {
    raft_.set_founding_allowed(e.allowed);
  }

  void drain_raft() {
    while (auto effect = raft_.poll_effect()) {
      if (auto* send = std::get_if<groups::raft_effect::Send>(&*effect)) {
        SMALTI_ASSERT(send->to != kA, "a member sends to itself");
        check_sendable(groups::RaftFrame{*send->message});
        SMALTI_ASSERT(groups::encode_raft_frame(*send->message) ==
                          smalti::encode(groups::GroupMessage(groups::RaftFrame{*send->message})),
                      "the shared Raft frame differs from the GroupMessage encoding");
        check_vote_durable(*send);
      } else if (auto* p = std::get_if<groups::raft_effect::Persist>(&*effect)) {
        SMALTI_ASSERT(p->token > last_token_, "Persist tokens do not increase");
        last_token_ = p->token;
        store_.apply(*p);
        unacked_.push_back(*p);
      } else if (auto* c = std::get_if<groups::raft_effect::Committed>(&*effect)) {
        SMALTI_ASSERT(c->index > committed_, "Committed went backwards");
        committed_ = c->index;
        session_.handle_applied(now_, committed_);
      } else if (auto* r = std::get_if<groups::raft_effect::ReadReady>(&*effect)) {
        if (r->read >= kOwnReads) {
          SMALTI_ASSERT(reads_.erase(r->read) == 1, "ReadReady for a read not pending");
        } else {
          session_.handle_read_ready(now_, r->read, r->index);
        }
      } else if (auto* f = std::get_if<groups::raft_effect::ReadFailed>(&*effect)) {
        if (f->read >= kOwnReads) {
          SMALTI_ASSERT(reads_.erase(f->read) == 1, "ReadFailed for a read not pending");
        } else {
          session_.handle_read_failed(now_, f->read);
        }
      } else if (std::holds_alternative<groups::raft_effect::RoleChanged>(*effect)) {
        session_.handle_leader(now_, raft_.leader());
      } else if (std::holds_alternative<groups::raft_effect::Reset>(*effect)) {
        committed_ = 0;
        session_.handle_reset(now_);
      } else if (auto* r = std::get_if<groups::raft_effect::Restore>(&*effect)) {
        SMALTI_ASSERT(raft_.snapshot() && raft_.snapshot()->meta.index == r->index,
                      "Restore names a snapshot the machine does not hold");
        SMALTI_ASSERT(r->index > committed_, "Restore of a snapshot already applied");
        committed_ = r->index;
        session_.handle_applied(now_, committed_);
      }
    }
  }

  // A real vote granted leaves only once the vote (or a later term) is durable. A member that
  // since reset to a new incarnation retired the identity that voted: its vote cannot be cast
  // again, so it needs no record.
  void check_vote_durable(const groups::raft_effect::Send& send) const {
    const auto* vote = std::get_if<groups::VoteResponse>(send.message.get());
    if (!vote || vote->pre_vote || vote->vote != groups::Vote::kGranted) return;
    const groups::HardState& d = durable_.hard_state;
    if (d.incarnation != vote->header.incarnation) return;
    SMALTI_ASSERT(
        d.term > vote->asked || (d.term == vote->asked && d.vote && d.vote->peer == send.to),
        "a granted vote left before it was durable");
  }

  // Until every machine is quiet: bonds deliver to Raft and the session, Raft to the session,
  // the session to Raft (the worker's pump).
  void drain() {
    for (int round = 0; round < 64; ++round) {
      drain_bond(acceptor_, acceptor_seen_, kLinkToB, kB);
      drain_bond(initiator_, initiator_seen_, kLinkToC, kC);
      drain_session();
      drain_raft();
      if (session_.pending_effects() == 0 && raft_.pending_effects() == 0 &&
          acceptor_.pending_effects() == 0 && initiator_.pending_effects() == 0) {
        return;
      }
    }
    SMALTI_ASSERT(false, "the machines kept feeding each other");
  }

  void check(bool timed_out) {
    raft_.invariants();
    // The model store rebuilt from the Persist effects is the machine's own state.
    const groups::RaftLog& log = raft_.log();
    SMALTI_ASSERT(store_.last_index() == log.last_index(), "Persist effects miss log entries");
    SMALTI_ASSERT(store_.base == log.base(), "Persist effects miss a pruning");
    for (groups::Index i = log.first_index(); i <= log.last_index(); ++i) {
      SMALTI_ASSERT(store_.log[i - 1 - store_.base.index] == log.at(i),
                    "Persist effects disagree with the log");
    }
    SMALTI_ASSERT((store_.snapshot.has_value() == (raft_.snapshot() != nullptr)) &&
                      (!store_.snapshot || *store_.snapshot == *raft_.snapshot()),
                  "Persist effects miss the snapshot");
    SMALTI_ASSERT(store_.hard_state == raft_.hard_state(), "Persist effects miss the hard state");
    SMALTI_ASSERT(raft_.term() >= term_, "the term went backwards");
    term_ = raft_.term();
    session_.invariants();
    acceptor_.invariants();
    initiator_.invariants();
    SMALTI_ASSERT(calls_.size() <= session_.pending_calls(), "the session forgot a call");
    if (timed_out) {
      SMALTI_ASSERT(raft_.next_deadline() > now_, "Raft is still due after its timeout");
      SMALTI_ASSERT(acceptor_.next_deadline() > now_, "a bond is still due after its timeout");
      SMALTI_ASSERT(initiator_.next_deadline() > now_, "a bond is still due after its timeout");
      SMALTI_ASSERT(session_.next_deadline() > now_, "the session is still due after its timeout");
    }
  }

  Instant now_ = Instant::from_nanos(1'000'000'000);
  groups::BondConfig bond_config_;
  groups::BondMachine acceptor_;
  groups::BondMachine initiator_;
  ModelStore store_;    // every Persist issued
  ModelStore durable_;  // every Persist acknowledged
  groups::RaftMachine raft_;
  groups::GroupSession session_;
  BondSeen acceptor_seen_;
  BondSeen initiator_seen_;
  std::deque<groups::raft_effect::Persist> unacked_;
  std::uint64_t last_token_ = 0;
  groups::Index committed_ = 0;
  groups::Term term_ = 0;
  std::set<std::uint64_t> reads_;
  std::uint64_t next_read_ = kOwnReads;
  std::set<groups::CallId> calls_;  // accepted by the session, not ended yet
  std::set<smalti::LinkToken> dialled_;
  smalti::LinkToken next_accepted_ = 10;
  int refuse_sends_ = 0;  // the next frames sent are refused
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(ByteView(data, size));
  Input in(data, size);
  Driver driver(in.byte());
  driver.run(in);
  return 0;
}
