// MemoryStores: what load() returns is what the last sync() made durable on the medium, sync
// copies every truncation and append, the medium outlives the stores and keeps one slot per
// group, and the sync callback runs later on the executor, never after the stores are gone.
#include "smalti/groups/stores.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "core/runtime/fake_executor.hpp"
#include "smalti/base/rng.hpp"

namespace smalti::groups {
namespace {

const GroupId kGroup = Digest::from_string("stores-test-group");
const GroupId kOtherGroup = Digest::from_string("stores-test-other-group");
const HardState kState{3, Member{PeerId{Digest::from_u64(2)}, 7}, 11};

LogEntry entry(Term term, std::uint32_t value) {
  return LogEntry{term, EntryKind::kCommand, encode(value)};
}

// Entries for indexes first..last (value = index), all of `term`.
std::vector<LogEntry> entries(Index first, Index last, Term term) {
  std::vector<LogEntry> out;
  for (Index i = first; i <= last; ++i) out.push_back(entry(term, static_cast<std::uint32_t>(i)));
  return out;
}

class MemoryStoresTest : public ::testing::Test {
 protected:
  // Syncs and runs the callback; fails the test unless it reported ok exactly once.
  void sync(MemoryStores& stores) {
    int calls = 0;
    stores.sync([&](Status s) {
      EXPECT_TRUE(s.is_ok()) << s.message();
      ++calls;
    });
    executor_.run_posted();
    EXPECT_EQ(calls, 1);
  }
  std::vector<LogEntry> load_log(MemoryStores& stores) {
    auto log = stores.load_log();
    EXPECT_TRUE(log.is_ok());
    return log.is_ok() ? *log : std::vector<LogEntry>{};
  }
  // What the medium holds, as a vector to compare with.
  std::vector<LogEntry> durable_log(const GroupId& group = kGroup) {
    const auto& log = medium_->slot(group).log;
    return {log.begin(), log.end()};
  }
  HardState load_state(MemoryStores& stores) {
    auto state = stores.load_state();
    EXPECT_TRUE(state.is_ok());
    return state.is_ok() ? *state : HardState{};
  }

  test_support::FakeClock clock_;
  test_support::FakeExecutor executor_{clock_};
  std::shared_ptr<MemoryMedium> medium_ = std::make_shared<MemoryMedium>();
};

TEST_F(MemoryStoresTest, WritesReachLoadOnlyThroughSync) {
  MemoryStores stores(executor_, medium_, kGroup);
  stores.save(kState);
  stores.append(1, entries(1, 3, 1));
  // load reads the durable medium, which has nothing yet.
  EXPECT_EQ(load_state(stores), HardState{});
  EXPECT_TRUE(load_log(stores).empty());
  EXPECT_TRUE(medium_->slot(kGroup).log.empty());
  sync(stores);
  EXPECT_EQ(load_state(stores), kState);
  EXPECT_EQ(load_log(stores), entries(1, 3, 1));
  EXPECT_EQ(medium_->slot(kGroup).hard_state, kState);
  // A later write is again invisible until the next sync.
  stores.truncate_from(2);
  HardState later = kState;
  later.term = 4;
  stores.save(later);
  EXPECT_EQ(load_log(stores), entries(1, 3, 1));
  EXPECT_EQ(load_state(stores), kState);
  sync(stores);
  EXPECT_EQ(load_log(stores), entries(1, 1, 1));
  EXPECT_EQ(load_state(stores), later);
}

TEST_F(MemoryStoresTest, SyncCopiesTruncationsAndAppends) {
  MemoryStores stores(executor_, medium_, kGroup);
  stores.append(1, entries(1, 5, 1));
  sync(stores);
  ASSERT_EQ(durable_log(), entries(1, 5, 1));

  // A new leader's entries replace the tail from index 3.
  stores.truncate_from(3);
  stores.append(3, entries(3, 4, 2));
  sync(stores);
  std::vector<LogEntry> expected = entries(1, 2, 1);
  for (const LogEntry& e : entries(3, 4, 2)) expected.push_back(e);
  EXPECT_EQ(durable_log(), expected);

  // An append over existing entries replaces them without a truncation first.
  stores.append(2, {entry(3, 99)});
  sync(stores);
  EXPECT_EQ(durable_log(), (std::vector<LogEntry>{entry(1, 1), entry(3, 99)}));

  // A truncation alone shrinks the medium; truncating everything empties it.
  stores.truncate_from(2);
  sync(stores);
  EXPECT_EQ(durable_log(), entries(1, 1, 1));
  stores.truncate_from(1);
  sync(stores);
  EXPECT_TRUE(medium_->slot(kGroup).log.empty());
  // Past the end: nothing to remove, nothing breaks.
  stores.append(1, entries(1, 2, 5));
  stores.truncate_from(9);
  sync(stores);
  EXPECT_EQ(durable_log(), entries(1, 2, 5));
}

// Random truncations, appends and syncs against a plain vector: after every sync the medium
// holds exactly the model's log.
TEST_F(MemoryStoresTest, SyncMatchesAModelUnderRandomWrites) {
  Rng rng(2024);
  MemoryStores stores(executor_, medium_, kGroup);
  std::vector<LogEntry> model;
  for (int step = 0; step < 2000; ++step) {
    switch (rng.below(3)) {
      case 0: {
        const Index from = 1 + rng.below(model.size() + 3);
        stores.truncate_from(from);
        if (from <= model.size()) model.resize(from - 1);
        break;
      }
      case 1: {
        const Index at = 1 + rng.below(model.size() + 1);
        std::vector<LogEntry> batch;
        for (std::uint64_t n = rng.below(4); n > 0; --n) {
          batch.push_back(entry(rng.below(5), static_cast<std::uint32_t>(step)));
        }
        stores.append(at, batch);
        model.resize(at - 1);
        model.insert(model.end(), batch.begin(), batch.end());
        break;
      }
      default:
        sync(stores);
        ASSERT_EQ(load_log(stores), model) << "after step " << step;
        break;
    }
  }
}

TEST_F(MemoryStoresTest, TheMediumOutlivesTheStores) {
  {
    MemoryStores stores(executor_, medium_, kGroup);
    stores.save(kState);
    stores.append(1, entries(1, 4, 2));
    sync(stores);
    // Written but never synced: lost with the stores, as in a crash.
    stores.append(5, entries(5, 6, 2));
    stores.save(HardState{9, std::nullopt, 11});
  }
  MemoryStores reopened(executor_, medium_, kGroup);
  EXPECT_EQ(load_state(reopened), kState);
  EXPECT_EQ(load_log(reopened), entries(1, 4, 2));
  // The reopened stores continue the durable log where it ends.
  reopened.append(5, entries(5, 5, 3));
  sync(reopened);
  std::vector<LogEntry> expected = entries(1, 4, 2);
  expected.push_back(entries(5, 5, 3)[0]);
  EXPECT_EQ(load_log(reopened), expected);
  EXPECT_EQ(load_state(reopened), kState) << "the reopened stores lost the durable hard state";
}

TEST_F(MemoryStoresTest, WithoutAMediumTheStoresAreVolatile) {
  {
    MemoryStores stores(executor_, nullptr, kGroup);
    stores.save(kState);
    stores.append(1, entries(1, 2, 1));
    sync(stores);
    EXPECT_EQ(load_log(stores), entries(1, 2, 1));
    EXPECT_EQ(load_state(stores), kState);
  }
  MemoryStores fresh(executor_, nullptr, kGroup);
  EXPECT_TRUE(load_log(fresh).empty());
  EXPECT_EQ(load_state(fresh), HardState{});
  EXPECT_TRUE(medium_->slot(kGroup).log.empty());
}

TEST_F(MemoryStoresTest, DifferentGroupsUseDifferentSlots) {
  MemoryStores first(executor_, medium_, kGroup);
  MemoryStores second(executor_, medium_, kOtherGroup);
  first.save(kState);
  first.append(1, entries(1, 3, 1));
  sync(first);
  EXPECT_TRUE(load_log(second).empty());
  EXPECT_EQ(load_state(second), HardState{});
  const HardState other{5, std::nullopt, 12};
  second.save(other);
  second.append(1, entries(1, 1, 4));
  sync(second);
  EXPECT_EQ(load_log(first), entries(1, 3, 1));
  EXPECT_EQ(load_state(first), kState);
  EXPECT_EQ(durable_log(), entries(1, 3, 1));
  EXPECT_EQ(durable_log(kOtherGroup), entries(1, 1, 4));
  EXPECT_EQ(medium_->slot(kOtherGroup).hard_state, other);
}

TEST_F(MemoryStoresTest, TheSyncCallbackRunsOnTheExecutorInOrder) {
  MemoryStores stores(executor_, medium_, kGroup);
  std::vector<int> calls;
  stores.append(1, entries(1, 1, 1));
  stores.sync([&](Status s) {
    EXPECT_TRUE(s.is_ok());
    calls.push_back(1);
  });
  stores.sync([&](Status s) {
    EXPECT_TRUE(s.is_ok());
    calls.push_back(2);
  });
  EXPECT_TRUE(calls.empty()) << "sync called back inline";
  EXPECT_EQ(executor_.pending_posts(), 2u);
  executor_.run_posted();
  EXPECT_EQ(calls, (std::vector<int>{1, 2}));
}

TEST_F(MemoryStoresTest, NoCallbackAfterTheStoresAreDestroyed) {
  auto stores = std::make_unique<MemoryStores>(executor_, medium_, kGroup);
  bool called = false;
  stores->append(1, entries(1, 2, 1));
  stores->sync([&](Status) { called = true; });
  stores.reset();
  EXPECT_EQ(executor_.run_posted(), 1u);
  EXPECT_FALSE(called) << "the callback ran after its stores were destroyed";
  // The sync never completed: its writes are lost, as a crash loses what was not yet synced.
  EXPECT_TRUE(durable_log().empty());
}

// ---- syncs that take time ----------------------------------------------------------------

constexpr SyncLatency kLatency{.min = 50us, .max = 2ms, .seed = 77};

TEST_F(MemoryStoresTest, WritesReachTheMediumOnlyWhenTheSyncCompletes) {
  MemoryStores stores(executor_, medium_, kGroup, &clock_, kLatency);
  const Instant start = clock_.monotonic();
  stores.save(kState);
  stores.append(1, entries(1, 3, 1));
  Instant completed_at;
  stores.sync([&](Status s) {
    EXPECT_TRUE(s.is_ok());
    completed_at = clock_.monotonic();
    // When the caller hears of it, the writes are durable.
    EXPECT_EQ(durable_log(), entries(1, 3, 1));
    EXPECT_EQ(medium_->slot(kGroup).hard_state, kState);
  });
  executor_.run_posted();
  EXPECT_TRUE(durable_log().empty()) << "the writes reached the medium before the sync completed";
  EXPECT_EQ(medium_->slot(kGroup).hard_state, HardState{});
  executor_.advance(kLatency.min - 1ns);
  EXPECT_EQ(completed_at, Instant());
  EXPECT_TRUE(durable_log().empty());
  executor_.advance(kLatency.max);
  ASSERT_NE(completed_at, Instant());
  EXPECT_GE(completed_at - start, kLatency.min);
  EXPECT_LE(completed_at - start, kLatency.max);
  EXPECT_EQ(durable_log(), entries(1, 3, 1));
}

TEST_F(MemoryStoresTest, SlowSyncsCompleteInOrderWithTheirOwnWrites) {
  MemoryStores stores(executor_, medium_, kGroup, &clock_, kLatency);
  std::vector<std::pair<int, std::vector<LogEntry>>> seen;
  // Each sync carries the writes made before it, not those made while it is in flight; a
  // truncation in a later one rewrites what an earlier one wrote.
  stores.append(1, entries(1, 4, 1));
  stores.sync([&](const Status&) { seen.emplace_back(1, durable_log()); });
  stores.truncate_from(3);
  stores.append(3, entries(3, 3, 2));
  stores.sync([&](const Status&) { seen.emplace_back(2, durable_log()); });
  stores.append(4, entries(4, 5, 2));
  stores.sync([&](const Status&) { seen.emplace_back(3, durable_log()); });
  stores.truncate_from(2);
  stores.sync([&](const Status&) { seen.emplace_back(4, durable_log()); });
  executor_.advance(4 * kLatency.max);
  std::vector<LogEntry> second = entries(1, 2, 1);
  second.push_back(entries(3, 3, 2)[0]);
  std::vector<LogEntry> third = second;
  for (const LogEntry& e : entries(4, 5, 2)) third.push_back(e);
  const std::vector<std::pair<int, std::vector<LogEntry>>> expected = {
      {1, entries(1, 4, 1)}, {2, second}, {3, third}, {4, entries(1, 1, 1)}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(load_log(stores), entries(1, 1, 1));
}

// A crash (the stores destroyed) keeps what completed and loses the syncs still in flight.
TEST_F(MemoryStoresTest, ACrashLosesTheSyncsInFlightOnly) {
  auto stores = std::make_unique<MemoryStores>(executor_, medium_, kGroup, &clock_, kLatency);
  int completed = 0;
  stores->append(1, entries(1, 2, 1));
  stores->sync([&](const Status&) { ++completed; });
  executor_.advance(kLatency.max);
  ASSERT_EQ(completed, 1);
  stores->save(kState);
  stores->append(3, entries(3, 5, 1));
  stores->sync([&](const Status&) { ++completed; });
  stores.reset();
  executor_.advance(kLatency.max);
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(durable_log(), entries(1, 2, 1));
  EXPECT_EQ(medium_->slot(kGroup).hard_state, HardState{});
  MemoryStores reopened(executor_, medium_, kGroup, &clock_, kLatency);
  EXPECT_EQ(load_log(reopened), entries(1, 2, 1));
  EXPECT_EQ(load_state(reopened), HardState{});
}

// The delays are drawn from the seed: the same seed gives the same completion times, another
// seed others, and every one lies in the range.
TEST_F(MemoryStoresTest, SyncDelaysAreSeededAndInRange) {
  auto delays = [&](std::uint64_t seed) {
    test_support::FakeClock clock;
    test_support::FakeExecutor executor{clock};
    SyncLatency latency = kLatency;
    latency.seed = seed;
    MemoryStores stores(executor, nullptr, kGroup, &clock, latency);
    std::vector<Duration> out;
    for (int i = 0; i < 20; ++i) {
      const Instant start = clock.monotonic();
      stores.sync([&](const Status&) { out.push_back(clock.monotonic() - start); });
      executor.advance(kLatency.max);
    }
    return out;
  };
  const auto first = delays(1);
  ASSERT_EQ(first.size(), 20u);
  for (Duration d : first) {
    EXPECT_GE(d, kLatency.min);
    EXPECT_LE(d, kLatency.max);
  }
  EXPECT_EQ(delays(1), first);
  EXPECT_NE(delays(2), first);
}

// Pruning keeps the entries after the base and records the base; a snapshot saved in the same
// sync is on the medium with it; a crash before the sync loses all of it.
TEST_F(MemoryStoresTest, PruningAndSnapshotsReachTheMediumTogether) {
  const Snapshot snapshot{SnapshotMeta{.index = 4, .term = 1, .size = 3}, Bytes{1, 2, 3}};
  {
    MemoryStores stores(executor_, medium_, kGroup);
    stores.append(1, entries(1, 6, 1));
    sync(stores);
    stores.save_snapshot(snapshot);
    stores.prune_through({1, 4});
    // Destroyed before its sync: the medium keeps the whole log and no snapshot.
  }
  EXPECT_EQ(medium_->slot(kGroup).base, Cursor{});
  EXPECT_FALSE(medium_->slot(kGroup).snapshot.has_value());
  MemoryStores stores(executor_, medium_, kGroup);
  stores.save_snapshot(snapshot);
  stores.prune_through({1, 4});
  stores.append(7, entries(7, 8, 2));
  sync(stores);
  EXPECT_EQ(stores.load_base().value(), (Cursor{1, 4}));
  std::vector<LogEntry> expected = entries(5, 6, 1);
  for (const LogEntry& e : entries(7, 8, 2)) expected.push_back(e);
  EXPECT_EQ(load_log(stores), expected);
  EXPECT_EQ(stores.load_snapshot().value(), snapshot);
  // Truncating and appending after the base work by index, as before.
  stores.truncate_from(6);
  stores.append(6, entries(6, 6, 3));
  sync(stores);
  EXPECT_EQ(medium_->slot(kGroup).last_index(), 6u);
  EXPECT_EQ(medium_->slot(kGroup).log.back().term, 3u);
}

// A reset empties the log to follow the installed snapshot; removing the snapshot clears it.
TEST_F(MemoryStoresTest, AResetEmptiesTheLogAndASnapshotCanBeRemoved) {
  MemoryStores stores(executor_, medium_, kGroup);
  stores.append(1, entries(1, 3, 1));
  stores.save_snapshot(Snapshot{SnapshotMeta{.index = 10, .term = 2}, Bytes{}});
  stores.reset_to({2, 10});
  stores.append(11, entries(11, 11, 2));
  sync(stores);
  EXPECT_EQ(stores.load_base().value(), (Cursor{2, 10}));
  EXPECT_EQ(load_log(stores), entries(11, 11, 2));
  stores.save_snapshot(std::nullopt);
  stores.reset_to({});
  sync(stores);
  EXPECT_FALSE(stores.load_snapshot().value().has_value());
  EXPECT_EQ(stores.load_base().value(), Cursor{});
  EXPECT_TRUE(load_log(stores).empty());
}

}  // namespace
}  // namespace smalti::groups
