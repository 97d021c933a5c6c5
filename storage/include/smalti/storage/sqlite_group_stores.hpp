// SqliteGroupStores: a group member's durable state (groups::StateStore: term, vote,
// incarnation, founded), log (groups::LogStore) and latest snapshot (groups::SnapshotStore) in
// one SQLite database.
//
// Writes (save, truncate_from, append) are kept in order in memory until sync(done), which
// hands all of them to the StorageRunner as one transaction: one commit, and with
// synchronous=FULL one WAL sync, for everything written since the last batch. Group commit: one
// batch is with the runner at a time; the syncs asked for while it is written wait and then go
// out together as one batch (the Raft driver syncs once per Persist effect, so a busy member
// syncs once per disk round trip). done(status) comes back on the executor, in the order the
// syncs were asked for, once the commit is durable, or with the
// error (kIoError, kNoSpace) when it is not; a failed batch leaves the database as it was, and
// the batches after it are not written either (the member must not acknowledge past a hole).
//
// Integrity: every row carries a BLAKE3 checksum of its content (and, for entries, of its
// index). open() reads everything back and refuses a store with a checksum that does not match,
// a gap in the log or an undecodable state with kMalformed, saying which row: the caller then
// starts the member over as a new incarnation instead of voting or acknowledging on state it
// cannot read back. Reading problems of the disk itself are kIoError.
//
// Schema: state(id, value, checksum) with the hard state at id 1 and the log's base (the last
// entry pruned) at id 2, log(idx primary key, term, kind, payload, checksum) and snapshot(id =
// 1, meta, data, checksum). Used on the executor thread; the database only from the runner's
// jobs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smalti/groups/stores.hpp"
#include "smalti/storage/database.hpp"
#include "smalti/storage/runner.hpp"

namespace smalti::storage {

class SqliteGroupStores final : public groups::StateStore,
                                public groups::LogStore,
                                public groups::SnapshotStore {
 public:
  // Opens (creating when missing) the database at `path` and reads it back. With an `image`
  // (the simulator's), the slot of `group` in it mirrors what is durable: what was read back,
  // then each batch once its sync completed (StoreProvider::record_durable_image).
  static Result<std::shared_ptr<SqliteGroupStores>> open(
      SqliteVfs& vfs, const std::string& path, StorageRunner& runner,
      std::shared_ptr<groups::MemoryMedium> image = nullptr, const groups::GroupId& group = {});

  ~SqliteGroupStores() override { *alive_ = false; }  // a batch still written completes alone
  Result<groups::HardState> load_state() override { return state_; }
  void save(const groups::HardState& state) override;
  Result<groups::Cursor> load_base() override { return base_; }
  Result<std::vector<groups::LogEntry>> load_log() override { return log_; }
  void truncate_from(groups::Index from) override;
  void append(groups::Index at, std::vector<groups::LogEntry> entries) override;
  void prune_through(groups::Cursor through) override;
  void reset_to(groups::Cursor base) override;
  Result<std::optional<groups::Snapshot>> load_snapshot() override { return snapshot_; }
  void save_snapshot(std::optional<groups::Snapshot> snapshot) override;
  void sync(std::function<void(Status)> done) override;

  // What the database held when it was opened (tests and recovery).
  std::size_t loaded_entries() const { return log_.size(); }
  // Syncs asked for, and the batches (transactions, WAL syncs) that carried them.
  std::uint64_t syncs() const { return syncs_; }
  std::uint64_t batches() const { return batches_; }

 private:
  using Op = groups::StoreWrite;
  // The database and what a failed batch leaves behind, shared with the runner's jobs.
  struct Shared {
    std::unique_ptr<Database> db;
    Status failed = Status::ok();  // after a failed batch every later one fails too
  };
  SqliteGroupStores(std::shared_ptr<Shared> shared, StorageRunner& runner)
      : shared_(std::move(shared)), runner_(runner) {}
  Status read_back();
  Status read_snapshot();
  static Status write_batch(Shared& shared, const std::vector<Op>& ops);
  static Status write_op(Database& db, const Op& op);

  std::shared_ptr<Shared> shared_;
  StorageRunner& runner_;
  std::shared_ptr<groups::MemoryMedium> image_;  // null: no durable image is kept
  groups::GroupId group_;
  groups::HardState state_;
  groups::Cursor base_;
  std::vector<groups::LogEntry> log_;
  std::optional<groups::Snapshot> snapshot_;
  void write_waiting();  // hands pending_ and waiting_ to the runner as one batch
  std::vector<Op> pending_;
  std::vector<std::function<void(Status)>> waiting_;  // syncs not yet handed to the runner
  bool writing_ = false;                              // a batch is with the runner
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::uint64_t syncs_ = 0;
  std::uint64_t batches_ = 0;
};

// The checksum a stored entry carries: BLAKE3 over its index, term, kind and payload.
Digest entry_checksum(groups::Index index, const groups::LogEntry& entry);
// The checksum the stored snapshot carries: BLAKE3 over its encoded meta and its data.
Digest snapshot_checksum(ByteView meta, ByteView data);

}  // namespace smalti::storage
