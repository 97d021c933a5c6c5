#include "smalti/storage/sqlite_group_stores.hpp"

#include <algorithm>
#include <utility>

namespace smalti::storage {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS state(id INTEGER PRIMARY KEY, value BLOB NOT NULL, "
    "checksum BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log(idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, "
    "kind INTEGER NOT NULL, payload BLOB NOT NULL, checksum BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshot(id INTEGER PRIMARY KEY, meta BLOB NOT NULL, "
    "data BLOB NOT NULL, checksum BLOB NOT NULL);";

// Rows of the state table.
constexpr std::int64_t kHardStateRow = 1;
constexpr std::int64_t kLogBaseRow = 2;

Bytes u64_bytes(std::uint64_t v) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

Digest state_checksum(ByteView value) {
  return Digest::from_parts({as_bytes("smalti.state"), value});
}

ByteView digest_view(const Digest& d) {
  return ByteView(d.bytes().data(), d.bytes().size());
}

// A blob of a row, copied out of SQLite's buffer (valid only until the next step).
SharedBytes copy_of(ByteView blob) {
  if (blob.empty()) return {};
  auto owner = std::make_shared<const Bytes>(blob.begin(), blob.end());
  return SharedBytes(owner, ByteView(*owner));
}

bool same(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

Digest entry_checksum(groups::Index index, const groups::LogEntry& entry) {
  const Bytes idx = u64_bytes(index);
  const Bytes term = u64_bytes(entry.term);
  const std::uint8_t kind = static_cast<std::uint8_t>(entry.kind);
  return Digest::from_parts(
      {as_bytes("smalti.entry"), idx, term, ByteView(&kind, 1), entry.payload.view()});
}

Digest snapshot_checksum(ByteView meta, ByteView data) {
  const Bytes meta_size = u64_bytes(meta.size());
  return Digest::from_parts({as_bytes("smalti.snapshot"), meta_size, meta, data});
}

Result<std::shared_ptr<SqliteGroupStores>> SqliteGroupStores::open(
    SqliteVfs& vfs, const std::string& path, StorageRunner& runner,
    std::shared_ptr<groups::MemoryMedium> image, const groups::GroupId& group) {
  auto shared = std::make_shared<Shared>();
  SMALTI_ASSIGN_OR_RETURN(shared->db, Database::open(vfs, path));
  SMALTI_RETURN_IF_ERROR(shared->db->exec(kSchema));
  std::shared_ptr<SqliteGroupStores> stores(new SqliteGroupStores(std::move(shared), runner));
  SMALTI_RETURN_IF_ERROR(stores->read_back());
  if (image) {
    stores->image_ = std::move(image);
    stores->group_ = group;
    stores->image_->slot(group) =
        groups::MemoryMedium::Slot{stores->state_,
                                   stores->base_,
                                   {stores->log_.begin(), stores->log_.end()},
                                   stores->snapshot_};
  }
  return stores;
}

// Reads a checksummed row of the state table into `out`; false when there is none.
template <typename T>
Result<bool> read_state_row(Database& db, std::int64_t id, const char* what, T& out) {
  SMALTI_ASSIGN_OR_RETURN(
      Statement row,
      db.prepare("SELECT value, checksum FROM state WHERE id = " + std::to_string(id)));
  SMALTI_ASSIGN_OR_RETURN(bool found, row.step());
  if (!found) return false;
  const ByteView value = row.column_blob(0);
  if (!same(row.column_blob(1), digest_view(state_checksum(value)))) {
    return error(StatusCode::kMalformed, db.path() + ": the " + what + " fails its checksum");
  }
  auto decoded = decode<T>(value);
  if (!decoded.is_ok()) {
    return error(StatusCode::kMalformed, db.path() + ": the " + what + " does not decode");
  }
  out = *decoded;
  return true;
}

Status SqliteGroupStores::read_back() {
  Database& db = *shared_->db;
  const std::string& path = db.path();
  SMALTI_RETURN_IF_ERROR(read_state_row(db, kHardStateRow, "state row", state_).status());
  SMALTI_RETURN_IF_ERROR(read_state_row(db, kLogBaseRow, "log base row", base_).status());
  SMALTI_ASSIGN_OR_RETURN(
      Statement rows,
      db.prepare("SELECT idx, term, kind, payload, checksum FROM log ORDER BY idx"));
  while (true) {
    SMALTI_ASSIGN_OR_RETURN(bool row, rows.step());
    if (!row) break;
    const auto index = static_cast<groups::Index>(rows.column_int(0));
    const groups::Index expected = base_.index + log_.size() + 1;
    if (index != expected) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(expected) + " is missing");
    }
    const std::int64_t kind = rows.column_int(2);
    if (kind < 0 || kind > static_cast<std::int64_t>(groups::EntryKind::kConfig)) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(index) + " has an unknown kind");
    }
    groups::LogEntry entry{static_cast<groups::Term>(rows.column_int(1)),
                           static_cast<groups::EntryKind>(kind), copy_of(rows.column_blob(3))};
    if (!same(rows.column_blob(4), digest_view(entry_checksum(index, entry)))) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(index) + " fails its checksum");
    }
    log_.push_back(std::move(entry));
  }
  return read_snapshot();
}

// The snapshot row: its checksum, its meta, and its data against the meta's size and digest.
Status SqliteGroupStores::read_snapshot() {
  Database& db = *shared_->db;
  SMALTI_ASSIGN_OR_RETURN(Statement row,
                          db.prepare("SELECT meta, data, checksum FROM snapshot WHERE id = 1"));
  SMALTI_ASSIGN_OR_RETURN(bool found, row.step());
  if (!found) return Status::ok();
  const ByteView meta = row.column_blob(0);
  const ByteView data = row.column_blob(1);
  if (!same(row.column_blob(2), digest_view(snapshot_checksum(meta, data)))) {
    return error(StatusCode::kMalformed, db.path() + ": the snapshot fails its checksum");
  }
  auto decoded = decode<groups::SnapshotMeta>(meta);
  if (!decoded.is_ok() || decoded->size != data.size() || Digest::hash(data) != decoded->digest) {
    return error(StatusCode::kMalformed, db.path() + ": the snapshot does not decode");
  }
  snapshot_ = groups::Snapshot{*decoded, copy_of(data)};
  return Status::ok();
}

void SqliteGroupStores::save(const groups::HardState& state) {
  Op op;
  op.kind = Op::Kind::kSave;
  op.state = state;
  pending_.push_back(std::move(op));
}

void SqliteGroupStores::truncate_from(groups::Index from) {
  Op op;
  op.kind = Op::Kind::kTruncate;
  op.index = from;
  pending_.push_back(std::move(op));
}

void SqliteGroupStores::append(groups::Index at, std::vector<groups::LogEntry> entries) {
  if (entries.empty()) return;
  Op op;
  op.kind = Op::Kind::kAppend;
  op.index = at;
  op.entries = std::move(entries);
  pending_.push_back(std::move(op));
}

void SqliteGroupStores::prune_through(groups::Cursor through) {
  Op op;
  op.kind = Op::Kind::kPrune;
  op.base = through;
  pending_.push_back(std::move(op));
}

void SqliteGroupStores::reset_to(groups::Cursor base) {
  Op op;
  op.kind = Op::Kind::kReset;
  op.base = base;
  pending_.push_back(std::move(op));
}

void SqliteGroupStores::save_snapshot(std::optional<groups::Snapshot> snapshot) {
  Op op;
  op.kind = Op::Kind::kSnapshot;
  op.snapshot = std::move(snapshot);
  pending_.push_back(std::move(op));
}

// Group commit: one batch is with the runner at a time. Syncs asked for meanwhile wait, and
// all of them go out together as the next batch when it is done: one transaction and one WAL
// sync for every Persist that arrived during a disk round trip.
void SqliteGroupStores::sync(std::function<void(Status)> done) {
  ++syncs_;
  waiting_.push_back(std::move(done));
  if (!writing_) write_waiting();
}

void SqliteGroupStores::write_waiting() {
  writing_ = true;
  ++batches_;
  auto ops = std::make_shared<std::vector<Op>>(std::exchange(pending_, {}));
  runner_.run(
      [shared = shared_, ops] { return write_batch(*shared, *ops); },
      [this, alive = alive_, ops, dones = std::exchange(waiting_, {})](const Status& status) {
        if (*alive) {
          writing_ = false;
          if (image_ && status.is_ok()) {
            for (Op& op : *ops) groups::apply_write(image_->slot(group_), std::move(op));
          }
        }
        // In order; a completion may sync again, which starts the next batch at once.
        for (const auto& done : dones) done(status);
        if (*alive && !writing_ && !waiting_.empty()) write_waiting();
      });
}

// One transaction for the whole batch. Runs on the runner.
Status SqliteGroupStores::write_batch(Shared& shared, const std::vector<Op>& ops) {
  if (!shared.failed.is_ok()) return shared.failed;
  Database& db = *shared.db;
  auto apply = [&]() -> Status {
    SMALTI_RETURN_IF_ERROR(db.begin());
    for (const Op& op : ops) SMALTI_RETURN_IF_ERROR(write_op(db, op));
    return db.commit();
  };
  Status status = apply();
  if (!status.is_ok()) {
    db.rollback();
    shared.failed = status;
  }
  return status;
}

namespace {

Status save_state_row(Database& db, std::int64_t id, const Bytes& value) {
  SMALTI_ASSIGN_OR_RETURN(
      Statement save,
      db.prepare("INSERT OR REPLACE INTO state(id, value, checksum) VALUES(?1, ?2, ?3)"));
  SMALTI_RETURN_IF_ERROR(save.bind(1, id));
  SMALTI_RETURN_IF_ERROR(save.bind(2, value));
  SMALTI_RETURN_IF_ERROR(save.bind(3, digest_view(state_checksum(value))));
  return save.run();
}

Status delete_log(Database& db, const char* where, groups::Index index) {
  SMALTI_ASSIGN_OR_RETURN(Statement remove, db.prepare(std::string("DELETE FROM log ") + where));
  if (index != 0) SMALTI_RETURN_IF_ERROR(remove.bind(1, static_cast<std::int64_t>(index)));
  return remove.run();
}

}  // namespace

Status SqliteGroupStores::write_op(Database& db, const Op& op) {
  switch (op.kind) {
    case Op::Kind::kSave:
      return save_state_row(db, kHardStateRow, encode(op.state));
    case Op::Kind::kPrune:
      SMALTI_RETURN_IF_ERROR(delete_log(db, "WHERE idx <= ?1", op.base.index));
      return save_state_row(db, kLogBaseRow, encode(op.base));
    case Op::Kind::kReset:
      SMALTI_RETURN_IF_ERROR(delete_log(db, "", 0));
      return save_state_row(db, kLogBaseRow, encode(op.base));
    case Op::Kind::kSnapshot: {
      if (!op.snapshot) return db.exec("DELETE FROM snapshot");
      const Bytes meta = encode(op.snapshot->meta);
      const ByteView data = op.snapshot->data.view();
      SMALTI_ASSIGN_OR_RETURN(
          Statement save, db.prepare("INSERT OR REPLACE INTO snapshot(id, meta, data, checksum) "
                                     "VALUES(1, ?1, ?2, ?3)"));
      SMALTI_RETURN_IF_ERROR(save.bind(1, meta));
      SMALTI_RETURN_IF_ERROR(save.bind(2, data));
      SMALTI_RETURN_IF_ERROR(save.bind(3, digest_view(snapshot_checksum(meta, data))));
      return save.run();
    }
    case Op::Kind::kTruncate:
    case Op::Kind::kAppend:
      break;
  }
  // An append replaces whatever was at and after its first index, as a truncate does.
  SMALTI_RETURN_IF_ERROR(delete_log(db, "WHERE idx >= ?1", op.index));
  SMALTI_ASSIGN_OR_RETURN(
      Statement insert, db.prepare("INSERT OR REPLACE INTO log(idx, term, kind, payload, checksum) "
                                   "VALUES(?1, ?2, ?3, ?4, ?5)"));
  groups::Index index = op.index;
  for (const groups::LogEntry& entry : op.entries) {
    SMALTI_RETURN_IF_ERROR(insert.bind(1, static_cast<std::int64_t>(index)));
    SMALTI_RETURN_IF_ERROR(insert.bind(2, static_cast<std::int64_t>(entry.term)));
    SMALTI_RETURN_IF_ERROR(insert.bind(3, static_cast<std::int64_t>(entry.kind)));
    SMALTI_RETURN_IF_ERROR(insert.bind(4, entry.payload.view()));
    SMALTI_RETURN_IF_ERROR(insert.bind(5, digest_view(entry_checksum(index, entry))));
    SMALTI_RETURN_IF_ERROR(insert.run());
    ++index;
  }
  return Status::ok();
}

}  // namespace smalti::storage
