#include "smalti/real/posix_file_system.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace smalti::real {

namespace {

Status errno_status(const std::string& what, int err) {
  const std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return error(StatusCode::kNoSpace, message);
    case ENOENT:
      return error(StatusCode::kNotFound, message);
    case EEXIST:
      return error(StatusCode::kAlreadyExists, message);
    default:
      return error(StatusCode::kIoError, message);
  }
}

Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open directory " + dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::ok() : errno_status("fsync directory " + dir, err);
}

std::string parent_of(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

class PosixFile final : public env::File {
 public:
  PosixFile(int fd, std::string path, bool created)
      : fd_(fd), path_(std::move(path)), dir_unsynced_(created) {}
  ~PosixFile() override { ::close(fd_); }

  Result<std::size_t> read(std::uint64_t offset, std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("read " + path_, errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }
  Status write(std::uint64_t offset, ByteView data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("write " + path_, errno);
      done += static_cast<std::size_t>(n);
    }
    return Status::ok();
  }
  Status truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return errno_status("truncate " + path_, errno);
    }
    return Status::ok();
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync " + path_, errno);
    if (dir_unsynced_) {
      SMALTI_RETURN_IF_ERROR(sync_directory(parent_of(path_)));
      dir_unsynced_ = false;
    }
    return Status::ok();
  }
  Result<std::uint64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_status("stat " + path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
  bool dir_unsynced_;  // created here: the directory entry is durable after the first sync
};

}  // namespace

Result<std::unique_ptr<PosixFileSystem>> PosixFileSystem::create(std::string root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return error(StatusCode::kIoError, "create " + root + ": " + ec.message());
  return std::unique_ptr<PosixFileSystem>(new PosixFileSystem(std::move(root)));
}

Result<std::string> PosixFileSystem::full_path(const std::string& path) const {
  const std::filesystem::path relative(path);
  if (path.empty() || relative.is_absolute()) {
    return error(StatusCode::kInvalidArgument, "not a relative path: " + path);
  }
  for (const auto& part : relative) {
    if (part == "..") return error(StatusCode::kInvalidArgument, "path leaves the root: " + path);
  }
  return (std::filesystem::path(root_) / relative).string();
}

Result<std::unique_ptr<env::File>> PosixFileSystem::open(const std::string& path,
                                                         env::OpenMode mode) {
  SMALTI_ASSIGN_OR_RETURN(std::string full, full_path(path));
  int flags = O_RDWR | O_CLOEXEC;
  if (mode != env::OpenMode::kOpenExisting) {
    std::error_code ec;
    std::filesystem::create_directories(parent_of(full), ec);
    if (ec)
      return error(StatusCode::kIoError, "create directory for " + path + ": " + ec.message());
    flags |= O_CREAT;
    if (mode == env::OpenMode::kCreateNew) flags |= O_EXCL;
  }
  const bool existed = ::access(full.c_str(), F_OK) == 0;
  const int fd = ::open(full.c_str(), flags, 0600);
  if (fd < 0) return errno_status("open " + path, errno);
  return std::unique_ptr<env::File>(std::make_unique<PosixFile>(fd, full, !existed));
}

Status PosixFileSystem::remove(const std::string& path) {
  SMALTI_ASSIGN_OR_RETURN(std::string full, full_path(path));
  if (::unlink(full.c_str()) != 0) return errno_status("remove " + path, errno);
  return sync_directory(parent_of(full));
}

Result<bool> PosixFileSystem::exists(const std::string& path) {
  SMALTI_ASSIGN_OR_RETURN(std::string full, full_path(path));
  struct stat st {};
  if (::stat(full.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return errno_status("stat " + path, errno);
}

Result<std::vector<std::string>> PosixFileSystem::list(const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(root_, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string relative = std::filesystem::relative(it->path(), root_, ec).string();
    if (relative.rfind(prefix, 0) == 0) out.push_back(std::move(relative));
  }
  if (ec) return error(StatusCode::kIoError, "list " + root_ + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace smalti::real
