// How a group is founded: with bootstrap_expect above half the group, two foundings can never
// both commit (the bug the forming-phase property test found: a founder counted a member that
// had crashed, and a second founding on the other side of a partition committed too).
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

ConsensusConfig expecting(std::uint32_t members) {
  return fast().with_bootstrap_expect(members);
}

VoteResponse granted(const Member& voter, Term term) {
  return VoteResponse{Header{Digest::zero(), term, voter.incarnation, 0}, term, false,
                      Vote::kGranted};
}

VoteResponse pre_vote_granted(const Member& voter, const RaftMachine& m) {
  return VoteResponse{Header{Digest::zero(), m.term(), voter.incarnation, 0}, m.term() + 1, true,
                      Vote::kGranted};
}

// Times out into the founding pre-vote; returns the requests it sent.
std::vector<raft_effect::Send> time_out(Fixture& f) {
  f.now = f.now + 1s;
  f.m.handle_timeout(f.now);
  auto effects = drain(f.m);
  persist_all(f.m, f.now, effects);
  return only<raft_effect::Send>(effects);
}

AppendResponse stored(const Member& member, const RaftMachine& m, Index index) {
  return AppendResponse{Header{m.cluster(), m.term(), member.incarnation, 0}, true, index, 0};
}

VoterSet founding_config(const RaftMachine& m) {
  return decode<VoterSet>(m.log().at(1).payload).value();
}

// The founder used to lead at once with every bonded member in the founding configuration,
// including one that had just crashed: its majority was then two live members of three.
TEST(RaftFounding, AFounderNeedsBootstrapExpectVotesAndTakesOnlyItsVoters) {
  Fixture f(
      HardState{0, std::nullopt, kMa.incarnation}, {}, {}, expecting(3),
      {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}, {kD, false, kMd.incarnation}});
  EXPECT_EQ(time_out(f).size(), 3u) << "every bonded member is asked";
  EXPECT_EQ(f.m.role(), Role::kPreCandidate);
  EXPECT_EQ(f.m.term(), 0u) << "a pre-vote changes no term";
  EXPECT_TRUE(f.m.log().empty()) << "founded without a single vote";
  persist_all(f.m, f.now, f.feed(kB, pre_vote_granted(kMb, f.m)));
  EXPECT_EQ(f.m.role(), Role::kPreCandidate) << "two pre-votes of the three expected";
  persist_all(f.m, f.now, f.feed(kD, pre_vote_granted(kMd, f.m)));
  ASSERT_EQ(f.m.role(), Role::kCandidate);
  persist_all(f.m, f.now, f.feed(kB, granted(kMb, f.m.term())));
  EXPECT_FALSE(f.m.is_leader()) << "two votes of the three expected";
  persist_all(f.m, f.now, f.feed(kD, granted(kMd, f.m.term())));
  ASSERT_TRUE(f.m.is_leader());
  EXPECT_EQ(founding_config(f.m).voters, (std::vector<Member>{kMa, kMb, kMd}))
      << "C did not vote: it may be gone";
}

// Until the founding entry is known committed, a commit needs bootstrap_expect stored copies
// (any members'), not only a majority of the founding configuration.
TEST(RaftFounding, TheFoundingCommitsWithBootstrapExpectCopiesOnly) {
  Fixture f(
      HardState{0, std::nullopt, kMa.incarnation}, {}, {}, expecting(3),
      {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}, {kD, false, kMd.incarnation}});
  time_out(f);
  persist_all(f.m, f.now, f.feed(kB, pre_vote_granted(kMb, f.m)));
  persist_all(f.m, f.now, f.feed(kC, pre_vote_granted(kMc, f.m)));
  persist_all(f.m, f.now, f.feed(kB, granted(kMb, f.m.term())));
  persist_all(f.m, f.now, f.feed(kC, granted(kMc, f.m.term())));
  ASSERT_TRUE(f.m.is_leader());
  const Index noop = f.m.log().last_index();
  ASSERT_EQ(noop, 2u);
  // The founding configuration is {A, B, C} with a majority of two; A and B are not three.
  persist_all(f.m, f.now, f.feed(kB, stored(kMb, f.m, noop)));
  EXPECT_EQ(f.m.commit_index(), 0u);
  EXPECT_FALSE(f.m.hard_state().founded);
  // D is no founding voter, but a third member of the group: now no other founding can commit.
  auto effects = f.feed(kD, stored(kMd, f.m, noop));
  EXPECT_EQ(f.m.commit_index(), noop);
  ASSERT_FALSE(only<raft_effect::Persist>(effects).empty());
  EXPECT_TRUE(only<raft_effect::Persist>(effects).back().hard_state->founded)
      << "a restart must know the founding committed";
}

// A member whose founding is not known committed needs bootstrap_expect votes from the group
// besides its configuration's majority; once it knows, the majority is enough.
TEST(RaftFounding, ElectionsCountTheGroupUntilTheFoundingIsKnownCommitted) {
  for (bool founded : {false, true}) {
    Fixture f(
        HardState{1, std::nullopt, kMa.incarnation, founded}, {config_entry(1, {kMa, kMb, kMc})},
        {}, expecting(3),
        {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}, {kD, false, kMd.incarnation}});
    f.now = f.now + 1s;
    f.m.handle_timeout(f.now);
    auto effects = drain(f.m);
    auto asked = only<raft_effect::Send>(effects);
    persist_all(f.m, f.now, effects);
    EXPECT_EQ(asked.size(), founded ? 2u : 3u) << "founded " << founded;
    const Term next = f.m.term() + 1;
    auto pre_vote = [&](const Member& v) {
      return VoteResponse{Header{f.m.cluster(), f.m.term(), v.incarnation, 0}, next, true,
                          Vote::kGranted};
    };
    persist_all(f.m, f.now, f.feed(kB, pre_vote(kMb)));
    EXPECT_EQ(f.m.role(), founded ? Role::kCandidate : Role::kPreCandidate) << founded;
    if (!founded) {
      persist_all(f.m, f.now, f.feed(kD, pre_vote(kMd)));
      EXPECT_EQ(f.m.role(), Role::kCandidate);
    }
  }
}

}  // namespace
}  // namespace smalti::groups
