// PosixFileSystem: env::FileSystem over the operating system's files, under one root directory.
//
// A path is relative to the root; its parent directories are created as needed. sync() is
// fdatasync(); the first sync of a file this object created, and every remove(), also fsync the
// parent directory, so a created file and a removal are durable as env::FileSystem promises.
// Errors carry errno's text: ENOSPC and EDQUOT are kNoSpace, ENOENT kNotFound, EEXIST
// kAlreadyExists, anything else kIoError. Paths that would leave the root ("..", absolute paths)
// are kInvalidArgument. take_pending_latency() is zero: the time is really spent.
//
// Thread safety: one thread at a time (on the real backend, the storage worker's).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "smalti/env/file_system.hpp"

namespace smalti::real {

class PosixFileSystem final : public env::FileSystem {
 public:
  // Creates `root` (and its parents) if missing; kIoError when it cannot.
  static Result<std::unique_ptr<PosixFileSystem>> create(std::string root);

  Result<std::unique_ptr<env::File>> open(const std::string& path, env::OpenMode mode) override;
  Status remove(const std::string& path) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Duration take_pending_latency() override { return Duration::zero(); }

  const std::string& root() const { return root_; }

 private:
  explicit PosixFileSystem(std::string root) : root_(std::move(root)) {}
  Result<std::string> full_path(const std::string& path) const;

  std::string root_;
};

}  // namespace smalti::real
