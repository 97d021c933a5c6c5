#include "smalti/storage/sqlite_group_stores.hpp"

#include <algorithm>
#include <utility>

namespace smalti::storage {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS state(id INTEGER PRIMARY KEY, value BLOB NOT NULL, "
    "checksum BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log(idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, "
    "kind INTEGER NOT NULL, payload BLOB NOT NULL, checksum BLOB NOT NULL);";

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

Result<std::shared_ptr<SqliteGroupStores>> SqliteGroupStores::open(SqliteVfs& vfs,
                                                                   const std::string& path,
                                                                   StorageRunner& runner) {
  auto shared = std::make_shared<Shared>();
  SMALTI_ASSIGN_OR_RETURN(shared->db, Database::open(vfs, path));
  SMALTI_RETURN_IF_ERROR(shared->db->exec(kSchema));
  std::shared_ptr<SqliteGroupStores> stores(new SqliteGroupStores(std::move(shared), runner));
  SMALTI_RETURN_IF_ERROR(stores->read_back());
  return stores;
}

Status SqliteGroupStores::read_back() {
  Database& db = *shared_->db;
  const std::string& path = db.path();
  SMALTI_ASSIGN_OR_RETURN(Statement state,
                          db.prepare("SELECT value, checksum FROM state WHERE id = 1"));
  SMALTI_ASSIGN_OR_RETURN(bool has_state, state.step());
  if (has_state) {
    const ByteView value = state.column_blob(0);
    if (!same(state.column_blob(1), digest_view(state_checksum(value)))) {
      return error(StatusCode::kMalformed, path + ": the state row fails its checksum");
    }
    auto decoded = decode<groups::HardState>(value);
    if (!decoded.is_ok()) {
      return error(StatusCode::kMalformed, path + ": the state row does not decode");
    }
    state_ = *decoded;
  }
  SMALTI_ASSIGN_OR_RETURN(
      Statement rows,
      db.prepare("SELECT idx, term, kind, payload, checksum FROM log ORDER BY idx"));
  while (true) {
    SMALTI_ASSIGN_OR_RETURN(bool row, rows.step());
    if (!row) break;
    const auto index = static_cast<groups::Index>(rows.column_int(0));
    if (index != log_.size() + 1) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(log_.size() + 1) + " is missing");
    }
    const std::int64_t kind = rows.column_int(2);
    if (kind < 0 || kind > static_cast<std::int64_t>(groups::EntryKind::kConfig)) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(index) + " has an unknown kind");
    }
    const ByteView payload = rows.column_blob(3);
    groups::LogEntry entry{static_cast<groups::Term>(rows.column_int(1)),
                           static_cast<groups::EntryKind>(kind),
                           Bytes(payload.begin(), payload.end())};
    if (!same(rows.column_blob(4), digest_view(entry_checksum(index, entry)))) {
      return error(StatusCode::kMalformed,
                   path + ": log entry " + std::to_string(index) + " fails its checksum");
    }
    log_.push_back(std::move(entry));
  }
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

void SqliteGroupStores::sync(std::function<void(Status)> done) {
  ++syncs_;
  runner_.run(
      [shared = shared_, ops = std::exchange(pending_, {})] { return write_batch(*shared, ops); },
      std::move(done));
}

// One transaction for the whole batch. Runs on the runner.
Status SqliteGroupStores::write_batch(Shared& shared, const std::vector<Op>& ops) {
  if (!shared.failed.is_ok()) return shared.failed;
  Database& db = *shared.db;
  auto apply = [&]() -> Status {
    SMALTI_RETURN_IF_ERROR(db.begin());
    SMALTI_ASSIGN_OR_RETURN(
        Statement save,
        db.prepare("INSERT OR REPLACE INTO state(id, value, checksum) VALUES(1, ?1, ?2)"));
    SMALTI_ASSIGN_OR_RETURN(Statement truncate, db.prepare("DELETE FROM log WHERE idx >= ?1"));
    SMALTI_ASSIGN_OR_RETURN(
        Statement insert,
        db.prepare("INSERT OR REPLACE INTO log(idx, term, kind, payload, checksum) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)"));
    for (const Op& op : ops) {
      if (op.kind == Op::Kind::kSave) {
        const Bytes value = encode(op.state);
        SMALTI_RETURN_IF_ERROR(save.bind(1, value));
        SMALTI_RETURN_IF_ERROR(save.bind(2, digest_view(state_checksum(value))));
        SMALTI_RETURN_IF_ERROR(save.run());
        continue;
      }
      // An append replaces whatever was at and after its first index, as a truncate does.
      SMALTI_RETURN_IF_ERROR(truncate.bind(1, static_cast<std::int64_t>(op.index)));
      SMALTI_RETURN_IF_ERROR(truncate.run());
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
    }
    return db.commit();
  };
  Status status = apply();
  if (!status.is_ok()) {
    db.rollback();
    shared.failed = status;
  }
  return status;
}

}  // namespace smalti::storage
