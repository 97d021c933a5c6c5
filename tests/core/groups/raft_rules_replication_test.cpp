// Raft's AppendEntries receiver rules 1-5 and the rules for leaders (the paper's Figure 2), with
// the rules every server follows on terms and commits, each case pinned by its own test on
// RaftMachine. docs/raft-rules.md maps every rule to its tests.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT: the fixture and its peers

const std::vector<Member> kFive{kMa, kMb, kMc, kMd, kMe};

// What a follower did with one AppendEntries.
struct Handled {
  std::vector<raft_effect::Persist> persists;
  std::vector<raft_effect::Committed> committed;
  AppendResponse reply;
};

Handled deliver(Fixture& f, const PeerId& from, const AppendEntries& ae) {
  auto effects = f.feed(from, ae);
  Handled h{only<raft_effect::Persist>(effects), only<raft_effect::Committed>(effects), {}};
  auto replies = messages<AppendResponse>(settled_sends(f.m, f.now, effects));
  EXPECT_EQ(replies.size(), 1u) << "every AppendEntries is answered, once";
  if (!replies.empty()) {
    EXPECT_EQ(replies[0].first, from);
    EXPECT_EQ(replies[0].second.round, ae.round);
    h.reply = replies[0].second;
  }
  return h;
}

bool truncates(const std::vector<raft_effect::Persist>& persists) {
  for (const auto& p : persists) {
    if (p.truncate_from) return true;
  }
  return false;
}

AppendResponse ack(const Fixture& f, const Member& from, Index index, std::uint64_t round = 0) {
  return AppendResponse{f.from(from, f.m.term()), true, index, round};
}

AppendResponse nack(const Fixture& f, const Member& from, Index retry_from) {
  return AppendResponse{f.from(from, f.m.term()), false, retry_from, 0};
}

// The AppendEntries among `sends` addressed to `to`.
std::vector<AppendEntries> appends_to(const std::vector<raft_effect::Send>& sends,
                                      const PeerId& to) {
  std::vector<AppendEntries> out;
  for (const auto& [peer, ae] : messages<AppendEntries>(sends)) {
    if (peer == to) out.push_back(ae);
  }
  return out;
}

// ---- AppendEntries rule 1: a message of an older term is refused
// ---------------------------------

TEST(RaftRules, AppendEntriesWithLowerTermIsRejected) {
  Fixture f = abc_voter(3, {command(1)});
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 2, 2), Cursor{1, 2}, {command(2)}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_EQ(h.reply.header.term, 3u) << "the answer tells the stale leader the newer term";
  EXPECT_TRUE(h.persists.empty());
  EXPECT_EQ(f.m.log().last_index(), 2u);
  EXPECT_EQ(f.m.commit_index(), 1u);
  EXPECT_FALSE(f.m.leader().has_value());
  EXPECT_EQ(f.m.term(), 3u);
}

TEST(RaftRules, HeartbeatWithLowerTermIsRejected) {
  Fixture f = abc_voter(3, {command(1)});
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 2, 2), Cursor{1, 2}, {}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_EQ(h.reply.header.term, 3u);
  EXPECT_EQ(f.m.commit_index(), 1u);
  EXPECT_FALSE(f.m.leader().has_value());
}

// ---- rule 2: refused unless the log holds the entry before the new ones, with its term
// ------------

TEST(RaftRules, AppendEntriesWhosePrevEntryIsMissingIsRejected) {
  Fixture f = abc_voter(1, {command(1)});
  Handled h =
      deliver(f, kB, AppendEntries{f.from(kMb, 1, 5), Cursor{1, 4}, {command(1), command(1)}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_EQ(h.reply.index, 3u) << "retry from the end of this log";
  EXPECT_EQ(f.m.log().last_index(), 2u);
  EXPECT_EQ(f.m.commit_index(), 1u);
}

TEST(RaftRules, HeartbeatWhosePrevEntryIsMissingIsRejected) {
  Fixture f = abc_voter(1, {command(1)});
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 1, 4), Cursor{1, 4}, {}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_EQ(h.reply.index, 3u);
  EXPECT_EQ(f.m.commit_index(), 1u);
  EXPECT_FALSE(f.m.is_online());
}

TEST(RaftRules, AppendEntriesWhosePrevEntryHasAnotherTermIsRejected) {
  Fixture f = abc_voter(2, {command(1), command(2)});  // index 3 holds term 2
  Handled h = deliver(f, kC, AppendEntries{f.from(kMc, 3, 4), Cursor{3, 3}, {command(3)}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_EQ(h.reply.index, 3u) << "retry from the first entry of the conflicting term";
  EXPECT_FALSE(truncates(h.persists)) << "a mismatch alone deletes nothing";
  for (const auto& p : h.persists) EXPECT_TRUE(p.entries.empty());
  EXPECT_EQ(f.m.log().last(), (Cursor{2, 3}));
  EXPECT_EQ(f.m.commit_index(), 1u);
}

TEST(RaftRules, HeartbeatWhosePrevEntryHasAnotherTermIsRejected) {
  Fixture f = abc_voter(2, {command(1), command(2)});
  Handled h = deliver(f, kC, AppendEntries{f.from(kMc, 3, 3), Cursor{3, 3}, {}, 1});
  EXPECT_FALSE(h.reply.success);
  EXPECT_FALSE(truncates(h.persists));
  EXPECT_EQ(f.m.log().last(), (Cursor{2, 3}));
  EXPECT_EQ(f.m.commit_index(), 1u);
}

TEST(RaftRules, AppendEntriesFromTheStartOfTheLogAlwaysMatches) {
  Fixture f(HardState{0, std::nullopt, kMa.incarnation}, {});
  Handled h = deliver(
      f, kB, AppendEntries{f.from(kMb, 1), Cursor{0, 0}, {config_entry(1, {kMb}), command(1)}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.index, 2u);
  EXPECT_EQ(f.m.log().last_index(), 2u);
}

// ---- rule 3: a conflicting entry goes, with every entry after it --------------------------------

TEST(RaftRules, AConflictingEntryAndAllThatFollowItAreDeleted) {
  Fixture f = abc_voter(2, {command(1, 10), command(2, 20), command(2, 21)});
  Handled h = deliver(f, kC, AppendEntries{f.from(kMc, 3), Cursor{1, 2}, {command(3, 30)}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.index, 3u);
  EXPECT_EQ(f.m.log().last(), (Cursor{3, 3}));
  EXPECT_EQ(f.m.log().at(3).payload, SharedBytes(encode(30u)));
  ASSERT_EQ(h.persists.size(), 1u);
  EXPECT_EQ(h.persists[0].truncate_from, Index{3}) << "the store drops the old suffix";
  EXPECT_EQ(h.persists[0].append_from, 3u);
  ASSERT_EQ(h.persists[0].entries.size(), 1u);
  EXPECT_EQ(h.persists[0].entries[0].term, 3u);
}

TEST(RaftRules, AConflictAmongTheNewEntriesTruncatesFromTheConflictOnly) {
  Fixture f = abc_voter(2, {command(1, 10), command(2, 20), command(2, 21)});
  Handled h = deliver(
      f, kC, AppendEntries{f.from(kMc, 3), Cursor{1, 1}, {command(1, 10), command(3, 30)}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(f.m.log().last(), (Cursor{3, 3}));
  EXPECT_EQ(f.m.log().at(2).payload, SharedBytes(encode(10u)));
  ASSERT_EQ(h.persists.size(), 1u);
  EXPECT_EQ(h.persists[0].truncate_from, Index{3}) << "index 2 matched and stays";
}

// ---- rule 4: entries not yet in the log are appended; those already there stay ------------------

TEST(RaftRules, EntriesAlreadyInTheLogAreNotTruncatedByAShorterAppend) {
  Fixture f = abc_voter(1, {command(1, 10), command(1, 11), command(1, 12)});
  // A delayed copy of an earlier AppendEntries of the same leader.
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {command(1, 10)}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.index, 2u) << "it matches what the message carried";
  EXPECT_EQ(f.m.log().last_index(), 4u);
  EXPECT_FALSE(truncates(h.persists));
}

TEST(RaftRules, AHeartbeatDoesNotTruncateEntriesPastItsPrev) {
  Fixture f = abc_voter(1, {command(1, 10), command(1, 11), command(1, 12)});
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 1), Cursor{1, 2}, {}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.index, 2u);
  EXPECT_EQ(f.m.log().last_index(), 4u);
  EXPECT_FALSE(truncates(h.persists));
}

TEST(RaftRules, OnlyEntriesNotAlreadyInTheLogAreAppended) {
  Fixture f = abc_voter(1, {command(1, 10)});
  Handled h = deliver(
      f, kB, AppendEntries{f.from(kMb, 1), Cursor{1, 1}, {command(1, 10), command(1, 11)}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.index, 3u);
  EXPECT_EQ(f.m.log().last_index(), 3u);
  ASSERT_EQ(h.persists.size(), 1u);
  EXPECT_FALSE(h.persists[0].truncate_from.has_value());
  EXPECT_EQ(h.persists[0].append_from, 3u);
  ASSERT_EQ(h.persists[0].entries.size(), 1u);
  EXPECT_EQ(h.persists[0].entries[0].payload, SharedBytes(encode(11u)));
}

// ---- rule 5: commit index = min(leader's commit, index of the last new entry) -------------------

TEST(RaftRules, CommitIndexFollowsTheLeaderCommitBelowTheLastNewEntry) {
  Fixture f = abc_voter(1);
  Handled h = deliver(
      f, kB,
      AppendEntries{f.from(kMb, 1, 2), Cursor{1, 1}, {command(1), command(1), command(1)}, 1});
  EXPECT_EQ(f.m.log().last_index(), 4u);
  EXPECT_EQ(f.m.commit_index(), 2u);
  ASSERT_EQ(h.committed.size(), 1u);
  EXPECT_EQ(h.committed[0].index, 2u);
}

TEST(RaftRules, CommitIndexStopsAtTheLastNewEntryOfAnAppend) {
  Fixture f = abc_voter(1);
  deliver(f, kB, AppendEntries{f.from(kMb, 1, 9), Cursor{1, 1}, {command(1), command(1)}, 1});
  EXPECT_EQ(f.m.commit_index(), 3u);
}

TEST(RaftRules, CommitIndexStopsAtAHeartbeatsPrevEntryWhateverFollowsIt) {
  // Entries 3 and 4 are of term 1; the leader of term 2 vouches for index 2 only.
  Fixture f = abc_voter(1, {command(1), command(1), command(1)});
  deliver(f, kC, AppendEntries{f.from(kMc, 2, 4), Cursor{1, 2}, {}, 1});
  EXPECT_EQ(f.m.commit_index(), 2u) << "entries past the leader's prev may not be the leader's";
}

TEST(RaftRules, CommitIndexNeverMovesBackwards) {
  Fixture f = abc_voter(1, {command(1), command(1)});
  deliver(f, kB, AppendEntries{f.from(kMb, 1, 3), Cursor{1, 3}, {}, 1});
  ASSERT_EQ(f.m.commit_index(), 3u);
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 1, 2), Cursor{1, 3}, {}, 2});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(f.m.commit_index(), 3u);
  EXPECT_TRUE(h.committed.empty());
  // Nor for an older position: a delayed message that reaches only index 2.
  deliver(f, kB, AppendEntries{f.from(kMb, 1, 3), Cursor{1, 2}, {}, 3});
  EXPECT_EQ(f.m.commit_index(), 3u);
}

TEST(RaftRules, ARejectedAppendEntriesDoesNotMoveTheCommitIndex) {
  Fixture f = abc_voter(2, {command(1), command(2)});
  deliver(f, kC, AppendEntries{f.from(kMc, 3, 3), Cursor{3, 3}, {}, 1});
  EXPECT_EQ(f.m.commit_index(), 1u);
}

// ---- every server: each advance of the commit index is handed out to be applied ----------------

TEST(RaftRules, EachAdvanceOfTheCommitIndexIsReportedForApplying) {
  Fixture f = abc_voter(1, {command(1), command(1)});
  Handled h = deliver(f, kB, AppendEntries{f.from(kMb, 1, 2), Cursor{1, 3}, {}, 1});
  ASSERT_EQ(h.committed.size(), 1u);
  EXPECT_EQ(h.committed[0].index, 2u);
  h = deliver(f, kB, AppendEntries{f.from(kMb, 1, 3), Cursor{1, 3}, {}, 2});
  ASSERT_EQ(h.committed.size(), 1u);
  EXPECT_EQ(h.committed[0].index, 3u);
  h = deliver(f, kB, AppendEntries{f.from(kMb, 1, 3), Cursor{1, 3}, {}, 3});
  EXPECT_TRUE(h.committed.empty()) << "nothing new to apply";
}

// ---- every server: a message of a newer term makes it a follower of that term -------------------

TEST(RaftRules, AppendEntriesWithHigherTermMakesAFollowerAdoptIt) {
  Fixture f = abc_voter(1, {}, kMb);
  Handled h = deliver(f, kC, AppendEntries{f.from(kMc, 3), Cursor{1, 1}, {}, 1});
  EXPECT_TRUE(h.reply.success);
  EXPECT_EQ(h.reply.header.term, 3u);
  EXPECT_EQ(f.m.term(), 3u);
  EXPECT_EQ(f.m.leader(), kC);
  EXPECT_FALSE(f.m.hard_state().vote.has_value()) << "a vote binds its own term only";
  ASSERT_EQ(h.persists.size(), 1u);
  ASSERT_TRUE(h.persists[0].hard_state.has_value());
  EXPECT_EQ(h.persists[0].hard_state->term, 3u);
}

TEST(RaftRules, AppendEntriesWithHigherTermTurnsALeaderIntoAFollower) {
  Fixture f = abc_voter(1);
  f.win();
  f.m.read(f.now, 9);
  drain(f.m);
  auto effects = f.feed(kC, AppendEntries{f.from(kMc, 5), Cursor{1, 1}, {}, 1});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.leader(), kC);
  EXPECT_EQ(f.m.term(), 5u);
  EXPECT_EQ(only<raft_effect::ReadFailed>(effects).size(), 1u);
}

TEST(RaftRules, AppendResponseWithHigherTermTurnsALeaderIntoAFollower) {
  Fixture f = abc_voter(1);
  f.win();
  f.feed(kB, AppendResponse{f.from(kMb, 5), false, 3, 0});
  EXPECT_EQ(f.m.role(), Role::kFollower);
  EXPECT_EQ(f.m.term(), 5u);
  EXPECT_FALSE(f.m.leader().has_value());
}

TEST(RaftRules, AnAppendResponseOfAnOlderTermIsIgnored) {
  Fixture f = abc_voter(1);
  f.win();
  f.feed(kB, AppendResponse{f.from(kMb, 1), true, 2, 0});
  EXPECT_EQ(f.m.commit_index(), 1u) << "counted a copy acknowledged to an older leader";
  f.feed(kB, ack(f, kMb, 2));
  EXPECT_EQ(f.m.commit_index(), 2u);
}

// ---- leaders: announce the term at once, then heartbeat while idle
// -------------------------------

TEST(RaftRules, ANewLeaderSendsAppendEntriesToEveryMemberAtOnce) {
  Fixture f = abc_voter(1);
  f.tick_and_persist(f.now + 1s);
  persist_all(f.m, f.now, f.feed(kB, VoteResponse{f.from(kMb, 1), 2, true, Vote::kGranted}));
  auto sends = f.exchange(kB, VoteResponse{f.from(kMb, 2), 2, false, Vote::kGranted});
  ASSERT_TRUE(f.m.is_leader());
  for (const PeerId& peer : {kB, kC}) {
    auto appends = appends_to(sends, peer);
    ASSERT_EQ(appends.size(), 1u);
    EXPECT_EQ(appends[0].header.term, 2u);
    EXPECT_EQ(appends[0].prev, (Cursor{1, 1}));
  }
}

TEST(RaftRules, AnIdleLeaderSendsAHeartbeatEveryInterval) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kB, ack(f, kMb, 2));
  f.exchange(kC, ack(f, kMc, 2));
  for (int beat = 0; beat < 3; ++beat) {
    const Instant due = f.m.next_deadline();
    EXPECT_EQ(due, f.now + 100ms);
    auto sends = settled_sends(f.m, due, f.tick_at(due));
    for (const PeerId& peer : {kB, kC}) {
      auto appends = appends_to(sends, peer);
      ASSERT_EQ(appends.size(), 1u) << "beat " << beat;
      EXPECT_TRUE(appends[0].entries.empty());
      EXPECT_EQ(appends[0].prev, (Cursor{2, 2}));
      f.exchange(peer, ack(f, peer == kB ? kMb : kMc, 2, appends[0].round));
    }
  }
}

// ---- leaders: a command goes into the leader's log ---------------------------------------------
// (Only a leader takes one: RaftMachine.ProposalsOnlyOnTheLeaderAndBounded.)

TEST(RaftRules, AProposedCommandIsAppendedToTheLeaderLogAndPersisted) {
  Fixture f = abc_voter(1);
  f.win();
  ASSERT_TRUE(f.m.propose(f.now, {encode(77u)}).is_ok());
  EXPECT_EQ(f.m.log().last(), (Cursor{2, 3}));
  EXPECT_EQ(f.m.log().at(3).kind, EntryKind::kCommand);
  auto persists = only<raft_effect::Persist>(drain(f.m));
  ASSERT_EQ(persists.size(), 1u);
  EXPECT_EQ(persists[0].append_from, 3u);
  ASSERT_EQ(persists[0].entries.size(), 1u);
  EXPECT_EQ(persists[0].entries[0].payload, SharedBytes(encode(77u)));
}

// ---- leaders: send each follower the entries from its next index; on success, advance it;
//      on a refusal, go back ---------------------------------------------------------------------

TEST(RaftRules, ALeaderSendsAFollowerTheEntriesFromItsNextIndex) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kB, ack(f, kMb, 2));
  ASSERT_TRUE(f.m.propose(f.now, {encode(3u)}).is_ok());
  auto first = appends_to(settled_sends(f.m, f.now, drain(f.m)), kB);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].prev, (Cursor{2, 2}));
  ASSERT_EQ(first[0].entries.size(), 1u);
  // Index 3 is on its way: the next proposal goes out from index 4, without waiting.
  ASSERT_TRUE(f.m.propose(f.now, {encode(4u)}).is_ok());
  auto second = appends_to(settled_sends(f.m, f.now, drain(f.m)), kB);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].prev, (Cursor{2, 3}));
  ASSERT_EQ(second[0].entries.size(), 1u);
  EXPECT_EQ(second[0].entries[0].payload, SharedBytes(encode(4u)));
}

TEST(RaftRules, ASuccessfulAppendResponseAdvancesTheFollowersMatchAndNextIndex) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kC, nack(f, kMc, 2));
  auto sends = f.exchange(kC, ack(f, kMc, 2));
  EXPECT_EQ(f.m.commit_index(), 2u) << "C's match index counts";
  auto appends = appends_to(sends, kC);
  ASSERT_FALSE(appends.empty());
  EXPECT_EQ(appends.back().prev, (Cursor{2, 2})) << "C's next index is past what it stores";
  EXPECT_TRUE(appends.back().entries.empty());
}

TEST(RaftRules, AFailedAppendResponseMakesTheLeaderRetryFromEarlier) {
  Fixture f = abc_voter(1);
  f.win();
  ASSERT_TRUE(f.m.propose(f.now, {encode(3u), encode(4u)}).is_ok());
  persist_all(f.m, f.now, drain(f.m));
  auto appends = appends_to(f.exchange(kC, nack(f, kMc, 2)), kC);
  ASSERT_EQ(appends.size(), 1u);
  EXPECT_EQ(appends[0].prev, (Cursor{1, 1}));
  ASSERT_EQ(appends[0].entries.size(), 3u);
  EXPECT_EQ(appends[0].entries[0].kind, EntryKind::kNoop);
}

TEST(RaftRules, ARefusalNeverMovesTheNextIndexAtOrBelowTheMatchIndex) {
  Fixture f = abc_voter(1);
  f.win();
  f.exchange(kB, ack(f, kMb, 2));
  // A refusal from before B caught up, delivered late.
  auto appends = appends_to(f.exchange(kB, nack(f, kMb, 1)), kB);
  ASSERT_EQ(appends.size(), 1u);
  EXPECT_EQ(appends[0].prev, (Cursor{2, 2}));
}

// ---- leaders: commit the highest entry of the term that a majority stores -----------------------
// (Only of its term: RaftMachine.ALeaderCommitsEarlierTermEntriesOnlyThroughOneOfItsOwn.)

TEST(RaftRules, ALeaderCommitsAnEntryOnceAMajorityStoresIt) {
  Fixture f = voter_in(kFive, 1);
  f.win_with({kMb, kMc});
  f.exchange(kB, ack(f, kMb, 2));
  EXPECT_EQ(f.m.commit_index(), 1u) << "two copies of five";
  auto effects = f.feed(kC, ack(f, kMc, 2));
  EXPECT_EQ(f.m.commit_index(), 2u);
  auto committed = only<raft_effect::Committed>(effects);
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].index, 2u);
}

TEST(RaftRules, ALeaderCommitsTheHighestIndexAMajorityStores) {
  Fixture f = voter_in(kFive, 1);
  f.win_with({kMb, kMc});
  ASSERT_TRUE(f.m.propose(f.now, {encode(3u), encode(4u), encode(5u)}).is_ok());
  persist_all(f.m, f.now, drain(f.m));
  f.exchange(kD, ack(f, kMd, 3));
  EXPECT_EQ(f.m.commit_index(), 1u);
  f.exchange(kC, ack(f, kMc, 4));
  EXPECT_EQ(f.m.commit_index(), 3u) << "A, C and D store index 3";
  f.exchange(kB, ack(f, kMb, 5));
  EXPECT_EQ(f.m.commit_index(), 4u) << "A, B and C store index 4; only two store index 5";
}

}  // namespace
}  // namespace smalti::groups
