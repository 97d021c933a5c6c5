#include "smalti/storage/sqlite_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>

namespace smalti::storage {

// The sqlite3_vfs SQLite holds, with a way back to its SqliteVfs.
struct VfsRecord {
  sqlite3_vfs vfs{};
  SqliteVfs* owner = nullptr;
};

namespace {

// Julian day number of the Unix epoch, in milliseconds (what xCurrentTimeInt64 returns).
constexpr sqlite3_int64 kUnixEpochJulianMs = 210866760000000;
// The sector size SQLite is told; SimFileSystem tears writes at this granularity.
constexpr int kSectorSize = 512;
// Reads of one range before the VFS gives up on getting two equal answers in a row.
constexpr int kMaxReadAttempts = 4;

// One open file, laid out in the space SQLite allocates (szOsFile): sqlite3_file must come first.
struct VfsFile {
  sqlite3_file base;
  SqliteVfs* vfs;
  std::unique_ptr<env::File> file;
  std::string path;
  bool delete_on_close;
  int lock;
};

VfsFile& as_file(sqlite3_file* f) {
  return *reinterpret_cast<VfsFile*>(f);
}

}  // namespace

struct SqliteVfs::Glue {
  static SqliteVfs& owner(sqlite3_vfs* vfs) {
    return *static_cast<VfsRecord*>(vfs->pAppData)->owner;
  }

  // Maps a failed call to SQLite's code and counts it.
  static int fail(SqliteVfs& vfs, const Status& status, int io_code) {
    if (status.code() == StatusCode::kNoSpace) {
      ++vfs.stats_.full_errors;
      return SQLITE_FULL;
    }
    ++vfs.stats_.io_errors;
    return io_code;
  }

  // ---- file methods --------------------------------------------------------------------------
  static int close(sqlite3_file* f) {
    VfsFile& file = as_file(f);
    file.file.reset();
    if (file.delete_on_close) (void)file.vfs->fs_.remove(file.path);
    file.~VfsFile();
    return SQLITE_OK;
  }
  // Reads all of [at, at + out.size()) that the file holds: a read may return a part (as pread
  // may, and as the storage.short_read fault point makes it), and only a read of nothing is the
  // end of the file. Returns how many bytes were read.
  static Result<std::size_t> read_fully(VfsFile& file, std::uint64_t at,
                                        std::span<std::uint8_t> out) {
    std::size_t done = 0;
    for (std::size_t rounds = 0; done < out.size(); ++rounds) {
      std::span<std::uint8_t> rest = out.subspan(done);
      if (rest.size() > 1 && fire(file.vfs->buggify_, "storage.short_read")) {
        rest = rest.first(rest.size() / 2);  // the file answers with a part only
      }
      SMALTI_ASSIGN_OR_RETURN(std::size_t got, file.file->read(at + done, rest));
      if (got == 0) break;  // the end of the file
      done += got;
      if (rounds == 0 && done < out.size()) ++file.vfs->stats_.partial_reads;
    }
    return done;
  }
  // Reads until two reads in a row agree (kMaxReadAttempts at most): a bit flipped on the way
  // from the disk, which the disk model injects and SQLite cannot tell from a torn WAL tail,
  // shows as a disagreement instead of a value taken as good.
  static int read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
    VfsFile& file = as_file(f);
    auto* bytes = static_cast<std::uint8_t*>(out);
    const auto size = static_cast<std::size_t>(amount);
    const auto at = static_cast<std::uint64_t>(offset);
    auto got = read_fully(file, at, {bytes, size});
    if (!got.is_ok()) return fail(*file.vfs, got.status(), SQLITE_IOERR_READ);
    Bytes& again = file.vfs->read_check_;
    again.resize(size);
    bool agreed = false;
    for (int attempt = 1; attempt < kMaxReadAttempts && !agreed; ++attempt) {
      auto second = read_fully(file, at, {again.data(), size});
      if (!second.is_ok()) return fail(*file.vfs, second.status(), SQLITE_IOERR_READ);
      agreed = *second == *got && std::memcmp(again.data(), bytes, *got) == 0;
      if (!agreed) {
        ++file.vfs->stats_.read_retries;
        std::memcpy(bytes, again.data(), *second);
        got = *second;
      }
    }
    if (!agreed)
      return fail(*file.vfs, error(StatusCode::kIoError, "unstable read"), SQLITE_IOERR_READ);
    if (*got < size) {
      // SQLite requires the rest zeroed on a short read.
      std::memset(bytes + *got, 0, size - *got);
      ++file.vfs->stats_.short_reads;
      return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
  }
  static int write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
    VfsFile& file = as_file(f);
    const ByteView view(static_cast<const std::uint8_t*>(data), static_cast<std::size_t>(amount));
    // Fault point: the disk fails the write with EIO (nothing is written).
    if (fire(file.vfs->buggify_, "storage.write_error")) {
      return fail(*file.vfs, error(StatusCode::kIoError, "injected write error"),
                  SQLITE_IOERR_WRITE);
    }
    Status s = file.file->write(static_cast<std::uint64_t>(offset), view);
    return s.is_ok() ? SQLITE_OK : fail(*file.vfs, s, SQLITE_IOERR_WRITE);
  }
  static int truncate(sqlite3_file* f, sqlite3_int64 size) {
    VfsFile& file = as_file(f);
    Status s = file.file->truncate(static_cast<std::uint64_t>(size));
    return s.is_ok() ? SQLITE_OK : fail(*file.vfs, s, SQLITE_IOERR_TRUNCATE);
  }
  static int sync(sqlite3_file* f, int /*flags*/) {
    VfsFile& file = as_file(f);
    ++file.vfs->stats_.syncs;
    // Fault point: fsync fails with EIO; nothing since the last sync is known durable.
    if (fire(file.vfs->buggify_, "storage.sync_error")) {
      return fail(*file.vfs, error(StatusCode::kIoError, "injected sync error"),
                  SQLITE_IOERR_FSYNC);
    }
    Status s = file.file->sync();
    return s.is_ok() ? SQLITE_OK : fail(*file.vfs, s, SQLITE_IOERR_FSYNC);
  }
  static int file_size(sqlite3_file* f, sqlite3_int64* out) {
    VfsFile& file = as_file(f);
    auto size = file.file->size();
    if (!size.is_ok()) return fail(*file.vfs, size.status(), SQLITE_IOERR_FSTAT);
    *out = static_cast<sqlite3_int64>(*size);
    return SQLITE_OK;
  }
  // One process: every lock is granted at once; the level is kept for check_reserved_lock.
  static int lock(sqlite3_file* f, int level) {
    as_file(f).lock = std::max(as_file(f).lock, level);
    return SQLITE_OK;
  }
  static int unlock(sqlite3_file* f, int level) {
    as_file(f).lock = std::min(as_file(f).lock, level);
    return SQLITE_OK;
  }
  static int check_reserved_lock(sqlite3_file* f, int* out) {
    *out = as_file(f).lock >= SQLITE_LOCK_RESERVED ? 1 : 0;
    return SQLITE_OK;
  }
  static int file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
  static int sector_size(sqlite3_file*) { return kSectorSize; }
  // No guarantee beyond the sync contract: SQLite assumes nothing is atomic.
  static int device_characteristics(sqlite3_file*) { return 0; }

  static const sqlite3_io_methods* io_methods() {
    // Version 1: no shared memory (exclusive locking mode) and no memory mapping.
    static const sqlite3_io_methods methods = {
        1,
        close,
        read,
        write,
        truncate,
        sync,
        file_size,
        lock,
        unlock,
        check_reserved_lock,
        file_control,
        sector_size,
        device_characteristics,
        nullptr,  // xShmMap
        nullptr,  // xShmLock
        nullptr,  // xShmBarrier
        nullptr,  // xShmUnmap
        nullptr,  // xFetch
        nullptr,  // xUnfetch
    };
    return &methods;
  }

  // ---- VFS methods ---------------------------------------------------------------------------
  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* out, int flags, int* out_flags) {
    SqliteVfs& vfs = owner(v);
    out->pMethods = nullptr;  // SQLite must not call xClose on a file that failed to open
    std::string path =
        name != nullptr ? std::string(name) : "smalti-temp-" + std::to_string(vfs.next_temp_++);
    env::OpenMode mode = env::OpenMode::kOpenExisting;
    if ((flags & SQLITE_OPEN_CREATE) != 0) mode = env::OpenMode::kCreateIfMissing;
    if ((flags & SQLITE_OPEN_EXCLUSIVE) != 0) mode = env::OpenMode::kCreateNew;
    auto file = vfs.fs_.open(path, mode);
    if (!file.is_ok()) {
      if (file.status().code() != StatusCode::kNotFound) ++vfs.stats_.io_errors;
      return SQLITE_CANTOPEN;
    }
    new (out) VfsFile{{io_methods()},
                      &vfs,
                      std::move(file).value(),
                      std::move(path),
                      (flags & SQLITE_OPEN_DELETEONCLOSE) != 0,
                      SQLITE_LOCK_NONE};
    if (out_flags != nullptr) *out_flags = flags;
    return SQLITE_OK;
  }
  static int remove(sqlite3_vfs* v, const char* name, int /*sync_dir*/) {
    SqliteVfs& vfs = owner(v);
    Status s = vfs.fs_.remove(name);
    if (s.is_ok()) return SQLITE_OK;
    if (s.code() == StatusCode::kNotFound) return SQLITE_IOERR_DELETE_NOENT;
    return fail(vfs, s, SQLITE_IOERR_DELETE);
  }
  // A file "exists" for SQLite when it has content, as the unix VFS decides for journals.
  static int access(sqlite3_vfs* v, const char* name, int /*flags*/, int* out) {
    SqliteVfs& vfs = owner(v);
    *out = 0;
    auto exists = vfs.fs_.exists(name);
    if (!exists.is_ok()) return fail(vfs, exists.status(), SQLITE_IOERR_ACCESS);
    if (!*exists) return SQLITE_OK;
    auto file = vfs.fs_.open(name, env::OpenMode::kOpenExisting);
    if (!file.is_ok()) return fail(vfs, file.status(), SQLITE_IOERR_ACCESS);
    auto size = (*file)->size();
    if (!size.is_ok()) return fail(vfs, size.status(), SQLITE_IOERR_ACCESS);
    *out = *size > 0 ? 1 : 0;
    return SQLITE_OK;
  }
  static int full_pathname(sqlite3_vfs*, const char* name, int out_size, char* out) {
    const std::size_t length = std::strlen(name);
    if (length + 1 > static_cast<std::size_t>(out_size)) return SQLITE_CANTOPEN;
    std::memcpy(out, name, length + 1);
    return SQLITE_OK;
  }
  static int randomness(sqlite3_vfs* v, int size, char* out) {
    SqliteVfs& vfs = owner(v);
    for (int i = 0; i < size; ++i) out[i] = static_cast<char>(vfs.rng_.next_u64() & 0xff);
    return size;
  }
  static int sleep(sqlite3_vfs*, int microseconds) { return microseconds; }
  static int current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
    *out = kUnixEpochJulianMs + owner(v).clock_.wall().unix_millis();
    return SQLITE_OK;
  }
  static int current_time(sqlite3_vfs* v, double* out) {
    sqlite3_int64 ms = 0;
    current_time_int64(v, &ms);
    *out = static_cast<double>(ms) / 86400000.0;
    return SQLITE_OK;
  }
  static int last_error(sqlite3_vfs*, int, char*) { return 0; }
  // Loading extensions is not offered: every call fails cleanly.
  static void* dl_open(sqlite3_vfs*, const char*) { return nullptr; }
  static void dl_error(sqlite3_vfs*, int size, char* out) {
    if (size > 0) std::snprintf(out, static_cast<std::size_t>(size), "%s", "not supported");
  }
  static void (*dl_sym(sqlite3_vfs*, void*, const char*))(void) { return nullptr; }
  static void dl_close(sqlite3_vfs*, void*) {}
};

SqliteVfs::SqliteVfs(env::FileSystem& fs, env::Clock& clock, std::uint64_t seed, std::string name,
                     Buggify buggify)
    : fs_(fs), clock_(clock), rng_(seed), name_(std::move(name)), buggify_(std::move(buggify)) {}

Result<std::unique_ptr<SqliteVfs>> SqliteVfs::create(env::FileSystem& fs, env::Clock& clock,
                                                     std::uint64_t seed, Buggify buggify) {
  // Names only need to be unique in the process; they decide nothing else.
  static std::atomic<std::uint64_t> next_id{1};
  std::unique_ptr<SqliteVfs> vfs(new SqliteVfs(
      fs, clock, seed, "smalti-vfs-" + std::to_string(next_id++), std::move(buggify)));
  vfs->record_ = std::make_unique<VfsRecord>();
  VfsRecord& record = *vfs->record_;
  record.owner = vfs.get();
  sqlite3_vfs& v = record.vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(VfsFile));
  v.mxPathname = 1024;
  v.zName = vfs->name_.c_str();
  v.pAppData = &record;
  v.xOpen = Glue::open;
  v.xDelete = Glue::remove;
  v.xAccess = Glue::access;
  v.xFullPathname = Glue::full_pathname;
  v.xDlOpen = Glue::dl_open;
  v.xDlError = Glue::dl_error;
  v.xDlSym = Glue::dl_sym;
  v.xDlClose = Glue::dl_close;
  v.xRandomness = Glue::randomness;
  v.xSleep = Glue::sleep;
  v.xCurrentTime = Glue::current_time;
  v.xGetLastError = Glue::last_error;
  v.xCurrentTimeInt64 = Glue::current_time_int64;
  const int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0);
  if (rc != SQLITE_OK) {
    return error(StatusCode::kInternal, std::string("sqlite3_vfs_register: ") + sqlite3_errstr(rc));
  }
  return vfs;
}

SqliteVfs::~SqliteVfs() {
  if (record_) sqlite3_vfs_unregister(&record_->vfs);
}

}  // namespace smalti::storage
