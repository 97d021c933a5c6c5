// RaftMachine snapshots (raft_snapshot.cpp): taking one prunes the log behind a stored snapshot,
// a leader offers its log from its start, and a follower that needs pruned entries fetches the
// snapshot in chunks from the members that offer it, checks it, installs it and restores.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the fixtures of these tests

// A's log: the {A, B, C} configuration and `n` commands of term 1, all committed by B's copy.
Fixture leader_with(std::size_t n) {
  std::vector<LogEntry> tail;
  for (std::size_t i = 0; i < n; ++i) tail.push_back(command(1, static_cast<std::uint32_t>(i)));
  Fixture f = abc_voter(1, std::move(tail));
  f.win();  // term 2, a no-op at n + 2
  const Index last = f.m.log().last_index();
  persist_all(f.m, f.now, f.feed(kB, AppendResponse{f.from(kMb, f.m.term()), true, last, 0}));
  EXPECT_EQ(f.m.commit_index(), last);
  return f;
}

TEST(RaftSnapshot, TakingOneStoresItAndPrunesTheLogUpToTheTailKept) {
  Fixture f = leader_with(10);  // entries 1..12
  EXPECT_EQ(f.m.take_snapshot(f.now, 13, Bytes{1}, 0).code(), StatusCode::kInvalidArgument)
      << "a snapshot past the commit index";
  ASSERT_TRUE(f.m.take_snapshot(f.now, 9, Bytes{9, 9}, 3).is_ok());
  auto persists = only<raft_effect::Persist>(drain(f.m));
  ASSERT_EQ(persists.size(), 1u);
  const raft_effect::Persist& p = persists[0];
  ASSERT_TRUE(p.snapshot);
  EXPECT_EQ(p.snapshot->meta.index, 9u);
  EXPECT_EQ(p.snapshot->meta.term, 1u);
  EXPECT_EQ(p.snapshot->meta.cluster, f.m.cluster());
  EXPECT_EQ(p.snapshot->meta.config.voters.size(), 3u);
  EXPECT_EQ(p.snapshot->meta.digest, Digest::hash(Bytes{9, 9}));
  ASSERT_TRUE(p.prune_through);
  EXPECT_EQ(*p.prune_through, (Cursor{1, 6}));
  EXPECT_EQ(f.m.log().base(), (Cursor{1, 6}));
  EXPECT_EQ(f.m.log().first_index(), 7u);
  EXPECT_EQ(f.m.take_snapshot(f.now, 9, Bytes{}, 0).code(), StatusCode::kInvalidArgument)
      << "a snapshot not after the latest";
  f.m.invariants();
}

TEST(RaftSnapshot, ALeaderOffersAFollowerBehindItsLogStartItsLogFromThere) {
  Fixture f = leader_with(10);
  ASSERT_TRUE(f.m.take_snapshot(f.now, 12, Bytes{1, 2, 3}, 2).is_ok());
  persist_all(f.m, f.now, drain(f.m));
  // C answers that it holds nothing: the leader can only start from its log's start.
  auto sends = f.exchange(kC, AppendResponse{f.from(kMc, f.m.term()), false, 1, 0});
  auto appends = messages<AppendEntries>(sends);
  ASSERT_FALSE(appends.empty());
  const AppendEntries& ae = appends.back().second;
  EXPECT_EQ(ae.prev, (Cursor{1, 10}));
  EXPECT_EQ(ae.log_start, 11u);
}

// A follower with only the configuration entry, whose leader (B) pruned far past it: it asks
// every member what they serve, fetches the snapshot the others offer in chunks (from C, the
// leader last), installs it and restores.
TEST(RaftSnapshot, AFollowerBehindPrunedLogsFetchesChecksAndInstallsASnapshot) {
  Fixture f = abc_voter(2);
  const Bytes state(kSnapshotChunkBytes + 10, 0x42);  // two chunks
  const SnapshotMeta meta{
      40, 2, f.m.cluster(), VoterSet{{kMa, kMb, kMc}}, state.size(), Digest::hash(state)};
  Header leader = f.from(kMb, 2, 45);
  auto sends = f.exchange(kB, AppendEntries{leader, Cursor{2, 41}, {command(2)}, 0, 42});
  EXPECT_EQ(messages<SyncAvailability>(sends).size(), 2u) << "asks B and C what they serve";
  ASSERT_TRUE(f.m.catching_up());
  // C answers first; then B. Both offer the same snapshot and serve only from 41 on.
  sends = f.exchange(kC, SyncAvailability{f.from(kMc, 2, 45), false, 41, 45, meta});
  auto fetches = messages<SnapshotFetch>(sends);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].first, kC);
  EXPECT_EQ(fetches[0].second.offset, 0u);
  sends = f.exchange(kB, SyncAvailability{leader, false, 41, 45, meta});
  fetches = messages<SnapshotFetch>(sends);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].first, kB);
  EXPECT_EQ(fetches[0].second.offset, kSnapshotChunkBytes);
  auto chunk = [&](const Header& h, std::uint64_t offset, SharedBytes data) {
    return SnapshotChunk{h,      40,   meta.digest,
                         offset, data, snapshot_chunk_checksum(40, offset, data.view())};
  };
  const SharedBytes whole(state);
  // B's chunk arrives damaged (a checksum for other bytes): B is dropped, C is asked for it.
  SnapshotChunk damaged = chunk(leader, kSnapshotChunkBytes, whole.part(kSnapshotChunkBytes, 10));
  damaged.checksum = Digest::zero();
  f.exchange(kB, damaged);
  sends = f.exchange(kC, chunk(f.from(kMc, 2, 45), 0, whole.part(0, kSnapshotChunkBytes)));
  fetches = messages<SnapshotFetch>(sends);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].first, kC);
  EXPECT_EQ(fetches[0].second.offset, kSnapshotChunkBytes);
  f.m.handle_message(
      f.now, kC,
      chunk(f.from(kMc, 2, 45), kSnapshotChunkBytes, whole.part(kSnapshotChunkBytes, 10)));
  auto effects = drain(f.m);
  auto restores = only<raft_effect::Restore>(effects);
  ASSERT_EQ(restores.size(), 1u);
  EXPECT_EQ(restores[0].index, 40u);
  auto persists = only<raft_effect::Persist>(effects);
  ASSERT_FALSE(persists.empty());
  ASSERT_TRUE(persists[0].snapshot);
  EXPECT_EQ(persists[0].snapshot->data, whole);
  ASSERT_TRUE(persists[0].reset_to);
  EXPECT_EQ(*persists[0].reset_to, (Cursor{2, 40}));
  EXPECT_EQ(f.m.commit_index(), 40u);
  EXPECT_EQ(f.m.log().base(), (Cursor{2, 40}));
  ASSERT_TRUE(f.m.snapshot());
  EXPECT_EQ(f.m.snapshot()->meta, meta);
  const auto& stats = f.m.catch_up_stats();
  EXPECT_EQ(stats.snapshots_installed, 1u);
  EXPECT_EQ(stats.snapshot_chunks, 2u);
  f.m.invariants();
}

// Members that pruned their logs through their commit index (a snapshot keeping no tail) serve
// no committed entry at all, only the snapshot: it is fetched all the same. (Found by the
// durable group property: three of five members waited for entries forever.)
TEST(RaftSnapshot, AMemberThatServesNoEntryButASnapshotIsFetchedFrom) {
  Fixture f = abc_voter(2);
  const Bytes state(10, 0x42);
  const SnapshotMeta meta{
      40, 2, f.m.cluster(), VoterSet{{kMa, kMb, kMc}}, state.size(), Digest::hash(state)};
  Header leader = f.from(kMb, 2, 40);
  f.exchange(kB, AppendEntries{leader, Cursor{2, 41}, {command(2)}, 0, 41});
  ASSERT_TRUE(f.m.catching_up());
  // B holds entries from 41 on but has committed only 40: nothing to serve but the snapshot.
  auto sends = f.exchange(kB, SyncAvailability{leader, false, 41, 40, meta});
  auto fetches = messages<SnapshotFetch>(sends);
  ASSERT_EQ(fetches.size(), 1u) << "the snapshot offer was ignored";
  EXPECT_EQ(fetches[0].first, kB);
  f.m.handle_message(f.now, kB,
                     SnapshotChunk{leader, 40, meta.digest, 0, SharedBytes(state),
                                   snapshot_chunk_checksum(40, 0, ByteView(state))});
  EXPECT_EQ(only<raft_effect::Restore>(drain(f.m)).size(), 1u);
  EXPECT_EQ(f.m.commit_index(), 40u);
  f.m.invariants();
}

// Chunks from members whose snapshots differ byte for byte do not add up: the transfer starts
// over with the leader alone, and nothing is installed.
TEST(RaftSnapshot, ChunksThatDoNotAddUpAreNeverInstalled) {
  Fixture f = abc_voter(2);
  const Bytes state(10, 0x42);
  SnapshotMeta meta{40,
                    2,
                    f.m.cluster(),
                    VoterSet{{kMa, kMb, kMc}},
                    state.size(),
                    Digest::hash(Bytes(10, 0x43))};  // the digest of other bytes
  Header leader = f.from(kMb, 2, 45);
  f.exchange(kB, AppendEntries{leader, Cursor{2, 41}, {}, 0, 42});
  f.exchange(kC, SyncAvailability{f.from(kMc, 2, 45), false, 41, 45, meta});
  const SharedBytes data(state);
  auto effects = f.feed(kC, SnapshotChunk{f.from(kMc, 2, 45), 40, meta.digest, 0, data,
                                          snapshot_chunk_checksum(40, 0, data.view())});
  EXPECT_TRUE(only<raft_effect::Restore>(effects).empty());
  EXPECT_EQ(f.m.catch_up_stats().snapshot_mismatches, 1u);
  EXPECT_EQ(f.m.commit_index(), 1u);
  EXPECT_EQ(f.m.log().base(), Cursor{});
}

}  // namespace
}  // namespace smalti::groups
