// Raft's RequestVote receiver rules (the paper's Figure 2), with smalti's pre-vote and leader
// stickiness, each case pinned by its own test on RaftMachine. docs/raft-rules.md maps every
// rule to its tests.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

// The one VoteResponse the machine sends `from` for `ask`, once what it persisted is durable.
VoteResponse answer(Fixture& f, const PeerId& from, const VoteRequest& ask) {
  auto replies = messages<VoteResponse>(f.exchange(from, ask));
  EXPECT_EQ(replies.size(), 1u) << "every vote request is answered, once";
  if (replies.empty()) return VoteResponse{Header{}, 0, ask.pre_vote, Vote::kAbstained};
  EXPECT_EQ(replies[0].first, from);
  EXPECT_EQ(replies[0].second.asked, ask.header.term);
  EXPECT_EQ(replies[0].second.pre_vote, ask.pre_vote);
  return replies[0].second;
}

VoteRequest vote_request(const Fixture& f, const Member& candidate, Term term, Cursor last) {
  return VoteRequest{f.from(candidate, term), last, false};
}

VoteRequest pre_vote_request(const Fixture& f, const Member& candidate, Term term, Cursor last) {
  return VoteRequest{f.from(candidate, term), last, true};
}

// A heartbeat from B as the leader of `term`, its log matching A's.
AppendEntries heartbeat(const Fixture& f, Term term) {
  return AppendEntries{f.from(kMb, term), f.m.log().last(), {}, 1};
}

// ---- rule 1: a request of an older term is refused ----------------------------------------------

TEST(RaftRules, VoteRequestWithLowerTermIsDenied) {
  Fixture f = abc_voter(3);
  const VoteResponse reply = answer(f, kB, vote_request(f, kMb, 2, f.m.log().last()));
  EXPECT_EQ(reply.vote, Vote::kDenied);
  EXPECT_EQ(reply.header.term, 3u) << "the answer tells the candidate the newer term";
  EXPECT_EQ(f.m.term(), 3u);
  EXPECT_FALSE(f.m.hard_state().vote.has_value());
}

// ---- rule 2: one vote per term, for a candidate at least as up to date
// ----------------------------

TEST(RaftRules, VoteInTheSameTermIsGrantedWhenNoneWasCast) {
  Fixture f = abc_voter(2);
  const VoteResponse reply = answer(f, kB, vote_request(f, kMb, 2, f.m.log().last()));
  EXPECT_EQ(reply.vote, Vote::kGranted);
  EXPECT_EQ(reply.header.term, 2u);
  EXPECT_EQ(f.m.term(), 2u);
  EXPECT_EQ(f.m.hard_state().vote, kMb);
}

TEST(RaftRules, VoteRequestWithHigherTermIsGrantedAndItsTermAdopted) {
  Fixture f = abc_voter(1);
  const VoteResponse reply = answer(f, kB, vote_request(f, kMb, 3, f.m.log().last()));
  EXPECT_EQ(reply.vote, Vote::kGranted);
  EXPECT_EQ(reply.header.term, 3u);
  EXPECT_EQ(f.m.term(), 3u);
  EXPECT_EQ(f.m.hard_state().vote, kMb);
}

TEST(RaftRules, VoteInATermAlreadyVotedForAnotherCandidateIsDenied) {
  Fixture f = abc_voter(2);
  ASSERT_EQ(answer(f, kB, vote_request(f, kMb, 2, f.m.log().last())).vote, Vote::kGranted);
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, 2, f.m.log().last())).vote, Vote::kDenied);
  EXPECT_EQ(f.m.hard_state().vote, kMb);
}

TEST(RaftRules, VoteRequestRepeatedByTheSameCandidateIsGrantedAgain) {
  Fixture f = abc_voter(2);
  ASSERT_EQ(answer(f, kB, vote_request(f, kMb, 2, f.m.log().last())).vote, Vote::kGranted);
  // The first answer was lost; the candidate asks again.
  EXPECT_EQ(answer(f, kB, vote_request(f, kMb, 2, f.m.log().last())).vote, Vote::kGranted);
}

TEST(RaftRules, AVoteCastInAnEarlierTermDoesNotBindALaterOne) {
  Fixture f = abc_voter(2);
  ASSERT_EQ(answer(f, kB, vote_request(f, kMb, 2, f.m.log().last())).vote, Vote::kGranted);
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, 3, f.m.log().last())).vote, Vote::kGranted);
  EXPECT_EQ(f.m.term(), 3u);
  EXPECT_EQ(f.m.hard_state().vote, kMc);
}

TEST(RaftRules, VoteDeniedToACandidateWhoseLastEntryHasAnOlderTerm) {
  Fixture f = abc_voter(2, {command(2)});  // last {2, 2}
  // Longer, but its last entry is older: it may lack a committed entry of term 2.
  const VoteResponse reply = answer(f, kB, vote_request(f, kMb, 3, Cursor{1, 5}));
  EXPECT_EQ(reply.vote, Vote::kDenied);
  EXPECT_EQ(f.m.term(), 3u) << "the request's newer term is still adopted";
  EXPECT_FALSE(f.m.hard_state().vote.has_value());
}

TEST(RaftRules, VoteDeniedToACandidateWithTheSameLastTermButAShorterLog) {
  Fixture f = abc_voter(1, {command(1), command(1)});  // last {1, 3}
  EXPECT_EQ(answer(f, kB, vote_request(f, kMb, 2, Cursor{1, 2})).vote, Vote::kDenied);
  EXPECT_FALSE(f.m.hard_state().vote.has_value());
}

TEST(RaftRules, VoteGrantedToACandidateWithANewerLastTermButAShorterLog) {
  Fixture f = abc_voter(2, {command(1), command(1)});  // last {1, 3}
  EXPECT_EQ(answer(f, kB, vote_request(f, kMb, 3, Cursor{2, 2})).vote, Vote::kGranted);
}

TEST(RaftRules, VoteGrantedToACandidateWithTheSameLastTermAndALongerLog) {
  Fixture f = abc_voter(1, {command(1)});  // last {1, 2}
  EXPECT_EQ(answer(f, kB, vote_request(f, kMb, 2, Cursor{1, 3})).vote, Vote::kGranted);
}

TEST(RaftRules, VoteGrantedToACandidateWhoseLogEqualsOurs) {
  Fixture f = abc_voter(1, {command(1)});
  EXPECT_EQ(answer(f, kB, vote_request(f, kMb, 2, Cursor{1, 2})).vote, Vote::kGranted);
}

TEST(RaftRules, ACandidateHasVotedForItselfAndDeniesOthersInItsTerm) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  persist_all(f.m, f.now,
              f.feed(kB, VoteResponse{f.from(kMb, 1), 2, /*pre_vote=*/true, Vote::kGranted}));
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  ASSERT_EQ(f.m.term(), 2u);
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, 2, f.m.log().last())).vote, Vote::kDenied);
  EXPECT_EQ(f.m.hard_state().vote, f.m.self_member());
}

// ---- every server: a request of a newer term makes a candidate a follower
// ------------------------

TEST(RaftRules, VoteRequestWithHigherTermTurnsACandidateIntoAFollower) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  persist_all(f.m, f.now,
              f.feed(kB, VoteResponse{f.from(kMb, 1), 2, /*pre_vote=*/true, Vote::kGranted}));
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, 3, f.m.log().last())).vote, Vote::kGranted);
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.term(), 3u);
}

// ---- pre-vote: asking whether a vote would be granted changes nothing ---------------------------

TEST(RaftRules, PreVoteIsGrantedWithoutChangingTermOrVote) {
  Fixture f = abc_voter(1, {}, kMc);
  auto effects = f.feed(kB, pre_vote_request(f, kMb, 2, f.m.log().last()));
  EXPECT_TRUE(only<raft_effect::Persist>(effects).empty()) << "a pre-vote persists nothing";
  auto replies = messages<VoteResponse>(only<raft_effect::Send>(effects));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second.vote, Vote::kGranted);
  EXPECT_TRUE(replies[0].second.pre_vote);
  EXPECT_EQ(replies[0].second.header.term, 1u);
  EXPECT_EQ(f.m.term(), 1u);
  EXPECT_EQ(f.m.hard_state().vote, kMc);
}

TEST(RaftRules, PreVoteDeniedToACandidateWithAStaleLog) {
  Fixture f = abc_voter(2, {command(2)});
  EXPECT_EQ(answer(f, kB, pre_vote_request(f, kMb, 3, Cursor{1, 1})).vote, Vote::kDenied);
  EXPECT_EQ(f.m.term(), 2u);
}

TEST(RaftRules, PreVoteForATermNotAboveOursIsDenied) {
  Fixture f = abc_voter(3);
  EXPECT_EQ(answer(f, kB, pre_vote_request(f, kMb, 3, f.m.log().last())).vote, Vote::kDenied);
  EXPECT_EQ(answer(f, kB, pre_vote_request(f, kMb, 2, f.m.log().last())).vote, Vote::kDenied);
  EXPECT_EQ(f.m.term(), 3u);
}

TEST(RaftRules, AnElectionStartsWithAPreVoteThatChangesNoTerm) {
  Fixture f = abc_voter(1);
  auto effects = f.tick_at(f.now + 1s);
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  EXPECT_EQ(f.m.term(), 1u);
  EXPECT_TRUE(only<raft_effect::Persist>(effects).empty());
  auto asks = messages<VoteRequest>(only<raft_effect::Send>(effects));
  ASSERT_EQ(asks.size(), 2u);
  for (const auto& [to, ask] : asks) {
    EXPECT_TRUE(ask.pre_vote);
    EXPECT_EQ(ask.header.term, 2u) << "asks for the term it would stand in";
    EXPECT_EQ(ask.last, f.m.log().last());
  }
}

TEST(RaftRules, APreCandidateWithoutAMajorityOfPreVotesStartsNoElection) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  auto effects = f.feed(kB, VoteResponse{f.from(kMb, 1), 2, true, Vote::kDenied});
  effects = f.feed(kC, VoteResponse{f.from(kMc, 1), 2, true, Vote::kDenied});
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  EXPECT_EQ(f.m.term(), 1u);
  EXPECT_TRUE(only<raft_effect::Persist>(effects).empty());
}

TEST(RaftRules, PreVoteDeniedWithAHigherTermTurnsAPreCandidateIntoAFollower) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  ASSERT_EQ(f.m.role(), Role::kPreCandidate);
  f.feed(kB, VoteResponse{f.from(kMb, 4), 2, true, Vote::kDenied});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.term(), 4u);
}

// ---- leader stickiness: a member that hears from its leader ignores candidates ------------------
// (The real-vote case is RaftMachine.AFollowerInsideItsLeaderLeaseIgnoresCandidates.)

TEST(RaftRules, PreVoteInsideTheLeaderLeaseIsDenied) {
  Fixture f = abc_voter(1);
  f.exchange(kB, heartbeat(f, 1));
  ASSERT_EQ(f.m.leader(), kB);
  f.now = f.now + 399ms;
  EXPECT_EQ(answer(f, kC, pre_vote_request(f, kMc, 2, f.m.log().last())).vote, Vote::kDenied);
}

TEST(RaftRules, PreVoteAfterTheLeaderLeaseRanOutIsGranted) {
  Fixture f = abc_voter(1);
  f.exchange(kB, heartbeat(f, 1));
  f.now = f.now + 400ms;  // one election timeout without a word from B
  EXPECT_EQ(answer(f, kC, pre_vote_request(f, kMc, 2, f.m.log().last())).vote, Vote::kGranted);
}

TEST(RaftRules, VoteAfterTheLeaderLeaseRanOutIsGranted) {
  Fixture f = abc_voter(1);
  f.exchange(kB, heartbeat(f, 1));
  f.now = f.now + 400ms;
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, 2, f.m.log().last())).vote, Vote::kGranted);
  EXPECT_EQ(f.m.term(), 2u);
  EXPECT_EQ(f.m.hard_state().vote, kMc);
}

TEST(RaftRules, ALeaderIgnoresVoteRequestsOfAHigherTerm) {
  Fixture f = abc_voter(1);
  f.win();
  const Term term = f.m.term();
  EXPECT_EQ(answer(f, kC, vote_request(f, kMc, term + 3, f.m.log().last())).vote, Vote::kDenied);
  EXPECT_TRUE(f.m.is_leader());
  EXPECT_EQ(f.m.term(), term);
}

TEST(RaftRules, ALeaderDeniesPreVotes) {
  Fixture f = abc_voter(1);
  f.win();
  const Term term = f.m.term();
  EXPECT_EQ(answer(f, kC, pre_vote_request(f, kMc, term + 1, f.m.log().last())).vote,
            Vote::kDenied);
  EXPECT_TRUE(f.m.is_leader());
}

}  // namespace
}  // namespace smalti::groups
