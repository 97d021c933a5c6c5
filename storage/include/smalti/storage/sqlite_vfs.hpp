// SqliteVfs: a SQLite VFS over env::FileSystem, so SQLite's own code runs unchanged on the
// simulator's disk (sim::SimFileSystem, which loses and tears unsynced writes at a crash) and on
// the real one (real::PosixFileSystem).
//
// What it offers SQLite, and how:
//   - files: open (create, exclusive create, delete-on-close for temporary files), read (a short
//     read is zero-filled and reported as SQLITE_IOERR_SHORT_READ; every read is repeated until
//     two answers agree, so a bit flipped in transit is never taken as data: SQLite cannot tell a
//     flipped WAL frame from a torn end of the WAL, and would drop the commits after it), write,
//     truncate, sync, size;
//     delete, access (a file exists when it has content, as the unix VFS decides), full path
//     (paths are the file system's own names, unchanged);
//   - errors: kNoSpace is SQLITE_FULL, every other failure the matching SQLITE_IOERR_* code, a
//     failed open SQLITE_CANTOPEN, so SQLite reports them instead of crashing;
//   - locking as one process needs it: the levels are tracked per file and always granted.
//     Databases must be opened with `PRAGMA locking_mode=EXCLUSIVE` before WAL mode (Database
//     does this), so SQLite keeps the WAL index in its own memory and never asks for the
//     shared-memory methods this VFS does not provide;
//   - randomness from an Rng seeded by the caller (the node's entropy), time from env::Clock's
//     wall clock, and no sleeping: a busy handler never waits on a single-process database;
//   - fault points (docs/buggify.md), asked through the optional Buggify function (the node's,
//     in the simulator): storage.write_error and storage.sync_error fail a write or a sync the
//     way a disk's EIO would (nothing is written or made durable), storage.short_read makes the
//     file return a part of a read, which the VFS must then finish (as pread may).
// Everything is deterministic given the file system, the seed and the clock.
//
// Registering makes the VFS known to SQLite under name(); it must outlive every database opened
// through it, and the file system, the clock and itself are then used from the thread that uses
// those databases (on the real backend, the storage worker thread). Destroying it unregisters it.
// sqlite3.h stays out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "smalti/base/buggify.hpp"
#include "smalti/base/bytes.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/base/status.hpp"
#include "smalti/env/clock.hpp"
#include "smalti/env/file_system.hpp"

namespace smalti::storage {

struct VfsRecord;  // the sqlite3_vfs SQLite holds a pointer to (sqlite_vfs.cpp)

class SqliteVfs {
 public:
  // Registers a new VFS over `fs`; kInternal if SQLite refuses it.
  static Result<std::unique_ptr<SqliteVfs>> create(env::FileSystem& fs, env::Clock& clock,
                                                   std::uint64_t seed, Buggify buggify = {});
  ~SqliteVfs();
  SqliteVfs(const SqliteVfs&) = delete;
  SqliteVfs& operator=(const SqliteVfs&) = delete;

  // The name to pass to sqlite3_open_v2 (Database does).
  const std::string& name() const { return name_; }
  env::FileSystem& file_system() const { return fs_; }

  // Calls SQLite made that failed, by kind (tests and metrics).
  struct Stats {
    std::uint64_t io_errors = 0;
    std::uint64_t full_errors = 0;
    std::uint64_t short_reads = 0;
    std::uint64_t syncs = 0;
    std::uint64_t read_retries = 0;   // reads whose second answer differed from the first
    std::uint64_t partial_reads = 0;  // reads the file answered in parts (finished by the VFS)
  };
  const Stats& stats() const { return stats_; }

  struct Glue;  // the C callbacks (sqlite_vfs.cpp)

 private:
  SqliteVfs(env::FileSystem& fs, env::Clock& clock, std::uint64_t seed, std::string name,
            Buggify buggify);

  env::FileSystem& fs_;
  env::Clock& clock_;
  Rng rng_;
  std::string name_;
  std::uint64_t next_temp_ = 1;
  Bytes read_check_;  // the second read of every read, to compare
  Stats stats_;
  Buggify buggify_;
  std::unique_ptr<VfsRecord> record_;
};

}  // namespace smalti::storage
