// FileSystem: durable files, as a storage layer (and SQLite through a VFS) needs them.
//
// The simulator implements it (sim::SimFileSystem, with crash semantics and disk faults), the
// real backend over POSIX files (real::PosixFileSystem, rooted at a node's data directory).
// Its user is storage/: SQLite, through a VFS, for the groups' durable stores
// (storage::sqlite_storage()). core/ itself never opens a file.
//
// Contract (POSIX-like, so the simulator can model a real disk):
//   - write() and truncate() change the file's content at once for readers, but only sync()
//     makes them durable: after a crash, changes since the last sync() may be lost or torn.
//   - a newly created file exists durably once it has been synced once; remove() is durable at
//   once.
//   - every call may fail with kIoError; write() fails with kNoSpace when the disk is full.
//   - take_pending_latency() reports the time the operations since the previous call would have
//     taken; callers delay their completions by it (zero on the real backend, where the time is
//     really spent).
// Calls are synchronous and made on the node's executor thread (or a storage worker that owns
// the file exclusively).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "smalti/base/bytes.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"

namespace smalti::env {

class File {
 public:
  virtual ~File() = default;
  // Reads up to out.size() bytes at offset; returns how many were read (fewer at end of file).
  virtual Result<std::size_t> read(std::uint64_t offset, std::span<std::uint8_t> out) = 0;
  virtual Status write(std::uint64_t offset, ByteView data) = 0;
  virtual Status truncate(std::uint64_t size) = 0;
  virtual Status sync() = 0;
  virtual Result<std::uint64_t> size() = 0;
};

enum class OpenMode : std::uint8_t {
  kOpenExisting,  // kNotFound if missing
  kCreateIfMissing,
  kCreateNew,  // kAlreadyExists if present
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
  // Paths starting with `prefix`, sorted.
  virtual Result<std::vector<std::string>> list(const std::string& prefix) = 0;
  virtual Duration take_pending_latency() = 0;
};

}  // namespace smalti::env
