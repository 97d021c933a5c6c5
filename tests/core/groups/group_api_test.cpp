// Pieces of the group API that need no network: the log replay settings in the GroupId, the
// batch a member serves, and CursorWatcher's conditions.
#include <gtest/gtest.h>

#include "core/groups/raft_test_support.hpp"
#include "core/runtime/fake_executor.hpp"
#include "smalti/groups/groups.hpp"

namespace smalti::groups::test {
namespace {

TEST(GroupLogReplay, TheBatchSizeIsInTheGroupIdAsInMosaiksSignature) {
  const LogReplayConfig standard;
  EXPECT_EQ(standard.batch_size, 2000u) << "mosaik's default";
  EXPECT_TRUE(standard.validate().is_ok());
  EXPECT_FALSE(LogReplayConfig{}.with_batch_size(0).validate().is_ok());
  EXPECT_FALSE(LogReplayConfig{}.with_batch_size(kMaxLogReplayBatch + 1).validate().is_ok());
  EXPECT_TRUE(LogReplayConfig{}.with_batch_size(kMaxLogReplayBatch).validate().is_ok());

  // signature = BLAKE3("smalti_log_replay_sync.v1").derive(u64 LE batch size)
  const std::uint8_t le2000[8] = {0xd0, 0x07, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(standard.signature(),
            Digest::from_string("smalti_log_replay_sync.v1").derive(ByteView(le2000, 8)));
  const LogReplayConfig small = LogReplayConfig{}.with_batch_size(100);
  EXPECT_NE(small.signature(), standard.signature());
  const GroupKey key = GroupKey::from_secret("k");
  const Digest sm = Digest::from_string("sm");
  EXPECT_NE(derive_group_id(key, ConsensusConfig{}, sm, standard.signature(), {}),
            derive_group_id(key, ConsensusConfig{}, sm, small.signature(), {}));
}

// A lone voter that leads and has committed ten commands, serving log replay in batches of 3.
TEST(GroupLogReplay, AMemberServesAtMostItsBatchSizePerFetch) {
  std::vector<LogEntry> log{config_entry(1, {kMa})};
  for (int i = 0; i < 10; ++i) log.push_back(LogEntry{1, EntryKind::kCommand, encode(i)});
  RaftMachine m(RaftOptions{.self = kA,
                            .consensus = fast(),
                            .seed = 1,
                            .log_replay = LogReplayConfig{}.with_batch_size(3)},
                HardState{1, std::nullopt, kMa.incarnation, true}, log, Instant());
  Instant now;
  persist_all(m, now, drain(m));
  for (int i = 0; i < 4 && m.commit_index() < 11; ++i) {
    now = now + 1s;
    m.handle_timeout(now);
    persist_all(m, now, drain(m));
  }
  ASSERT_TRUE(m.is_leader());
  ASSERT_GE(m.commit_index(), 11u);
  m.handle_message(now, kB, SyncFetch{Header{m.cluster(), m.term(), kMb.incarnation, 0}, 2, 11});
  auto sends = only<raft_effect::Send>(drain(m));
  ASSERT_EQ(sends.size(), 1u);
  const auto& served = std::get<SyncEntries>(*sends[0].message);
  EXPECT_EQ(served.from, 2u);
  EXPECT_EQ(served.entries.size(), 3u);
}

// ---- CursorWatcher --------------------------------------------------------------------------

class GroupCursorWatcher : public ::testing::Test {
 protected:
  CursorWatcher<Index> watch() {
    return CursorWatcher<Index>(
        signal_, clock_, [this] { return value_; }, [this] { return changes_; });
  }
  void set(Index v) {
    value_ = v;
    ++changes_;
    signal_.notify();
  }
  test_support::FakeClock clock_;
  test_support::FakeExecutor executor_{clock_};
  Signal signal_{executor_};
  Index value_ = 5;
  std::uint64_t changes_ = 0;
};

TEST_F(GroupCursorWatcher, ConditionsCompareWithThePositionWhenTheWatcherWasMade) {
  auto w = watch();
  EXPECT_EQ(w.initial(), 5u);
  auto changed = w.changed(), advanced = w.advanced(), reverted = w.reverted();
  auto reaches = w.reaches(7);
  EXPECT_FALSE(changed.is_met() || advanced.is_met() || reverted.is_met() || reaches.is_met());
  EXPECT_TRUE(w.reaches(5).is_met());
  set(6);
  EXPECT_TRUE(changed.is_met());
  EXPECT_TRUE(advanced.is_met());
  EXPECT_FALSE(reverted.is_met());
  EXPECT_FALSE(reaches.is_met());
  set(7);
  EXPECT_TRUE(reaches.is_met());
  set(2);
  EXPECT_TRUE(reverted.is_met());
  EXPECT_FALSE(advanced.is_met());
  EXPECT_EQ(w.current(), 2u);
}

TEST_F(GroupCursorWatcher, AChangeThatComesBackStillCounts) {
  auto w = watch();
  bool fired = false;
  auto sub = w.changed().on_met([&] { fired = true; });
  set(9);
  set(5);
  executor_.run_posted();
  EXPECT_TRUE(fired);
  EXPECT_FALSE(w.advanced().is_met());
}

TEST(GroupCursorWatcherOfCursor, ReachesByItsIndexAndOrdersByTerm) {
  test_support::FakeClock clock;
  test_support::FakeExecutor executor(clock);
  Signal signal(executor);
  Cursor at{3, 10};
  CursorWatcher<Cursor> w(
      signal, clock, [&] { return at; }, [] { return std::uint64_t{0}; });
  EXPECT_TRUE(w.reaches(10).is_met());
  EXPECT_FALSE(w.reaches(11).is_met());
  at = Cursor{4, 8};  // a later term: after, by Raft's order
  EXPECT_TRUE(w.advanced().is_met());
  EXPECT_FALSE(w.reaches(10).is_met());
}

}  // namespace
}  // namespace smalti::groups::test
