// Who votes, as smalti runs Raft (raft_machine.hpp): a restart with empty storage is a new,
// non-voting incarnation, and the voters are a configuration in the log, changed one voter at a
// time. Each case is pinned by its own test on RaftMachine; docs/raft-rules.md maps every rule to
// its tests.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

// B after a restart with empty storage: the same peer, a new incarnation.
const Member kMbReborn{kB, 70};

AppendResponse ack(const Fixture& f, const Member& from, Index index, std::uint64_t round = 0) {
  return AppendResponse{f.from(from, f.m.term()), true, index, round};
}

// The newest read round among the AppendEntries in `sends`.
std::uint64_t round_of(const std::vector<raft_effect::Send>& sends) {
  std::uint64_t round = 0;
  for (const auto& [to, ae] : messages<AppendEntries>(sends)) round = std::max(round, ae.round);
  return round;
}

// Fires the leader's next heartbeat, with everything it persisted made durable; returns what
// it sent.
std::vector<raft_effect::Send> beat(Fixture& f) {
  const Instant due = f.m.next_deadline();
  return settled_sends(f.m, due, f.tick_at(due));
}

VoterSet last_config(const RaftMachine& m) {
  for (Index i = m.log().last_index(); i >= 1; --i) {
    if (m.log().at(i).kind == EntryKind::kConfig)
      return decode<VoterSet>(m.log().at(i).payload).value();
  }
  return {};
}

std::size_t config_entries(const RaftMachine& m) {
  std::size_t n = 0;
  for (Index i = 1; i <= m.log().last_index(); ++i) n += m.log().at(i).kind == EntryKind::kConfig;
  return n;
}

// A, a founded voter of {A, B, C}, bonded with them and with the learners D and E.
Fixture abc_voter_with_learners(Term term) {
  return Fixture(HardState{term, std::nullopt, kMa.incarnation, true},
                 {config_entry(1, {kMa, kMb, kMc})}, {}, fast(),
                 {{kB, false, kMb.incarnation},
                  {kC, false, kMc.incarnation},
                  {kD, false, kMd.incarnation},
                  {kE, false, kMe.incarnation}});
}

// ---- a restart with empty storage is a new incarnation, not the voter it was --------------------

TEST(RaftRules, NewStorageTakesAnIncarnationThatIsDurableBeforeTheMemberSpeaks) {
  RaftMachine m(RaftOptions{kA, fast(), {}, 1}, HardState{}, std::vector<LogEntry>{}, Instant());
  auto effects = drain(m);
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_EQ(persists.size(), 1u);
  ASSERT_TRUE(persists[0].hard_state.has_value());
  EXPECT_NE(persists[0].hard_state->incarnation, 0u);
  EXPECT_EQ(persists[0].hard_state->incarnation, m.hard_state().incarnation);
  // A pre-vote changes nothing, but its answer names the incarnation: it waits too.
  m.handle_message(Instant(), kB,
                   VoteRequest{Header{Digest::zero(), 1, kMb.incarnation, 0}, Cursor{}, true});
  EXPECT_TRUE(only<raft_effect::Send>(drain(m)).empty());
  m.handle_persisted(Instant(), persists[0].token);
  EXPECT_EQ(only<raft_effect::Send>(drain(m)).size(), 1u);
}

TEST(RaftRules, ARestartWithEmptyStorageIsANewNonVotingMember) {
  // A came back with empty storage (incarnation 99) and has caught up the log, whose
  // configuration names A's former incarnation.
  Fixture f(HardState{1, std::nullopt, 99, true}, {config_entry(1, {kMa, kMb, kMc})});
  EXPECT_FALSE(f.m.is_voter());
  auto effects = f.tick_at(f.now + 2s);
  EXPECT_EQ(f.m.role(), Role::kFollower) << "stood for election as the voter it no longer is";
  EXPECT_TRUE(messages<VoteRequest>(only<raft_effect::Send>(effects)).empty());
  EXPECT_EQ(f.m.term(), 1u);
}

TEST(RaftRules, AVoteForOneIncarnationIsNotAVoteForTheNext) {
  Fixture f = abc_voter(2, {}, kMb);  // voted for B's former incarnation in term 2
  auto replies = messages<VoteResponse>(
      f.exchange(kB, VoteRequest{f.from(kMbReborn, 2), f.m.log().last(), false}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second.vote, Vote::kDenied);
  EXPECT_EQ(f.m.hard_state().vote, kMb);
}

TEST(RaftRules, VotesFromAnotherIncarnationOfAVoterAreNotCounted) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  f.exchange(kB, VoteResponse{f.from(kMbReborn, 1), 2, true, Vote::kGranted});
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  f.exchange(kC, VoteResponse{f.from(kMc, 1), 2, true, Vote::kGranted});
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  f.exchange(kB, VoteResponse{f.from(kMbReborn, 2), 2, false, Vote::kGranted});
  EXPECT_EQ(f.m.role(), Role::kCandidate);
  f.exchange(kC, VoteResponse{f.from(kMc, 2), 2, false, Vote::kGranted});
  EXPECT_TRUE(f.m.is_leader());
}

TEST(RaftRules, CopiesStoredByAnotherIncarnationOfAVoterDoNotCommit) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kB, ack(f, kMbReborn, 2));
  EXPECT_EQ(f.m.commit_index(), 1u);
  f.exchange(kC, ack(f, kMc, 2));
  EXPECT_EQ(f.m.commit_index(), 2u);
}

TEST(RaftRules, ReadRoundsEchoedByAnotherIncarnationOfAVoterDoNotConfirm) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kC, ack(f, kMc, 2));
  f.m.read(f.now, 1);
  const std::uint64_t round = round_of(only<raft_effect::Send>(drain(f.m)));
  auto effects = f.feed(kB, ack(f, kMbReborn, 2, round));
  EXPECT_TRUE(only<raft_effect::ReadReady>(effects).empty());
  effects = f.feed(kC, ack(f, kMc, 2, round));
  EXPECT_EQ(only<raft_effect::ReadReady>(effects).size(), 1u);
}

TEST(RaftRules, CheckQuorumCountsNoOtherIncarnationOfAVoter) {
  Fixture f = abc_voter(1);
  f.win();
  const Instant elected = f.now;
  while (f.m.is_leader() && f.now < elected + 2s) {
    const std::uint64_t round = round_of(beat(f));
    f.exchange(kB, ack(f, kMbReborn, 2, round));
  }
  EXPECT_FALSE(f.m.is_leader());
}

// ---- the voters are the last configuration in the log, committed or not -----------------------

TEST(RaftRules, AMemberOutsideTheConfigurationNeverStands) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true}, {config_entry(1, {kMb, kMc, kMd})});
  auto effects = f.tick_at(f.now + 2s);
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_TRUE(messages<VoteRequest>(only<raft_effect::Send>(effects)).empty());
}

TEST(RaftRules, AConfigurationTakesEffectAsSoonAsItIsInTheLog) {
  Fixture f = abc_voter(1);
  f.exchange(kB, AppendEntries{
                     f.from(kMb, 1, 1), Cursor{1, 1}, {config_entry(1, {kMa, kMb, kMc, kMd})}, 1});
  EXPECT_EQ(f.m.commit_index(), 1u) << "the new configuration is not committed";
  EXPECT_EQ(f.m.voters().voters, (std::vector<Member>{kMa, kMb, kMc, kMd}));
}

TEST(RaftRules, ATruncatedConfigurationEntryRevertsToThePreviousOne) {
  Fixture f = abc_voter(1);
  f.exchange(kB, AppendEntries{
                     f.from(kMb, 1, 1), Cursor{1, 1}, {config_entry(1, {kMa, kMb, kMc, kMd})}, 1});
  ASSERT_EQ(f.m.voters().voters.size(), 4u);
  // The next leader never had that entry.
  f.exchange(kC, AppendEntries{f.from(kMc, 2, 1), Cursor{1, 1}, {command(2)}, 1});
  EXPECT_EQ(f.m.log().last(), (Cursor{2, 2}));
  EXPECT_EQ(f.m.voters().voters, (std::vector<Member>{kMa, kMb, kMc}));
}

TEST(RaftRules, ALeaderChangesNoVoterBeforeItCommittedAnEntryOfItsTerm) {
  Fixture f = abc_voter_with_learners(1);
  f.win();
  // The learners are caught up, but no voter has stored the leader's entry of its term.
  f.exchange(kD, ack(f, kMd, 2));
  f.exchange(kE, ack(f, kMe, 2));
  ASSERT_EQ(f.m.commit_index(), 1u);
  beat(f);
  EXPECT_EQ(config_entries(f.m), 1u) << "changed the voters before committing in its term";
  f.exchange(kB, ack(f, kMb, 2));
  ASSERT_EQ(f.m.commit_index(), 2u);
  f.exchange(kD, ack(f, kMd, 2));
  f.exchange(kE, ack(f, kMe, 2));
  beat(f);
  EXPECT_EQ(config_entries(f.m), 2u);
}

TEST(RaftRules, ALeaderChangesOneVoterAtATime) {
  Fixture f = abc_voter_with_learners(1);
  f.win();
  for (const Member& m : {kMb, kMd, kMe}) f.exchange(m.peer, ack(f, m, 2));
  ASSERT_EQ(f.m.commit_index(), 2u);
  beat(f);
  ASSERT_EQ(config_entries(f.m), 2u);
  EXPECT_EQ(last_config(f.m).voters, (std::vector<Member>{kMa, kMb, kMc, kMd}))
      << "one voter added, the most caught up (then the lowest PeerId)";
  EXPECT_EQ(f.m.voters(), last_config(f.m)) << "in effect before it commits";
  const Index change = f.m.log().last_index();
  // E is caught up too, but the change is not committed yet.
  f.exchange(kE, ack(f, kMe, change));
  f.exchange(kB, ack(f, kMb, change));
  beat(f);
  EXPECT_EQ(config_entries(f.m), 2u) << "a second change while the first is uncommitted";
  f.exchange(kD, ack(f, kMd, change));
  ASSERT_EQ(f.m.commit_index(), change);
  f.exchange(kE, ack(f, kMe, change));
  beat(f);
  ASSERT_EQ(config_entries(f.m), 3u);
  EXPECT_EQ(last_config(f.m).voters, (std::vector<Member>{kMa, kMb, kMc, kMd, kMe}));
}

TEST(RaftRules, DeadVotersAreRemovedOneAtATime) {
  Fixture f = voter_in({kMa, kMb, kMc, kMd, kMe}, 1);
  f.win_with({kMb, kMc});
  const Instant elected = f.now;
  // B and C answer every heartbeat; D and E are gone.
  while (config_entries(f.m) == 1 && f.now < elected + 3s) {
    const std::uint64_t round = round_of(beat(f));
    if (config_entries(f.m) > 1) break;
    for (const Member& m : {kMb, kMc}) f.exchange(m.peer, ack(f, m, f.m.log().last_index(), round));
  }
  ASSERT_EQ(config_entries(f.m), 2u);
  EXPECT_EQ(last_config(f.m).voters, (std::vector<Member>{kMa, kMb, kMc, kMe}));
  // E is dead too, but the first removal is not committed yet.
  beat(f);
  EXPECT_EQ(config_entries(f.m), 2u) << "a second removal while the first is uncommitted";
  for (const Member& m : {kMb, kMc}) f.exchange(m.peer, ack(f, m, f.m.log().last_index()));
  beat(f);
  ASSERT_EQ(config_entries(f.m), 3u);
  EXPECT_EQ(last_config(f.m).voters, (std::vector<Member>{kMa, kMb, kMc}));
}

// max_voters below the configuration's size (it was lowered, or this leader's is lower): the
// leader drops the least caught-up voter, one at a time. With every voter caught up, the first
// voter in PeerId order used to be dropped, and that was the leader itself: a leader outside its
// own configuration.
TEST(RaftRules, ALeaderOverMaxVotersDropsAnotherVoterNeverItself) {
  Fixture f(HardState{1, std::nullopt, kMa.incarnation, true},
            {config_entry(1, {kMa, kMb, kMc, kMd, kMe})}, {}, fast().with_max_voters(3),
            {{kB, false, kMb.incarnation},
             {kC, false, kMc.incarnation},
             {kD, false, kMd.incarnation},
             {kE, false, kMe.incarnation}});
  f.win_with({kMb, kMc});
  for (const Member& m : {kMb, kMc, kMd, kMe}) f.exchange(m.peer, ack(f, m, 2));
  ASSERT_EQ(f.m.commit_index(), 2u);
  beat(f);
  ASSERT_EQ(config_entries(f.m), 2u);
  EXPECT_EQ(last_config(f.m).voters.size(), 4u) << "one voter at a time";
  EXPECT_TRUE(f.m.is_voter()) << "the leader dropped itself";
  EXPECT_TRUE(f.m.is_leader());
  f.m.invariants();
}

}  // namespace
}  // namespace smalti::groups
