// Raft's rules for followers and candidates (the paper's Figure 2, "Rules for Servers"): when a
// member stands, how a candidate starts and wins an election, and when it gives up. Each case is
// pinned by its own test on RaftMachine; docs/raft-rules.md maps every rule to its tests.
#include <gtest/gtest.h>

#include <set>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

const std::vector<Member> kFive{kMa, kMb, kMc, kMd, kMe};

VoteResponse pre_vote(const Fixture& f, const Member& voter, Vote vote = Vote::kGranted) {
  return VoteResponse{f.from(voter, f.m.term()), f.m.term() + 1, true, vote};
}

VoteResponse vote(const Fixture& f, const Member& voter, Vote v = Vote::kGranted) {
  return VoteResponse{f.from(voter, f.m.term()), f.m.term(), false, v};
}

// Times out, wins the pre-vote with the grants of `pre_voters`, and returns the vote requests
// the candidate sent once its term and vote were durable.
std::vector<raft_effect::Send> become_candidate(Fixture& f, const std::vector<Member>& pre_voters) {
  f.tick_and_persist(f.now + 1s);
  std::vector<raft_effect::Send> sends;
  for (const Member& v : pre_voters) {
    for (auto& s : f.exchange(v.peer, pre_vote(f, v))) sends.push_back(s);
  }
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  return sends;
}

// ---- followers: stand when the election timeout passes without a leader -----------------------

TEST(RaftRules, AFollowerDoesNotStandBeforeItsElectionTimeout) {
  Fixture f = abc_voter(1);
  const Instant deadline = f.m.next_deadline();
  auto effects = f.tick_at(deadline - 1ms);
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_TRUE(only<raft_effect::Send>(effects).empty());
}

TEST(RaftRules, AFollowerStandsOnceItsElectionTimeoutElapsesWithoutALeader) {
  Fixture f = abc_voter(1);
  auto effects = f.tick_at(f.m.next_deadline());
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  std::set<PeerId> asked;
  for (const auto& [to, ask] : messages<VoteRequest>(only<raft_effect::Send>(effects))) {
    asked.insert(to);
  }
  EXPECT_EQ(asked, (std::set<PeerId>{kB, kC}));
}

TEST(RaftRules, AnAppendEntriesFromTheLeaderResetsTheElectionTimer) {
  Fixture f = abc_voter(1);
  f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {}, 1});
  ASSERT_EQ(f.m.leader(), kB);
  const Instant deadline = f.m.next_deadline();
  f.now = deadline - 10ms;
  f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {command(1)}, 2});
  EXPECT_GE(f.m.next_deadline(), f.now + 400ms);
  f.tick_at(deadline);
  EXPECT_EQ(f.m.role(), Role::kFollower);
}

TEST(RaftRules, AHeartbeatFromTheLeaderResetsTheElectionTimer) {
  Fixture f = abc_voter(1);
  f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {}, 1});
  ASSERT_EQ(f.m.leader(), kB);
  const Instant deadline = f.m.next_deadline();
  f.now = deadline - 10ms;
  f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {}, 2});
  EXPECT_GE(f.m.next_deadline(), f.now + 400ms);
  f.tick_at(deadline);
  EXPECT_EQ(f.m.role(), Role::kFollower);
}

TEST(RaftRules, GrantingAVoteResetsTheElectionTimer) {
  Fixture f = abc_voter(2);
  f.now = f.m.next_deadline() - 10ms;
  auto replies =
      messages<VoteResponse>(f.exchange(kB, VoteRequest{f.from(kMb, 2), f.m.log().last(), false}));
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_EQ(replies[0].second.vote, Vote::kGranted);
  EXPECT_GE(f.m.next_deadline(), f.now + 400ms);
}

TEST(RaftRules, DenyingAVoteInTheSameTermDoesNotResetTheElectionTimer) {
  Fixture f = abc_voter(2, {}, kMc);
  const Instant deadline = f.m.next_deadline();
  f.now = deadline - 10ms;
  auto replies =
      messages<VoteResponse>(f.exchange(kB, VoteRequest{f.from(kMb, 2), f.m.log().last(), false}));
  ASSERT_EQ(replies.size(), 1u);
  ASSERT_EQ(replies[0].second.vote, Vote::kDenied);
  EXPECT_EQ(f.m.next_deadline(), deadline);
}

TEST(RaftRules, AnAppendEntriesOfAnOlderTermDoesNotResetTheElectionTimer) {
  Fixture f = abc_voter(3);
  const Instant deadline = f.m.next_deadline();
  f.now = deadline - 10ms;
  f.exchange(kB, AppendEntries{f.from(kMb, 2), Cursor{1, 1}, {}, 1});
  EXPECT_EQ(f.m.next_deadline(), deadline);
  f.tick_at(deadline);
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
}

// ---- candidates: on starting an election
// ---------------------------------------------------------

TEST(RaftRules, ACandidateIncrementsItsTermAndVotesForItself) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  EXPECT_EQ(f.m.term(), 2u);
  EXPECT_EQ(f.m.hard_state().vote, f.m.self_member());
}

TEST(RaftRules, ACandidateAsksEveryOtherVoterForItsVote) {
  Fixture f = voter_in(kFive, 1);
  auto sends = become_candidate(f, {kMb, kMc});
  std::set<PeerId> asked;
  for (const auto& [to, ask] : messages<VoteRequest>(sends)) {
    if (ask.pre_vote) continue;
    asked.insert(to);
    EXPECT_EQ(ask.header.term, 2u);
    EXPECT_EQ(ask.header.incarnation, kMa.incarnation);
    EXPECT_EQ(ask.last, f.m.log().last());
  }
  EXPECT_EQ(asked, (std::set<PeerId>{kB, kC, kD, kE}));
}

TEST(RaftRules, ACandidateResetsItsElectionTimer) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  f.now = f.now + 300ms;  // the pre-vote round took a while
  f.exchange(kB, pre_vote(f, kMb));
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  EXPECT_GE(f.m.next_deadline(), f.now + 400ms);
}

// ---- candidates: votes from a majority of the voters make a leader -----------------------------

TEST(RaftRules, ACandidateWithVotesFromAMajorityBecomesLeader) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  f.exchange(kB, vote(f, kMb));
  EXPECT_TRUE(f.m.is_leader());
  EXPECT_EQ(f.m.leader(), kA);
  EXPECT_EQ(f.m.term(), 2u);
}

TEST(RaftRules, ACandidateWithoutAMajorityDoesNotLead) {
  Fixture f = voter_in(kFive, 1);
  become_candidate(f, {kMb, kMc});
  f.exchange(kB, vote(f, kMb));
  EXPECT_EQ(f.m.role(), Role::kCandidate) << "two votes of five";
  f.exchange(kC, vote(f, kMc));
  EXPECT_TRUE(f.m.is_leader());
}

TEST(RaftRules, DeniedVotesDoNotCountTowardsAMajority) {
  Fixture f = voter_in(kFive, 1);
  become_candidate(f, {kMb, kMc});
  f.exchange(kB, vote(f, kMb, Vote::kDenied));
  f.exchange(kC, vote(f, kMc, Vote::kDenied));
  f.exchange(kD, vote(f, kMd));
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  f.exchange(kE, vote(f, kMe));
  EXPECT_TRUE(f.m.is_leader());
}

TEST(RaftRules, AVoteIsCountedOncePerVoter) {
  Fixture f = voter_in(kFive, 1);
  become_candidate(f, {kMb, kMc});
  f.exchange(kB, vote(f, kMb));
  f.exchange(kB, vote(f, kMb));
  EXPECT_EQ(f.m.role(), Role::kCandidate);
}

TEST(RaftRules, APreVoteIsCountedOncePerVoter) {
  Fixture f = voter_in(kFive, 1);
  f.tick_and_persist(f.now + 1s);
  f.exchange(kB, pre_vote(f, kMb));
  f.exchange(kB, pre_vote(f, kMb));
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  EXPECT_EQ(f.m.term(), 1u);
}

TEST(RaftRules, AVoteFromAnEarlierElectionIsNotCounted) {
  Fixture f = abc_voter(2);
  become_candidate(f, {kMb});
  ASSERT_EQ(f.m.term(), 3u);
  // B's grant of this member's election of term 2, delivered late.
  f.exchange(kB, VoteResponse{f.from(kMb, 2), 2, false, Vote::kGranted});
  EXPECT_EQ(f.m.role(), Role::kCandidate);
}

TEST(RaftRules, VotesFromMembersOutsideTheConfigurationAreNotCounted) {
  Fixture f(
      HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMa, kMb, kMc})}, {},
      fast(),
      {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}, {kD, false, kMd.incarnation}});
  f.tick_and_persist(f.now + 1s);
  f.exchange(kD, pre_vote(f, kMd));
  EXPECT_EQ(f.m.role(), Role::kPreCandidate) << "D is a learner, not a voter";
  become_candidate(f, {kMb});
  f.exchange(kD, vote(f, kMd));
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  f.exchange(kC, vote(f, kMc));
  EXPECT_TRUE(f.m.is_leader());
}

// ---- candidates: an AppendEntries from the term's leader ends the candidacy --------------------

TEST(RaftRules, ACandidateBecomesFollowerOnAppendEntriesOfItsTerm) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  ASSERT_EQ(f.m.term(), 2u);
  auto replies = messages<AppendResponse>(
      f.exchange(kC, AppendEntries{f.from(kMc, 2), Cursor{1, 1}, {command(2)}, 1}));
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.leader(), kC);
  EXPECT_EQ(f.m.term(), 2u);
  EXPECT_EQ(f.m.hard_state().vote, f.m.self_member()) << "its vote of the term stands";
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].second.success);
  EXPECT_EQ(f.m.log().last_index(), 2u);
}

TEST(RaftRules, ACandidateBecomesFollowerOnAppendEntriesOfAHigherTerm) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  f.exchange(kC, AppendEntries{f.from(kMc, 4), Cursor{1, 1}, {}, 1});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.leader(), kC);
  EXPECT_EQ(f.m.term(), 4u);
  EXPECT_FALSE(f.m.hard_state().vote.has_value());
}

TEST(RaftRules, APreCandidateBecomesFollowerOnAppendEntriesOfItsTerm) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  ASSERT_EQ(f.m.role(), Role::kPreCandidate);
  f.exchange(kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {}, 1});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.leader(), kB);
  EXPECT_EQ(f.m.term(), 1u);
}

TEST(RaftRules, AnAppendEntriesOfAnOlderTermDoesNotStopACandidate) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  f.exchange(kC, AppendEntries{f.from(kMc, 1), Cursor{1, 1}, {}, 1});
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  EXPECT_EQ(f.m.term(), 2u);
}

// ---- candidates: an election that times out is started again, in the next term ------------------

TEST(RaftRules, ACandidateWhoseElectionTimesOutStandsAgainForTheNextTerm) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  ASSERT_EQ(f.m.term(), 2u);
  const auto timeout = f.tick_at(f.m.next_deadline());
  auto asks = messages<VoteRequest>(settled_sends(f.m, f.now, timeout));
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  ASSERT_FALSE(asks.empty());
  EXPECT_EQ(asks[0].second.header.term, 3u);
  f.exchange(kC, pre_vote(f, kMc));
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  EXPECT_EQ(f.m.term(), 3u);
  f.exchange(kC, vote(f, kMc));
  EXPECT_TRUE(f.m.is_leader());
}

// ---- every server: a response of a newer term makes a candidate a follower ----------------------

TEST(RaftRules, VoteResponseWithHigherTermTurnsACandidateIntoAFollower) {
  Fixture f = abc_voter(1);
  become_candidate(f, {kMb});
  auto effects = f.feed(kC, VoteResponse{f.from(kMc, 5), 2, false, Vote::kDenied});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.term(), 5u);
  EXPECT_FALSE(f.m.hard_state().vote.has_value());
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_EQ(persists[0].hard_state->term, 5u);
}

}  // namespace
}  // namespace smalti::groups
