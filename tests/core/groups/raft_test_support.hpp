// Helpers for the RaftMachine unit tests: a machine fed by hand, its effects drained.
#pragma once

#include <gtest/gtest.h>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups::test {

const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};
const PeerId kC{Digest::from_u64(3)};
const PeerId kD{Digest::from_u64(4)};
const Member kMa{kA, 5}, kMb{kB, 7}, kMc{kC, 8}, kMd{kD, 9};

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
  // Wins an election at the next term with B's votes; returns with every effect drained.
  void win() {
    now = now + 1s;
    m.handle_timeout(now);
    persist_all(m, now, drain(m));
    const Term next = m.term() + 1;
    feed(kB, VoteResponse{Header{m.cluster(), m.term(), kMb.incarnation, 0}, next, true,
                          Vote::kGranted});
    persist_all(m, now, drain(m));
    auto effects = feed(kB, VoteResponse{Header{m.cluster(), next, kMb.incarnation, 0}, next, false,
                                         Vote::kGranted});
    persist_all(m, now, effects);
    ASSERT_TRUE(m.is_leader());
  }
};

}  // namespace smalti::groups::test
