// Raft's persistent-state rule (the paper's Figure 2) and the safety fixes of DESIGN.md section 9:
// durable before dependent messages leave, a leader's own-term entry, read-index, check-quorum.
// Each case is pinned by its own test on RaftMachine; docs/raft-rules.md maps every rule to its
// tests.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

AppendResponse ack(const Fixture& f, const Member& from, Index index, std::uint64_t round = 0) {
  return AppendResponse{f.from(from, f.m.term()), true, index, round};
}

// The newest read round among the AppendEntries in `effects`.
std::uint64_t round_of(const std::vector<RaftEffect>& effects) {
  std::uint64_t round = 0;
  for (const auto& [to, ae] : messages<AppendEntries>(only<raft_effect::Send>(effects))) {
    round = std::max(round, ae.round);
  }
  return round;
}

// A as a founded voter of {A, B, C}, bonded with B, C and the learner D.
Fixture abc_voter_with_learner(Term term) {
  return Fixture(
      HardState{term, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})}, {},
      fast(),
      {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}, {kD, false, kMd.incarnation}});
}

// ---- persistent state: durable before any message that depends on it leaves -------------------
// (A granted vote: RaftMachine.AVoteIsDurableBeforeTheAnswerLeaves.)

TEST(RaftRules, ACandidatesTermAndVoteAreDurableBeforeItsVoteRequestsLeave) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  auto effects = f.feed(kB, VoteResponse{f.from(kMb, 1), 2, true, Vote::kGranted});
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_EQ(persists[0].hard_state->term, 2u);
  EXPECT_EQ(persists[0].hard_state->vote, f.m.self_member());
  EXPECT_TRUE(messages<VoteRequest>(only<raft_effect::Send>(effects)).empty())
      << "asked for votes before its term and vote were durable";
  auto released = messages<VoteRequest>(only<raft_effect::Send>(persist_all(f.m, f.now, effects)));
  EXPECT_EQ(released.size(), 2u);
}

TEST(RaftRules, ATermLearntFromAnAppendEntriesIsDurableBeforeTheAnswerLeaves) {
  Fixture f = abc_voter(1);
  auto effects = f.feed(kB, AppendEntries{f.from(kMb, 3), Cursor{1, 1}, {}, 1});
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_EQ(persists[0].hard_state->term, 3u);
  EXPECT_TRUE(only<raft_effect::Send>(effects).empty());
  auto released =
      messages<AppendResponse>(only<raft_effect::Send>(persist_all(f.m, f.now, effects)));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second.header.term, 3u);
}

TEST(RaftRules, ATermLearntFromAVoteRequestIsDurableBeforeTheDenialLeaves) {
  Fixture f = abc_voter(2, {command(2)});
  auto effects = f.feed(kB, VoteRequest{f.from(kMb, 3), Cursor{1, 1}, false});
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_EQ(persists[0].hard_state->term, 3u);
  EXPECT_TRUE(only<raft_effect::Send>(effects).empty());
  auto released = messages<VoteResponse>(only<raft_effect::Send>(persist_all(f.m, f.now, effects)));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second.vote, Vote::kDenied);
  EXPECT_EQ(released[0].second.header.term, 3u);
}

TEST(RaftRules, EntriesAreDurableBeforeTheFollowerAcknowledgesThem) {
  Fixture f = abc_voter(1);
  auto effects =
      f.feed(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {command(1), command(1)}, 1});
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  EXPECT_EQ(persists[0].entries.size(), 2u);
  EXPECT_TRUE(only<raft_effect::Send>(effects).empty()) << "acknowledged entries not yet durable";
  auto released =
      messages<AppendResponse>(only<raft_effect::Send>(persist_all(f.m, f.now, effects)));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_TRUE(released[0].second.success);
  EXPECT_EQ(released[0].second.index, 3u);
}

TEST(RaftRules, ADurableTokenReleasesOnlyTheMessagesThatDependOnIt) {
  Fixture f = abc_voter(1);
  auto first = f.feed(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {command(1)}, 1});
  auto second = f.feed(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 2}, {command(1)}, 2});
  auto p1 = only<raft_effect::Persist>(first);
  auto p2 = only<raft_effect::Persist>(second);
  ASSERT_EQ(p1.size(), 1u);
  ASSERT_EQ(p2.size(), 1u);
  ASSERT_LT(p1[0].token, p2[0].token);
  f.m.handle_persisted(f.now, p1[0].token);
  auto released = messages<AppendResponse>(only<raft_effect::Send>(drain(f.m)));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second.index, 2u);
  f.m.handle_persisted(f.now, p2[0].token);
  released = messages<AppendResponse>(only<raft_effect::Send>(drain(f.m)));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second.index, 3u);
}

TEST(RaftRules, ALeaderCountsItsOwnCopyOnlyOnceItIsDurable) {
  // The only voter: its own copy is the majority.
  Fixture f = voter_in({kMa}, 1);
  auto effects = f.tick_at(f.now + 1s);
  ASSERT_TRUE(f.m.is_leader());
  EXPECT_EQ(f.m.commit_index(), 1u) << "committed its entry before it was durable";
  persist_all(f.m, f.now, effects);
  ASSERT_EQ(f.m.commit_index(), 2u);
  // Two proposals, two Persists; the store completes the first one only.
  ASSERT_TRUE(f.m.propose(f.now, {encode(3u)}).is_ok());
  auto first = only<raft_effect::Persist>(drain(f.m));
  ASSERT_TRUE(f.m.propose(f.now, {encode(4u)}).is_ok());
  auto second = only<raft_effect::Persist>(drain(f.m));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  f.m.handle_persisted(f.now, first[0].token);
  drain(f.m);
  EXPECT_EQ(f.m.commit_index(), 3u) << "committed index 4, which is not durable anywhere";
  f.m.handle_persisted(f.now, second[0].token);
  drain(f.m);
  EXPECT_EQ(f.m.commit_index(), 4u);
}

TEST(RaftRules, ARestartedMemberResumesItsTermVoteLogAndConfiguration) {
  Fixture f(HardState{4, kMc, kMa.incarnation, true},
            {config_entry(1, {kMa, kMb, kMc}), command(3)});
  EXPECT_EQ(f.m.term(), 4u);
  EXPECT_EQ(f.m.hard_state().vote, kMc);
  EXPECT_EQ(f.m.log().last(), (Cursor{3, 2}));
  EXPECT_EQ(f.m.voters().voters, (std::vector<Member>{kMa, kMb, kMc}));
  EXPECT_TRUE(f.m.is_voter());
  auto replies =
      messages<AppendResponse>(f.exchange(kB, AppendEntries{f.from(kMb, 3), Cursor{3, 2}, {}, 1}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].second.success) << "obeyed a leader of a term it had left";
  auto asks = messages<VoteRequest>(only<raft_effect::Send>(f.tick_at(f.now + 1s)));
  ASSERT_FALSE(asks.empty());
  EXPECT_EQ(asks[0].second.header.term, 5u);
  EXPECT_EQ(asks[0].second.last, (Cursor{3, 2}));
}

// ---- a leader commits by counting only entries of its term; earlier ones follow ---------------
// (The counting itself: RaftMachine.ALeaderCommitsEarlierTermEntriesOnlyThroughOneOfItsOwn.)

TEST(RaftRules, ANewLeaderAppendsAnEntryOfItsTermAtOnce) {
  Fixture f = abc_voter(3, {command(2)});
  f.win();
  ASSERT_EQ(f.m.term(), 4u);
  EXPECT_EQ(f.m.log().last(), (Cursor{4, 3}));
  EXPECT_EQ(f.m.log().at(3).kind, EntryKind::kNoop);
}

TEST(RaftRules, EarlierTermEntriesCommitWithTheLeadersFirstEntry) {
  Fixture f = abc_voter(3, {command(2), command(3)});
  f.win();  // term 4, its entry at index 4
  f.exchange(kB, ack(f, kMb, 3));
  f.exchange(kC, ack(f, kMc, 3));
  EXPECT_EQ(f.m.commit_index(), 1u) << "every voter stores index 3, but it is of term 3";
  auto effects = f.feed(kC, ack(f, kMc, 4));
  EXPECT_EQ(f.m.commit_index(), 4u);
  auto committed = only<raft_effect::Committed>(effects);
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].index, 4u) << "2, 3 and 4 are applied together";
}

// ---- strong reads confirm leadership (read-index) -----------------------------------------------
// (A round asked before the read does not confirm it: RaftMachine.AReadWaitsForAQuorumRound...)

TEST(RaftRules, AReadOnAFollowerFailsAtOnce) {
  Fixture f = abc_voter(1);
  f.exchange(kB, AppendEntries{f.from(kMb, 1, 1), Cursor{1, 1}, {}, 1});
  f.m.read(f.now, 4);
  auto effects = drain(f.m);
  auto failed = only<raft_effect::ReadFailed>(effects);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].read, 4u);
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
}

TEST(RaftRules, AReadWaitsUntilTheNewLeaderCommittedAnEntryOfItsTerm) {
  Fixture f = abc_voter(1, {command(1)});
  f.win();  // term 2, its entry at index 3; commit index 1
  f.m.read(f.now, 8);
  const std::uint64_t round = round_of(drain(f.m));
  ASSERT_GT(round, 0u);
  // B confirms the leadership round but does not store index 3 yet: index 2 may be committed
  // already, so the read must not run on a state at commit index 1.
  auto effects = f.feed(kB, ack(f, kMb, 2, round));
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
  effects = f.feed(kB, ack(f, kMb, 3, round));
  auto ready = only<raft_effect::ReadReady>(effects);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].read, 8u);
  EXPECT_EQ(ready[0].index, 3u);
}

TEST(RaftRules, ARoundEchoedByANonVoterDoesNotConfirmARead) {
  Fixture f = abc_voter_with_learner(1);
  f.win();
  f.exchange(kB, ack(f, kMb, 2));
  f.m.read(f.now, 6);
  const std::uint64_t round = round_of(drain(f.m));
  auto effects = f.feed(kD, ack(f, kMd, 2, round));
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty()) << "D is a learner";
  effects = f.feed(kC, ack(f, kMc, 2, round));
  EXPECT_EQ(only<raft_effect::ReadReady>(effects).size(), 1u);
}

TEST(RaftRules, APendingReadFailsWhenItsLeaderLearnsOfANewerTerm) {
  Fixture f = abc_voter(1);
  f.win();
  f.m.read(f.now, 3);
  drain(f.m);
  auto effects = f.feed(kB, AppendResponse{f.from(kMb, 7), false, 3, 0});
  auto failed = only<raft_effect::ReadFailed>(effects);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].read, 3u);
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
}

TEST(RaftRules, AOneVoterLeaderConfirmsAReadAtOnce) {
  Fixture f = voter_in({kMa}, 1);
  f.tick_and_persist(f.now + 1s);
  ASSERT_TRUE(f.m.is_leader());
  f.m.read(f.now, 2);
  auto ready = only<raft_effect::ReadReady>(drain(f.m));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].index, 2u);
}

// ---- check-quorum: a leader that does not hear from a quorum steps down -------------------------
// (No acknowledgement at all: RaftMachine.ALeaderThatHearsNoQuorumStepsDownAndFailsItsReads.)

TEST(RaftRules, EveryAppendEntriesIsAcknowledgedHeartbeatsIncluded) {
  Fixture f = abc_voter(1);
  auto replies =
      messages<AppendResponse>(f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {}, 42}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].second.success);
  EXPECT_EQ(replies[0].second.round, 42u) << "the leader counts echoed rounds";
  // A refused one too: it still shows the leader this member follows it.
  replies =
      messages<AppendResponse>(f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 5}, {}, 43}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].second.success);
  EXPECT_EQ(replies[0].second.round, 43u);
}

TEST(RaftRules, ALeaderThatHearsFromAQuorumKeepsLeading) {
  Fixture f = abc_voter(1);
  f.win();
  for (int beat = 0; beat < 30; ++beat) {
    const std::uint64_t round = round_of(f.tick_at(f.m.next_deadline()));
    ASSERT_TRUE(f.m.is_leader()) << "stepped down at beat " << beat << " though B answers";
    f.exchange(kB, ack(f, kMb, 2, round));  // C is silent throughout
  }
}

TEST(RaftRules, ANewLeaderHasAnElectionTimeoutToHearFromAQuorum) {
  Fixture f = abc_voter(1);
  f.win();
  const Instant elected = f.now;
  while (f.m.next_deadline() < elected + 400ms) f.tick_at(f.m.next_deadline());
  EXPECT_TRUE(f.m.is_leader());
}

TEST(RaftRules, AcknowledgementsOlderThanAnElectionTimeoutDoNotKeepALeaderInOffice) {
  Fixture f = abc_voter(1);
  f.win();
  const Instant elected = f.now;
  f.exchange(kB, ack(f, kMb, 2));
  while (f.m.is_leader() && f.now < elected + 2s) f.tick_at(f.m.next_deadline());
  EXPECT_FALSE(f.m.is_leader());
  EXPECT_LE(f.now, elected + 500ms) << "kept leading on an answer older than the timeout";
}

TEST(RaftRules, AcknowledgementsFromNonVotersDoNotKeepALeaderInOffice) {
  Fixture f = abc_voter_with_learner(1);
  f.win();
  const Instant elected = f.now;
  while (f.m.is_leader() && f.now < elected + 2s) {
    const std::uint64_t round = round_of(f.tick_at(f.m.next_deadline()));
    f.exchange(kD, ack(f, kMd, 2, round));
  }
  EXPECT_FALSE(f.m.is_leader()) << "D is a learner: it is no quorum";
}

}  // namespace
}  // namespace smalti::groups
