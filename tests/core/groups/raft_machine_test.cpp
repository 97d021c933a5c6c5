// RaftMachine alone, fed by hand: each test pins one rule, most of them a mosaik weakness
// (mosaik-behaviour.md section 12.2) that the test would catch.
#include "smalti/groups/raft_machine.hpp"

#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

TEST(RaftMachine, AVoteIsDurableBeforeTheAnswerLeaves) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  const VoteRequest ask{Header{f.m.cluster(), 2, kMb.incarnation, 0}, f.m.log().last(), false};
  auto effects = f.feed(kB, ask);
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_EQ(persists[0].hard_state->term, 2u);
  EXPECT_EQ(persists[0].hard_state->vote, kMb);
  EXPECT_TRUE(only<raft_effect::Send>(effects).empty()) << "answered before the vote was durable";
  auto released = only<raft_effect::Send>(persist_all(f.m, f.now, effects));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(std::get<VoteResponse>(*released[0].message).vote, Vote::kGranted);
}

// mosaik keeps the vote in memory: restarted in the same term, it votes again.
TEST(RaftMachine, ARestartedMemberDoesNotVoteTwiceInATerm) {
  Fixture f(HardState{2, kMb, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  auto effects = f.feed(
      kC, VoteRequest{Header{f.m.cluster(), 2, kMc.incarnation, 0}, f.m.log().last(), false});
  auto sends = only<raft_effect::Send>(persist_all(f.m, f.now, effects));
  for (const auto& e : effects) {
    if (auto* s = std::get_if<raft_effect::Send>(&e)) sends.push_back(*s);
  }
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(std::get<VoteResponse>(*sends[0].message).vote, Vote::kDenied);
}

// mosaik commits the majority index whatever its term (Raft paper, figure 8).
TEST(RaftMachine, ALeaderCommitsEarlierTermEntriesOnlyThroughOneOfItsOwn) {
  Fixture f(HardState{3, std::nullopt, kMa.incarnation, true},
            {config_entry(1, {kMa, kMb, kMc}), LogEntry{2, EntryKind::kCommand, encode(42u)}});
  f.win();  // term 4, no-op at index 3
  ASSERT_EQ(f.m.log().last_index(), 3u);
  // B stores index 2 (term 2) but not the no-op: a majority holds index 2.
  f.feed(kB, AppendResponse{Header{f.m.cluster(), 4, kMb.incarnation, 0}, true, 2, 0});
  EXPECT_LT(f.m.commit_index(), 2u) << "committed an entry of an earlier term by counting";
  f.feed(kB, AppendResponse{Header{f.m.cluster(), 4, kMb.incarnation, 0}, true, 3, 0});
  EXPECT_EQ(f.m.commit_index(), 3u);
}

// mosaik serves strong reads from whoever believes it leads.
TEST(RaftMachine, AReadWaitsForAQuorumRoundAfterItWasAsked) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  f.win();
  f.feed(kB, AppendResponse{Header{f.m.cluster(), f.m.term(), kMb.incarnation, 0}, true, 2, 1});
  ASSERT_EQ(f.m.commit_index(), 2u);
  f.m.read(f.now, 77);
  auto effects = drain(f.m);
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
  // An answer to an older round does not confirm the read.
  effects =
      f.feed(kB, AppendResponse{Header{f.m.cluster(), f.m.term(), kMb.incarnation, 2}, true, 2, 1});
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
  std::uint64_t round = 0;
  for (const auto& s : only<raft_effect::Send>(persist_all(f.m, f.now, {}))) {
    if (auto* ae = std::get_if<AppendEntries>(s.message.get())) round = std::max(round, ae->round);
  }
  effects = f.feed(
      kC, AppendResponse{Header{f.m.cluster(), f.m.term(), kMc.incarnation, 2}, true, 2, 100});
  auto ready = only<raft_effect::ReadReady>(effects);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].read, 77u);
  EXPECT_EQ(ready[0].index, 2u);
}

// mosaik's leader never learns it lost its majority: heartbeats are not acknowledged.
TEST(RaftMachine, ALeaderThatHearsNoQuorumStepsDownAndFailsItsReads) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  f.win();
  f.m.read(f.now, 5);
  drain(f.m);
  for (int i = 0; i < 20 && f.m.is_leader(); ++i) {
    f.now = f.now + 100ms;
    f.m.handle_timeout(f.now);
    auto effects = drain(f.m);
    if (!f.m.is_leader()) {
      auto failed = only<raft_effect::ReadFailed>(effects);
      ASSERT_EQ(failed.size(), 1u);
      EXPECT_EQ(failed[0].read, 5u);
    }
  }
  EXPECT_FALSE(f.m.is_leader());
  EXPECT_FALSE(f.m.propose(f.now, {encode(1u)}).is_ok());
}

TEST(RaftMachine, AFollowerInsideItsLeaderLeaseIgnoresCandidates) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  f.feed(kB, AppendEntries{Header{f.m.cluster(), 1, kMb.incarnation, 1}, Cursor{1, 1}, {}, 1});
  ASSERT_EQ(f.m.leader(), kB);
  auto effects =
      f.feed(kC, VoteRequest{Header{f.m.cluster(), 5, kMc.incarnation, 0}, Cursor{1, 1}, false});
  EXPECT_EQ(f.m.term(), 1u);
  EXPECT_EQ(f.m.leader(), kB);
  auto sends = only<raft_effect::Send>(effects);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(std::get<VoteResponse>(*sends[0].message).vote, Vote::kDenied);
}

TEST(RaftMachine, AnObserverAbstainsAndNeverStands) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMb, kMc})},
            LeadershipPreference::observer());
  auto effects =
      f.feed(kB, VoteRequest{Header{f.m.cluster(), 2, kMb.incarnation, 0}, Cursor{1, 1}, false});
  auto sends = only<raft_effect::Send>(persist_all(f.m, f.now, effects));
  for (const auto& s : only<raft_effect::Send>(effects)) sends.push_back(s);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(std::get<VoteResponse>(*sends[0].message).vote, Vote::kAbstained);
  f.now = f.now + 10s;
  f.m.handle_timeout(f.now);
  EXPECT_EQ(f.m.role(), Role::kFollower);
}

TEST(RaftMachine, AMessageContradictingACommittedEntryIsRefusedNotObeyed) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true},
            {config_entry(1, {kMa, kMb, kMc}), LogEntry{1, EntryKind::kCommand, encode(1u)}});
  f.feed(kB, AppendEntries{Header{f.m.cluster(), 1, kMb.incarnation, 2}, Cursor{1, 2}, {}, 1});
  ASSERT_EQ(f.m.commit_index(), 2u);
  // A (faulty) leader of term 3 rewrites index 2.
  auto effects = f.feed(kC, AppendEntries{Header{f.m.cluster(), 3, kMc.incarnation, 0},
                                          Cursor{1, 1},
                                          {LogEntry{3, EntryKind::kCommand, encode(9u)}},
                                          1});
  EXPECT_EQ(f.m.log().at(2).term, 1u);
  EXPECT_EQ(f.m.commit_index(), 2u);
  // And a nonsense position does not crash.
  f.feed(kC, AppendEntries{Header{f.m.cluster(), 3, kMc.incarnation, 0}, Cursor{7, 0}, {}, 1});
  f.feed(kC, AppendEntries{Header{f.m.cluster(), 3, kMc.incarnation, 0}, Cursor{1, 99}, {}, 1});
  EXPECT_EQ(f.m.log().last_index(), 2u);
}

TEST(RaftMachine, ProposalsOnlyOnTheLeaderAndBounded) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  EXPECT_EQ(f.m.propose(f.now, {encode(1u)}).status().code(), StatusCode::kUnavailable);
  f.win();
  auto at = f.m.propose(f.now, {encode(1u), encode(2u)});
  ASSERT_TRUE(at.is_ok());
  EXPECT_EQ(at->index, 3u);
  EXPECT_EQ(at->term, f.m.term());
  Bytes huge(RaftMachine::kMaxCommandBytes + 1, 0);
  EXPECT_EQ(f.m.propose(f.now, {huge}).status().code(), StatusCode::kLimitExceeded);
}

TEST(RaftMachine, FollowersInStepShareOneAppendEntries) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  f.win();
  auto at = f.m.propose(f.now, {encode(1u), encode(2u)});
  ASSERT_TRUE(at.is_ok());
  auto effects = drain(f.m);
  auto sends = only<raft_effect::Send>(effects);
  for (const auto& s : only<raft_effect::Send>(persist_all(f.m, f.now, effects))) {
    sends.push_back(s);
  }
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_NE(sends[0].to, sends[1].to);
  EXPECT_EQ(sends[0].message, sends[1].message) << "one message object, encoded once";
  const auto& ae = std::get<AppendEntries>(*sends[0].message);
  EXPECT_EQ(ae.prev.index, at->index - 1);
  ASSERT_EQ(ae.entries.size(), 2u);
  EXPECT_EQ(ae.entries[1].payload, SharedBytes(encode(2u)));
}

// The leader's disk and its followers' work in parallel: its AppendEntries leave before its own
// append is durable, and its own copy counts only once it is.
TEST(RaftMachine, ALeadersAppendEntriesLeaveBeforeItsOwnAppendIsDurable) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})});
  f.win();
  f.feed(kB, AppendResponse{Header{f.m.cluster(), f.m.term(), kMb.incarnation, 0}, true, 2, 1});
  ASSERT_EQ(f.m.commit_index(), 2u);
  auto at = f.m.propose(f.now, {encode(1u)});
  ASSERT_TRUE(at.is_ok());
  auto effects = drain(f.m);
  const auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  const auto sends = only<raft_effect::Send>(effects);
  ASSERT_EQ(sends.size(), 2u) << "the AppendEntries waited for the leader's own write";
  EXPECT_EQ(std::get<AppendEntries>(*sends[0].message).entries.size(), 1u);
  // B's copy alone is no majority: A's own copy counts only once it is durable.
  f.feed(kB,
         AppendResponse{Header{f.m.cluster(), f.m.term(), kMb.incarnation, 0}, true, at->index, 1});
  EXPECT_LT(f.m.commit_index(), at->index) << "counted its own copy before it was durable";
  f.m.handle_persisted(f.now, persists[0].token);
  drain(f.m);
  EXPECT_EQ(f.m.commit_index(), at->index);
}

TEST(GroupTypes, GroupIdDependsOnKeyMachineSyncValidatorsAndHeartbeatsOnly) {
  const GroupKey key = GroupKey::from_secret("k");
  const Digest sm = Digest::from_string("sm"), sync = Digest::from_string("sync");
  const GroupId base = derive_group_id(key, ConsensusConfig{}, sm, sync, {});
  EXPECT_EQ(base, derive_group_id(key, ConsensusConfig{}.with_election_timeout(9s), sm, sync, {}));
  EXPECT_NE(base, derive_group_id(GroupKey::from_secret("k2"), ConsensusConfig{}, sm, sync, {}));
  EXPECT_NE(base,
            derive_group_id(key, ConsensusConfig{}.with_heartbeat_jitter(10ms), sm, sync, {}));
  EXPECT_NE(base, derive_group_id(key, ConsensusConfig{}, Digest::from_string("x"), sync, {}));
  const Digest v = Digest::from_string("validator");
  EXPECT_NE(base, derive_group_id(key, ConsensusConfig{}, sm, sync, std::span(&v, 1)));
  EXPECT_EQ(key.redacted().size(), 8u);
  EXPECT_FALSE(ConsensusConfig{}.with_heartbeat_jitter(0ms).validate().is_ok());
  EXPECT_TRUE(ConsensusConfig{}.validate().is_ok());
}

// Found by group_messages_fuzz: each of these aborted a node or broke its invariants.
TEST(RaftMachine, MalformedAppendEntriesAreRefusedWhole) {
  Fixture f(HardState{0, std::nullopt, kMa.incarnation}, {});
  // A configuration entry that does not decode.
  f.feed(kB, AppendEntries{Header{Digest::zero(), 1, kMb.incarnation, 0},
                           Cursor{0, 0},
                           {LogEntry{1, EntryKind::kConfig, {}}},
                           1});
  EXPECT_TRUE(f.m.log().empty());
  // An entry of a later term than the message's.
  f.feed(kB, AppendEntries{Header{Digest::zero(), 0, kMb.incarnation, 5},
                           Cursor{0, 0},
                           {config_entry(1, {kMa, kMb})},
                           1});
  EXPECT_TRUE(f.m.log().empty());
  EXPECT_EQ(f.m.commit_index(), 0u);
  // A term that would wrap around.
  f.feed(kB, AppendEntries{
                 Header{Digest::zero(), UINT64_MAX, kMb.incarnation, 0}, Cursor{0, 0}, {}, 1});
  EXPECT_EQ(f.m.term(), 0u);
  f.m.invariants();
  // A well-formed one is taken.
  f.feed(kB, AppendEntries{Header{Digest::zero(), 1, kMb.incarnation, 1},
                           Cursor{0, 0},
                           {config_entry(1, {kMa, kMb})},
                           1});
  EXPECT_EQ(f.m.log().last_index(), 1u);
}

// Found by the group fuzz target. A member truncated entries a store write had already made
// durable, and became leader before the store acknowledged the truncation: the older
// acknowledgement made it count its own copy of entries no longer in its log (it asserted on
// the log index). Entries removed from the log no longer count as stored.
TEST(RaftMachine, AnAcknowledgedWriteOfTruncatedEntriesDoesNotCountAsStored) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa})}, {}, fast(),
            {});
  std::vector<LogEntry> three;
  for (int i = 0; i < 3; ++i) three.push_back(LogEntry{2, EntryKind::kCommand, encode(i)});
  auto first = f.feed(
      kB, AppendEntries{Header{f.m.cluster(), 2, kMb.incarnation, 0}, Cursor{1, 1}, three, 1});
  ASSERT_EQ(f.m.log().last_index(), 4u);
  const auto written = only<raft_effect::Persist>(first);
  ASSERT_EQ(written.size(), 1u);
  // Another leader's entry replaces them before the store answers.
  f.feed(kC, AppendEntries{Header{f.m.cluster(), 3, kMc.incarnation, 0},
                           Cursor{1, 1},
                           {LogEntry{3, EntryKind::kCommand, encode(9)}},
                           1});
  ASSERT_EQ(f.m.log().last_index(), 2u);
  // The lone voter stands and wins at once; only the first write is acknowledged.
  f.now = f.now + 10s;
  f.m.handle_timeout(f.now);
  drain(f.m);
  ASSERT_TRUE(f.m.is_leader());
  f.m.handle_persisted(f.now, written[0].token);
  drain(f.m);
  f.m.invariants();
  EXPECT_LE(f.m.commit_index(), 1u) << "committed entries it has not stored";
}

}  // namespace
}  // namespace smalti::groups
