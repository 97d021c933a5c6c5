// Helpers for the RaftMachine unit tests: a machine fed by hand, its effects drained.
#pragma once

#include <gtest/gtest.h>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups::test {

const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};
const PeerId kC{Digest::from_u64(3)};
const PeerId kD{Digest::from_u64(4)};
const PeerId kE{Digest::from_u64(5)};
const Member kMa{kA, 5}, kMb{kB, 7}, kMc{kC, 8}, kMd{kD, 9}, kMe{kE, 11};

inline ConsensusConfig fast() {
  return ConsensusConfig{}
      .with_heartbeat_interval(100ms)
      .with_heartbeat_jitter(30ms)
      .with_election_timeout(400ms)
      .with_election_timeout_jitter(100ms)
      .with_bootstrap_delay(0ms);
}

inline LogEntry config_entry(Term term, std::vector<Member> voters) {
  return LogEntry{term, EntryKind::kConfig, encode(VoterSet{std::move(voters)})};
}

inline LogEntry command(Term term, std::uint32_t value = 0) {
  return LogEntry{term, EntryKind::kCommand, encode(value)};
}

inline std::vector<RaftEffect> drain(RaftMachine& m) {
  std::vector<RaftEffect> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

template <typename T>
std::vector<T> only(const std::vector<RaftEffect>& effects) {
  std::vector<T> out;
  for (const auto& e : effects) {
    if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
  }
  return out;
}

// Acknowledges every Persist in `effects` and returns what the acknowledgement released.
inline std::vector<RaftEffect> persist_all(RaftMachine& m, Instant now,
                                           const std::vector<RaftEffect>& effects) {
  std::uint64_t token = 0;
  for (const auto& p : only<raft_effect::Persist>(effects)) token = std::max(token, p.token);
  if (token) m.handle_persisted(now, token);
  return drain(m);
}

// The Sends in `effects`, then those that acknowledging its Persists released: everything a
// machine says once its store caught up.
inline std::vector<raft_effect::Send> settled_sends(RaftMachine& m, Instant now,
                                                    const std::vector<RaftEffect>& effects) {
  auto sends = only<raft_effect::Send>(effects);
  for (auto& s : only<raft_effect::Send>(persist_all(m, now, effects))) sends.push_back(s);
  return sends;
}

// The messages of type T among `sends`, each with its addressee.
template <typename T>
std::vector<std::pair<PeerId, T>> messages(const std::vector<raft_effect::Send>& sends) {
  std::vector<std::pair<PeerId, T>> out;
  for (const auto& s : sends) {
    if (auto* t = std::get_if<T>(s.message.get())) out.emplace_back(s.to, *t);
  }
  return out;
}

struct Fixture {
  Instant now;
  RaftMachine m;
  Fixture(HardState hs, std::vector<LogEntry> log, LeadershipPreference pref = {},
          ConsensusConfig consensus = fast(), std::vector<RaftPeer> peers = {{kB}, {kC}})
      : m(RaftOptions{kA, consensus, pref, 1}, std::move(hs), std::move(log), Instant()) {
    persist_all(m, now, drain(m));
    m.handle_peers(now, peers);
    drain(m);
  }
  std::vector<RaftEffect> feed(const PeerId& from, RaftMessage msg) {
    m.handle_message(now, from, msg);
    return drain(m);
  }
  // A header as `who` sends it in this machine's cluster.
  Header from(const Member& who, Term term, Index commit = 0) const {
    return Header{m.cluster(), term, who.incarnation, commit};
  }
  // Feeds `msg`, acknowledges what it persisted, and returns every Send that followed.
  std::vector<raft_effect::Send> exchange(const PeerId& sender, RaftMessage msg) {
    return settled_sends(m, now, feed(sender, std::move(msg)));
  }
  // Moves the clock to `at` and fires the machine's timers.
  std::vector<RaftEffect> tick_at(Instant at) {
    now = at;
    m.handle_timeout(now);
    return drain(m);
  }
  // Ticks at `at`, then acknowledges every Persist of the tick at that time; returns what the
  // acknowledgements released. (As one call, not `persist_all(f.m, f.now, f.tick_at(...))`: the
  // order in which arguments are evaluated is unspecified, and clang reads `now` first.)
  std::vector<RaftEffect> tick_and_persist(Instant at) {
    const std::vector<RaftEffect> effects = tick_at(at);
    return persist_all(m, now, effects);
  }
  // Wins an election at the next term with the pre-votes and votes of `voters` (in order, until
  // the machine leads); returns with every effect drained.
  void win_with(const std::vector<Member>& voters) {
    now = now + 1s;
    m.handle_timeout(now);
    persist_all(m, now, drain(m));
    const Term next = m.term() + 1;
    for (const Member& v : voters) {
      persist_all(m, now,
                  feed(v.peer, VoteResponse{from(v, next - 1), next, true, Vote::kGranted}));
    }
    for (const Member& v : voters) {
      persist_all(m, now, feed(v.peer, VoteResponse{from(v, next), next, false, Vote::kGranted}));
    }
    ASSERT_TRUE(m.is_leader());
  }
  // Wins an election at the next term with B's votes; returns with every effect drained.
  void win() { win_with({kMb}); }
};

// A (incarnation kMa) as a founded voter of `voters` at `term`, having voted for `vote`: its log
// is their configuration entry (term 1) followed by `tail`, and it is bonded with the others.
inline Fixture voter_in(const std::vector<Member>& voters, Term term,
                        std::vector<LogEntry> tail = {},
                        std::optional<Member> vote = std::nullopt) {
  std::vector<LogEntry> log{config_entry(1, voters)};
  for (LogEntry& e : tail) log.push_back(std::move(e));
  std::vector<RaftPeer> peers;
  for (const Member& v : voters) {
    if (v.peer != kA) peers.push_back(RaftPeer{v.peer, false, v.incarnation});
  }
  return Fixture(HardState{term, vote, kMa.incarnation, true}, std::move(log), {}, fast(),
                 std::move(peers));
}

// The same, as a voter of {A, B, C}.
inline Fixture abc_voter(Term term, std::vector<LogEntry> tail = {},
                         std::optional<Member> vote = std::nullopt) {
  return voter_in({kMa, kMb, kMc}, term, std::move(tail), vote);
}

}  // namespace smalti::groups::test
