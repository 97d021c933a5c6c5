#include "smalti/storage/database.hpp"

#include <sqlite3.h>

#include <utility>

namespace smalti::storage {

Status sqlite_status(int code, const std::string& what) {
  const int primary = code & 0xff;
  if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE) return Status::ok();
  const std::string message = what + ": " + sqlite3_errstr(code);
  switch (primary) {
    case SQLITE_FULL:
      return error(StatusCode::kNoSpace, message);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return error(StatusCode::kIoError, message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return error(StatusCode::kMalformed, message);
    default:
      return error(StatusCode::kInternal, message);
  }
}

// ---- Statement
// -----------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Status Statement::bind(int index, std::int64_t value) {
  return sqlite_status(sqlite3_bind_int64(stmt_, index, value), "bind " + sql_);
}

Status Statement::bind(int index, ByteView blob) {
  // A zero-length blob must still bind as a blob, not NULL: SQLite wants a non-null pointer.
  static const std::uint8_t empty_blob = 0;
  const void* data = blob.empty() ? &empty_blob : blob.data();
  return sqlite_status(sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT),
                       "bind " + sql_);
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status failed = sqlite_status(rc, sql_);
  sqlite3_reset(stmt_);
  return failed;
}

Status Statement::run() {
  while (true) {
    auto row = step();
    if (!row.is_ok()) return row.status();
    if (!*row) break;
  }
  sqlite3_reset(stmt_);
  return Status::ok();
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

ByteView Statement::column_blob(int index) const {
  const void* data = sqlite3_column_blob(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  if (data == nullptr || size <= 0) return {};
  return ByteView(static_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size));
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
}

// ---- Database
// ------------------------------------------------------------------------------------

Result<std::unique_ptr<Database>> Database::open(SqliteVfs& vfs, const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 vfs.name().c_str());
  std::unique_ptr<Database> database(new Database(db, path));  // closes db on any failure
  if (rc != SQLITE_OK) return sqlite_status(rc, "open " + path);
  sqlite3_extended_result_codes(db, 1);
  // Exclusive locking first: WAL then keeps its index in heap memory (no shared memory).
  for (const char* pragma : {"PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL",
                             "PRAGMA synchronous=FULL", "PRAGMA temp_store=MEMORY"}) {
    SMALTI_RETURN_IF_ERROR(database->exec(pragma));
  }
  return database;
}

Database::~Database() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Database::exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::ok();
  std::string what = sql;
  if (message != nullptr) {
    what += " (" + std::string(message) + ")";
    sqlite3_free(message);
  }
  return sqlite_status(rc, what);
}

Result<Statement> Database::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (stmt != nullptr) sqlite3_finalize(stmt);
    return sqlite_status(rc, "prepare " + sql);
  }
  return Statement(stmt, sql);
}

void Database::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)exec("ROLLBACK");
}

}  // namespace smalti::storage
