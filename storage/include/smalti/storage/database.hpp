// Database: one SQLite database opened through a SqliteVfs, in the mode every smalti store
// uses, and the few calls the stores need (statements, transactions), with SQLite's result codes
// turned into Status: SQLITE_FULL is kNoSpace, I/O errors kIoError, a corrupt or foreign file
// kMalformed, anything else kInternal. The error message names the SQL and SQLite's reason.
//
// The mode: `locking_mode=EXCLUSIVE` (one process owns the file; the WAL index lives in SQLite's
// memory, not in shared memory), `journal_mode=WAL`, `synchronous=FULL` (a commit returns only
// after the WAL is synced: what a store acknowledges survives a crash), `temp_store=MEMORY` (no
// temporary files), and WAL checkpoints at SQLite's default of 1,000 pages.
//
// Not synchronised: one thread uses a Database, the one its SqliteVfs is used from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "smalti/base/bytes.hpp"
#include "smalti/base/status.hpp"
#include "smalti/storage/sqlite_vfs.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace smalti::storage {

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQLite.
  Status bind(int index, std::int64_t value);
  Status bind(int index, ByteView blob);  // copied by SQLite
  // Runs one step: true when a row is ready, false when done.
  Result<bool> step();
  // Runs to completion, ignoring rows (INSERT, UPDATE, DELETE).
  Status run();
  // Columns of the current row, numbered from 0. The view lives until the next step or reset.
  std::int64_t column_int(int index) const;
  ByteView column_blob(int index) const;
  bool column_is_null(int index) const;
  // Ready to run again, bindings kept.
  void reset();

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, std::string sql) : stmt_(stmt), sql_(std::move(sql)) {}
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  // Opens (creating if missing) `path` through `vfs` and sets the mode above.
  static Result<std::unique_ptr<Database>> open(SqliteVfs& vfs, const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs statements that return no rows.
  Status exec(const std::string& sql);
  Result<Statement> prepare(const std::string& sql);
  Status begin() { return exec("BEGIN IMMEDIATE"); }
  Status commit() { return exec("COMMIT"); }
  // Undoes an open transaction; harmless without one.
  void rollback();
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::string path_;
};

// SQLite's result code as a Status (ok for SQLITE_OK, SQLITE_ROW and SQLITE_DONE).
Status sqlite_status(int code, const std::string& what);

}  // namespace smalti::storage
