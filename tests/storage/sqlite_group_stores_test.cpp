// SqliteGroupStores: a member's term, vote and log in SQLite over the simulated disk, through
// crashes, disk faults and corruption.
#include "smalti/storage/sqlite_group_stores.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <optional>

#include "core/runtime/fake_executor.hpp"
#include "smalti/sim/sim_file_system.hpp"

namespace smalti::storage {
namespace {

using groups::EntryKind;
using groups::HardState;
using groups::LogEntry;

LogEntry entry(groups::Term term, std::uint8_t fill, std::size_t size = 40) {
  Bytes payload(size, fill);
  LogEntry e;
  e.term = term;
  e.kind = EntryKind::kCommand;
  e.payload = SharedBytes(std::move(payload));
  return e;
}

// A disk, a VFS and an inline runner over fake time.
struct Rig {
  explicit Rig(std::uint64_t seed = 1) : disk(Rng(seed)) {}
  test_support::FakeClock clock;
  test_support::FakeExecutor executor{clock};
  sim::SimFileSystem disk;
  std::unique_ptr<SqliteVfs> vfs = SqliteVfs::create(disk, clock, 5).value();
  InlineRunner runner{executor, clock, disk};

  Result<std::shared_ptr<SqliteGroupStores>> open() {
    return SqliteGroupStores::open(*vfs, "groups/g/raft.db", runner);
  }
  // Syncs and runs the executor until the completion arrives.
  Status sync(SqliteGroupStores& stores) {
    std::optional<Status> result;
    stores.sync([&](Status s) { result = std::move(s); });
    executor.advance(std::chrono::seconds(1));
    EXPECT_TRUE(result.has_value()) << "no completion";
    return result.value_or(error(StatusCode::kInternal, "no completion"));
  }
};

TEST(SqliteGroupStores, WhatWasSyncedIsReadBackAfterAReopen) {
  Rig rig;
  {
    auto stores = rig.open().value();
    EXPECT_EQ(stores->load_state().value(), HardState{});
    EXPECT_TRUE(stores->load_log().value().empty());
    stores->save(HardState{3, groups::Member{PeerId{Digest::from_u64(9)}, 4}, 77, true});
    stores->append(1, {entry(1, 0xa), entry(2, 0xb), entry(2, 0xc)});
    ASSERT_TRUE(rig.sync(*stores).is_ok());
  }
  auto stores = rig.open().value();
  const HardState state = stores->load_state().value();
  EXPECT_EQ(state.term, 3u);
  EXPECT_EQ(state.incarnation, 77u);
  EXPECT_TRUE(state.founded);
  ASSERT_TRUE(state.vote.has_value());
  EXPECT_EQ(state.vote->incarnation, 4u);
  auto log = stores->load_log().value();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2], entry(2, 0xc));
}

TEST(SqliteGroupStores, AnAppendReplacesTheSuffixAndATruncateRemovesIt) {
  Rig rig;
  {
    auto stores = rig.open().value();
    stores->append(1, {entry(1, 1), entry(1, 2), entry(1, 3), entry(1, 4)});
    ASSERT_TRUE(rig.sync(*stores).is_ok());
    stores->append(3, {entry(2, 9)});  // replaces 3 and 4
    stores->truncate_from(5);          // nothing there any more
    stores->append(4, {entry(2, 10)});
    ASSERT_TRUE(rig.sync(*stores).is_ok());
  }
  auto log = rig.open().value()->load_log().value();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[1], entry(1, 2));
  EXPECT_EQ(log[2], entry(2, 9));
  EXPECT_EQ(log[3], entry(2, 10));
}

TEST(SqliteGroupStores, ManyWritesAreOneCommitAndOneWalSync) {
  Rig rig;
  auto stores = rig.open().value();
  ASSERT_TRUE(rig.sync(*stores).is_ok());
  const std::uint64_t before = rig.vfs->stats().syncs;
  for (std::uint8_t i = 1; i <= 100; ++i) stores->append(i, {entry(1, i)});
  stores->save(HardState{1, std::nullopt, 5, false});
  ASSERT_TRUE(rig.sync(*stores).is_ok());
  EXPECT_EQ(rig.vfs->stats().syncs - before, 1u) << "one WAL sync for the whole batch";
}

TEST(SqliteGroupStores, CompletionsComeOnTheExecutorAfterTheDisksLatencyAndInOrder) {
  Rig rig;
  rig.disk.set_faults(sim::DiskFaults{.min_latency = 2ms, .max_latency = 5ms});
  auto stores = rig.open().value();
  std::vector<int> order;
  stores->append(1, {entry(1, 1)});
  stores->sync([&](Status s) { order.push_back(s.is_ok() ? 1 : -1); });
  stores->append(2, {entry(1, 2)});
  stores->sync([&](Status s) { order.push_back(s.is_ok() ? 2 : -2); });
  EXPECT_TRUE(order.empty()) << "a completion ran inline";
  rig.executor.advance(1ms);
  EXPECT_TRUE(order.empty()) << "a completion came before the disk's latency";
  rig.executor.advance(1s);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// Group commit: while one batch is on the disk, the syncs asked for wait and then go out
// together, as one transaction and one WAL sync, each completion still in order.
TEST(SqliteGroupStores, SyncsAskedForDuringABatchAreOneBatchAfterIt) {
  Rig rig;
  rig.disk.set_faults(sim::DiskFaults{.min_latency = 2ms, .max_latency = 2ms});
  auto stores = rig.open().value();
  ASSERT_TRUE(rig.sync(*stores).is_ok());
  const std::uint64_t wal_syncs = rig.vfs->stats().syncs;
  const std::uint64_t batches = stores->batches();
  std::vector<int> order;
  for (std::uint8_t i = 1; i <= 10; ++i) {
    stores->append(i, {entry(1, i)});
    stores->sync([&order, i](Status s) { order.push_back(s.is_ok() ? i : -i); });
  }
  EXPECT_EQ(stores->batches() - batches, 1u) << "the later syncs did not wait for the first";
  rig.executor.advance(1s);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(stores->batches() - batches, 2u) << "the nine waiting syncs are one batch";
  EXPECT_EQ(rig.vfs->stats().syncs - wal_syncs, 2u);
  stores.reset();
  EXPECT_EQ(rig.open().value()->load_log().value().size(), 10u);
}

// The durable image the simulator's DurabilityChecker reads: what was read back at open, then
// each batch only once its sync completed, never a failed one.
TEST(SqliteGroupStores, TheDurableImageHoldsWhatWasReadBackAndEachCompletedBatch) {
  Rig rig;
  rig.disk.set_faults(sim::DiskFaults{.min_latency = 2ms, .max_latency = 2ms});
  const groups::GroupId group{Digest::from_u64(7)};
  auto image = std::make_shared<groups::MemoryMedium>();
  {
    auto stores = rig.open().value();
    stores->append(1, {entry(1, 1), entry(1, 2)});
    stores->save(HardState{4, std::nullopt, 9, true});
    ASSERT_TRUE(rig.sync(*stores).is_ok());
  }
  auto stores = SqliteGroupStores::open(*rig.vfs, "groups/g/raft.db", rig.runner, image, group);
  ASSERT_TRUE(stores.is_ok());
  const groups::MemoryMedium::Slot* slot = image->find(group);
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->hard_state.term, 4u);
  EXPECT_EQ(slot->last_index(), 2u);
  (*stores)->append(3, {entry(2, 3)});
  (*stores)->save(HardState{5, std::nullopt, 9, true});
  bool done = false;
  (*stores)->sync([&](const Status& s) { done = s.is_ok(); });
  rig.executor.advance(1ms);
  EXPECT_EQ(slot->last_index(), 2u) << "the image ran ahead of the sync";
  EXPECT_EQ(slot->hard_state.term, 4u);
  rig.executor.advance(1s);
  ASSERT_TRUE(done);
  EXPECT_EQ(slot->last_index(), 3u);
  EXPECT_EQ(slot->log.back(), entry(2, 3));
  EXPECT_EQ(slot->hard_state.term, 5u);
  rig.disk.set_faults(sim::DiskFaults{.sync_error_rate = 1});
  (*stores)->append(4, {entry(2, 4)});
  EXPECT_EQ(rig.sync(**stores).code(), StatusCode::kIoError);
  EXPECT_EQ(slot->last_index(), 3u) << "a failed batch reached the image";
}

TEST(SqliteGroupStores, AFailedSyncIsReportedAndNothingAfterItIsWritten) {
  Rig rig;
  auto stores = rig.open().value();
  stores->append(1, {entry(1, 1)});
  ASSERT_TRUE(rig.sync(*stores).is_ok());
  rig.disk.set_faults(sim::DiskFaults{.sync_error_rate = 1});
  stores->append(2, {entry(1, 2)});
  EXPECT_EQ(rig.sync(*stores).code(), StatusCode::kIoError);
  rig.disk.set_faults(sim::DiskFaults{});
  stores->append(3, {entry(1, 3)});
  EXPECT_EQ(rig.sync(*stores).code(), StatusCode::kIoError) << "wrote past a failed batch";
  stores.reset();
  auto log = rig.open().value()->load_log().value();
  EXPECT_EQ(log.size(), 1u);
}

TEST(SqliteGroupStores, AFullDiskIsNoSpace) {
  Rig rig;
  auto stores = rig.open().value();
  ASSERT_TRUE(rig.sync(*stores).is_ok());
  rig.disk.set_faults(sim::DiskFaults{.capacity_bytes = rig.disk.used_bytes() + 4096});
  Status last = Status::ok();
  for (std::uint8_t i = 1; i < 100 && last.is_ok(); ++i) {
    stores->append(i, {entry(1, i, 1000)});
    last = rig.sync(*stores);
  }
  EXPECT_EQ(last.code(), StatusCode::kNoSpace) << last.to_string();
}

// Rows changed behind the store's back: a bad checksum or a hole is refused, never served.
TEST(SqliteGroupStores, ACorruptOrMissingRowIsRefusedWhenOpened) {
  for (const char* damage :
       {"UPDATE log SET payload = x'00' WHERE idx = 2", "DELETE FROM log WHERE idx = 2",
        "UPDATE log SET term = 9 WHERE idx = 3", "UPDATE state SET value = x'0102' WHERE id = 1",
        "UPDATE log SET idx = 7 WHERE idx = 3"}) {
    SCOPED_TRACE(damage);
    Rig rig;
    {
      auto stores = rig.open().value();
      stores->save(HardState{2, std::nullopt, 8, false});
      stores->append(1, {entry(1, 1), entry(1, 2), entry(2, 3)});
      ASSERT_TRUE(rig.sync(*stores).is_ok());
    }
    {
      auto db = Database::open(*rig.vfs, "groups/g/raft.db").value();
      ASSERT_TRUE(db->exec(damage).is_ok());
    }
    auto reopened = rig.open();
    ASSERT_FALSE(reopened.is_ok()) << "served a damaged store";
    EXPECT_EQ(reopened.status().code(), StatusCode::kMalformed) << reopened.status().to_string();
  }
}

// The crash-consistency property: random batches of writes, each synced (acknowledged when its
// completion says ok), random disk faults (lost and torn unsynced writes, sync errors, bit flips
// on read, a full disk) and a crash at a random point. After the restart the store either holds
// exactly the state of some batch boundary at or after the last acknowledged one, or refuses
// to open; it never holds a partial batch, loses an acknowledged one or serves a wrong value.
struct Model {
  HardState state;
  std::vector<LogEntry> log;
  void apply_append(groups::Index at, const std::vector<LogEntry>& entries) {
    log.resize(at - 1);
    log.insert(log.end(), entries.begin(), entries.end());
  }
};

RC_GTEST_PROP(SqliteGroupStoresProperty, ACrashKeepsEveryAcknowledgedBatchAndNoPartialOne, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  Rig rig(seed);
  const bool flips = *rc::gen::arbitrary<bool>();
  rig.disk.set_faults(sim::DiskFaults{
      .sync_error_rate = *rc::gen::element(0.0, 0.0, 0.05),
      .read_bit_flip_rate = flips ? 0.01 : 0.0,
      .capacity_bytes = *rc::gen::element<std::uint64_t>(UINT64_MAX, UINT64_MAX, 200'000),
      .torn_write_rate = *rc::gen::element(0.0, 0.5, 1.0),
      .unsynced_keep_rate = *rc::gen::element(0.0, 0.5, 1.0)});
  auto opened = rig.open();
  RC_PRE(opened.is_ok());  // bit flips may spoil even the first open
  auto stores = std::move(opened).value();

  std::vector<Model> boundaries{Model{}};  // the state after each batch that was synced
  std::size_t last_acked = 0;              // index into boundaries
  Model now;
  const int batches = *rc::gen::inRange(1, 12);
  bool failed = false;
  for (int b = 0; b < batches && !failed; ++b) {
    const int writes = *rc::gen::inRange(1, 6);
    for (int w = 0; w < writes; ++w) {
      const int kind = *rc::gen::inRange(0, 3);
      if (kind == 0) {
        now.state.term += 1;
        now.state.incarnation = 10 + static_cast<std::uint64_t>(b);
        stores->save(now.state);
      } else if (kind == 1 && !now.log.empty()) {
        const auto from = *rc::gen::inRange<groups::Index>(1, now.log.size() + 1);
        stores->truncate_from(from);
        now.log.resize(from - 1);
      } else {
        const auto at = *rc::gen::inRange<groups::Index>(1, now.log.size() + 2);
        std::vector<LogEntry> entries;
        const int n = *rc::gen::inRange(1, 8);
        for (int i = 0; i < n; ++i) {
          entries.push_back(entry(now.state.term, static_cast<std::uint8_t>(b * 16 + i),
                                  *rc::gen::inRange<std::size_t>(1, 3000)));
        }
        stores->append(at, entries);
        now.apply_append(at, entries);
      }
    }
    boundaries.push_back(now);
    const Status s = rig.sync(*stores);
    if (s.is_ok()) {
      last_acked = boundaries.size() - 1;
    } else {
      failed = true;  // nothing after a failed batch is written
    }
  }
  stores.reset();
  rig.disk.crash();
  rig.disk.set_faults(sim::DiskFaults{.read_bit_flip_rate = flips ? 0.01 : 0.0});
  auto reopened = rig.open();
  if (!reopened.is_ok()) {
    // Refusing is allowed only for damage the faults could cause: flipped bits on read.
    RC_ASSERT(flips);
    return;
  }
  const HardState state = (*reopened)->load_state().value();
  const std::vector<LogEntry> log = (*reopened)->load_log().value();
  bool matched = false;
  for (std::size_t i = last_acked; i < boundaries.size() && !matched; ++i) {
    matched = boundaries[i].state == state && boundaries[i].log == log;
  }
  RC_ASSERT(matched);
}

}  // namespace
}  // namespace smalti::storage
