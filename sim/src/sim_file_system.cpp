#include "smalti/sim/sim_file_system.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <string_view>
#include <utility>

#include "smalti/base/assert.hpp"

namespace smalti::sim {
namespace detail {

// One unsynced change to a file, kept so that a crash can apply, drop or tear it.
struct PendingOp {
  bool is_write = false;
  std::uint64_t offset = 0;  // a write's offset, or a truncate's new size
  Bytes data;                // a write's bytes (never empty)
};

struct Inode {
  Bytes current;                  // what reads see
  Bytes durable;                  // content at the last successful sync
  std::deque<PendingOp> pending;  // since the last sync, oldest first
  std::uint64_t pending_bytes = 0;
  bool ever_synced = false;        // the file's existence is durable
  bool removed = false;            // unlinked while open: lives until the last handle closes
  std::uint32_t open_handles = 0;  // handles of the current epoch
};

struct SimDiskState {
  explicit SimDiskState(Rng r) : rng(r) {}

  Rng rng;
  DiskFaults faults;
  SimFileSystem::Stats stats;
  std::map<std::string, std::shared_ptr<Inode>> files;  // ordered: list() and crash() iterate
  std::uint64_t used_bytes = 0;
  std::uint64_t epoch = 0;  // bumped by every crash; handles of older epochs are stale
  Duration pending_latency{0};
};

}  // namespace detail

namespace {

using detail::Inode;
using detail::PendingOp;
using detail::SimDiskState;
using Fs = SimFileSystem;

// Draws only when the outcome is uncertain, so rates of 0 and 1 consume no randomness.
bool draw(Rng& rng, double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return rng.chance(probability);
}

void charge_latency(SimDiskState& s) {
  const DiskFaults& f = s.faults;
  s.pending_latency += f.min_latency == f.max_latency
                           ? f.min_latency
                           : s.rng.duration_between(f.min_latency, f.max_latency);
}

// Returns true (and counts it) when an I/O error is injected with `rate`.
bool inject_error(SimDiskState& s, double rate) {
  if (!draw(s.rng, rate)) return false;
  ++s.stats.io_errors_injected;
  return true;
}

Status io_error(std::string_view op) {
  return error(StatusCode::kIoError, "simulated I/O error in " + std::string(op));
}

Status no_space(SimDiskState& s, std::string message) {
  ++s.stats.no_space_errors;
  return error(StatusCode::kNoSpace, std::move(message));
}

Status check_path(const std::string& path) {
  if (path.empty()) return error(StatusCode::kInvalidArgument, "empty path");
  if (path.size() > Fs::kMaxPathLength) {
    return error(StatusCode::kInvalidArgument, "path longer than kMaxPathLength");
  }
  return Status::ok();
}

// The end of [offset, offset + size), or an error if it overflows or passes kMaxFileSize.
Result<std::uint64_t> range_end(SimDiskState& s, std::uint64_t offset, std::uint64_t size) {
  if (size > UINT64_MAX - offset) {
    return error(StatusCode::kInvalidArgument, "offset + size overflows");
  }
  const std::uint64_t end = offset + size;
  if (end > Fs::kMaxFileSize) return no_space(s, "file would exceed kMaxFileSize");
  return end;
}

// Checks that `inode` may grow to `new_size` within the capacity, and accounts for the change.
Status resize_accounting(SimDiskState& s, const Inode& inode, std::uint64_t new_size) {
  const std::uint64_t old_size = inode.current.size();
  if (new_size <= old_size) {
    s.used_bytes -= old_size - new_size;
    return Status::ok();
  }
  const std::uint64_t growth = new_size - old_size;
  if (s.used_bytes > s.faults.capacity_bytes || growth > s.faults.capacity_bytes - s.used_bytes) {
    return no_space(s, "disk full");
  }
  s.used_bytes += growth;
  return Status::ok();
}

void apply_write(Bytes& content, std::uint64_t offset, ByteView data) {
  const std::uint64_t end = offset + data.size();
  if (end > content.size()) content.resize(end);
  std::memcpy(content.data() + offset, data.data(), data.size());
}

void apply_op(Bytes& content, const PendingOp& op) {
  if (op.is_write) {
    apply_write(content, op.offset, op.data);
  } else {
    content.resize(op.offset);
  }
}

// Appends an unsynced op; past the pending limits, writes the oldest ones back to the durable
// image, as an OS flushes dirty pages in the background.
void record_op(SimDiskState& s, Inode& inode, PendingOp op) {
  inode.pending_bytes += op.data.size();
  inode.pending.push_back(std::move(op));
  while (inode.pending.size() > Fs::kMaxPendingOps || inode.pending_bytes > Fs::kMaxPendingBytes) {
    PendingOp& oldest = inode.pending.front();
    apply_op(inode.durable, oldest);
    inode.pending_bytes -= oldest.data.size();
    inode.pending.pop_front();
    ++s.stats.writebacks;
  }
}

// Applies a prefix of whole sectors of a torn write: k of its pieces, k uniform in
// [0, pieces - 1], cutting [offset, end) at absolute multiples of kSectorSize.
void apply_torn(SimDiskState& s, Bytes& content, const PendingOp& op) {
  const std::uint64_t end = op.offset + op.data.size();
  const std::uint64_t first_sector = op.offset / Fs::kSectorSize;
  const std::uint64_t pieces = (end - 1) / Fs::kSectorSize - first_sector + 1;
  const std::uint64_t kept = s.rng.below(pieces);
  std::uint64_t applied = 0;
  if (kept > 0) {
    const std::uint64_t cut = std::min(end, (first_sector + kept) * Fs::kSectorSize);
    applied = cut - op.offset;
    apply_write(content, op.offset, ByteView(op.data).first(applied));
  }
  ++s.stats.writes_torn_at_crash;
  s.stats.bytes_lost_at_crash += op.data.size() - applied;
}

// Applies one pending op to `content` in the form a crash chooses for it.
void apply_at_crash(SimDiskState& s, Bytes& content, const PendingOp& op) {
  if (op.is_write && draw(s.rng, s.faults.torn_write_rate)) {
    apply_torn(s, content, op);
  } else if (draw(s.rng, s.faults.unsynced_keep_rate)) {
    apply_op(content, op);
  } else {
    ++s.stats.ops_dropped_at_crash;
    s.stats.bytes_lost_at_crash += op.data.size();
  }
}

class SimFile final : public env::File {
 public:
  SimFile(std::shared_ptr<SimDiskState> state, std::shared_ptr<Inode> inode)
      : state_(std::move(state)), inode_(std::move(inode)), epoch_(state_->epoch) {
    ++inode_->open_handles;
  }

  ~SimFile() override {
    if (stale()) return;  // the crash already dropped this inode and recounted the space
    --inode_->open_handles;
    if (inode_->removed && inode_->open_handles == 0) {
      state_->used_bytes -= inode_->current.size();
      inode_->current = Bytes();
      inode_->durable = Bytes();
      inode_->pending.clear();
    }
  }

  SimFile(const SimFile&) = delete;
  SimFile& operator=(const SimFile&) = delete;

  Result<std::size_t> read(std::uint64_t offset, std::span<std::uint8_t> out) override;
  Status write(std::uint64_t offset, ByteView data) override;
  Status truncate(std::uint64_t size) override;
  Status sync() override;
  Result<std::uint64_t> size() override;

 private:
  bool stale() const { return epoch_ != state_->epoch; }

  // Every call starts here: a stale handle fails without touching the disk; otherwise the
  // call's latency is charged.
  Status begin() {
    if (stale()) return error(StatusCode::kIoError, "stale handle after crash");
    charge_latency(*state_);
    return Status::ok();
  }

  std::shared_ptr<SimDiskState> state_;
  std::shared_ptr<Inode> inode_;
  std::uint64_t epoch_;
};

Result<std::size_t> SimFile::read(std::uint64_t offset, std::span<std::uint8_t> out) {
  SMALTI_RETURN_IF_ERROR(begin());
  SimDiskState& s = *state_;
  ++s.stats.reads;
  if (inject_error(s, s.faults.read_error_rate)) return io_error("read");
  const Bytes& content = inode_->current;
  if (offset >= content.size() || out.empty()) return std::size_t{0};
  const std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), content.size() - offset));
  std::memcpy(out.data(), content.data() + offset, n);
  s.stats.bytes_read += n;
  if (draw(s.rng, s.faults.read_bit_flip_rate)) {
    const std::uint64_t bit = s.rng.below(std::uint64_t{n} * 8);
    out[bit / 8] = static_cast<std::uint8_t>(out[bit / 8] ^ (1u << (bit % 8)));
    ++s.stats.bit_flips_injected;
  }
  return n;
}

Status SimFile::write(std::uint64_t offset, ByteView data) {
  SMALTI_RETURN_IF_ERROR(begin());
  SimDiskState& s = *state_;
  ++s.stats.writes;
  if (inject_error(s, s.faults.write_error_rate)) return io_error("write");
  if (data.empty()) return Status::ok();
  SMALTI_ASSIGN_OR_RETURN(const std::uint64_t end, range_end(s, offset, data.size()));
  Inode& inode = *inode_;
  SMALTI_RETURN_IF_ERROR(
      resize_accounting(s, inode, std::max<std::uint64_t>(end, inode.current.size())));
  apply_write(inode.current, offset, data);
  record_op(s, inode, PendingOp{true, offset, Bytes(data.begin(), data.end())});
  s.stats.bytes_written += data.size();
  return Status::ok();
}

Status SimFile::truncate(std::uint64_t size) {
  SMALTI_RETURN_IF_ERROR(begin());
  SimDiskState& s = *state_;
  ++s.stats.truncates;
  if (inject_error(s, s.faults.write_error_rate)) return io_error("truncate");
  SMALTI_RETURN_IF_ERROR(range_end(s, size, 0).status());
  Inode& inode = *inode_;
  SMALTI_RETURN_IF_ERROR(resize_accounting(s, inode, size));
  inode.current.resize(size);
  record_op(s, inode, PendingOp{false, size, {}});
  return Status::ok();
}

Status SimFile::sync() {
  SMALTI_RETURN_IF_ERROR(begin());
  SimDiskState& s = *state_;
  ++s.stats.syncs;
  if (inject_error(s, s.faults.sync_error_rate)) return io_error("sync");
  Inode& inode = *inode_;
  // Replaying the pending ops costs what was written, not the whole file.
  for (const PendingOp& op : inode.pending) apply_op(inode.durable, op);
  SMALTI_ASSERT(inode.durable.size() == inode.current.size());
  inode.pending.clear();
  inode.pending_bytes = 0;
  inode.ever_synced = true;
  return Status::ok();
}

Result<std::uint64_t> SimFile::size() {
  SMALTI_RETURN_IF_ERROR(begin());
  SimDiskState& s = *state_;
  if (inject_error(s, s.faults.read_error_rate)) return io_error("size");
  return std::uint64_t{inode_->current.size()};
}

}  // namespace

SimFileSystem::SimFileSystem(Rng rng) : state_(std::make_shared<SimDiskState>(rng)) {}

SimFileSystem::~SimFileSystem() = default;

void SimFileSystem::set_faults(const DiskFaults& faults) {
  SMALTI_ASSERT(faults.min_latency >= Duration{0} && faults.min_latency <= faults.max_latency,
                "DiskFaults: need 0 <= min_latency <= max_latency");
  for (double rate :
       {faults.read_error_rate, faults.write_error_rate, faults.sync_error_rate,
        faults.read_bit_flip_rate, faults.torn_write_rate, faults.unsynced_keep_rate}) {
    SMALTI_ASSERT(rate >= 0 && rate <= 1, "DiskFaults: rates must be in [0, 1]");
  }
  state_->faults = faults;
}

const DiskFaults& SimFileSystem::faults() const {
  return state_->faults;
}

const SimFileSystem::Stats& SimFileSystem::stats() const {
  return state_->stats;
}

std::uint64_t SimFileSystem::used_bytes() const {
  return state_->used_bytes;
}

std::optional<Bytes> SimFileSystem::durable_content(const std::string& path) const {
  const auto it = state_->files.find(path);
  if (it == state_->files.end() || !it->second->ever_synced) return std::nullopt;
  return it->second->durable;
}

void SimFileSystem::crash() {
  SimDiskState& s = *state_;
  ++s.stats.crashes;
  ++s.epoch;  // every open handle is now stale
  std::map<std::string, std::shared_ptr<Inode>> survivors;
  std::uint64_t used = 0;
  for (auto& [path, inode] : s.files) {
    if (!inode->ever_synced) {
      ++s.stats.files_lost_at_crash;
      continue;
    }
    // Stale handles can no longer read the old inode, so its durable image can be moved.
    auto fresh = std::make_shared<Inode>();
    fresh->current = std::move(inode->durable);
    for (const PendingOp& op : inode->pending) apply_at_crash(s, fresh->current, op);
    fresh->durable = fresh->current;
    fresh->ever_synced = true;
    used += fresh->current.size();
    survivors.emplace(path, std::move(fresh));
  }
  // Removed files still open (orphans) are not in `files`: they vanish with the old epoch.
  s.files = std::move(survivors);
  s.used_bytes = used;
}

Result<std::unique_ptr<env::File>> SimFileSystem::open(const std::string& path,
                                                       env::OpenMode mode) {
  SimDiskState& s = *state_;
  charge_latency(s);
  ++s.stats.opens;
  SMALTI_RETURN_IF_ERROR(check_path(path));
  if (inject_error(s, s.faults.read_error_rate)) return io_error("open");
  std::shared_ptr<Inode> inode;
  if (const auto it = s.files.find(path); it != s.files.end()) {
    if (mode == env::OpenMode::kCreateNew) {
      return error(StatusCode::kAlreadyExists, "file exists: " + path);
    }
    inode = it->second;
  } else {
    if (mode == env::OpenMode::kOpenExisting) {
      return error(StatusCode::kNotFound, "no such file: " + path);
    }
    if (inject_error(s, s.faults.write_error_rate)) return io_error("open (create)");
    if (s.files.size() >= kMaxFiles) return no_space(s, "too many files (kMaxFiles)");
    inode = std::make_shared<Inode>();
    s.files.emplace(path, inode);
  }
  return std::unique_ptr<env::File>(std::make_unique<SimFile>(state_, std::move(inode)));
}

Status SimFileSystem::remove(const std::string& path) {
  SimDiskState& s = *state_;
  charge_latency(s);
  ++s.stats.removes;
  SMALTI_RETURN_IF_ERROR(check_path(path));
  if (inject_error(s, s.faults.write_error_rate)) return io_error("remove");
  const auto it = s.files.find(path);
  if (it == s.files.end()) return error(StatusCode::kNotFound, "no such file: " + path);
  Inode& inode = *it->second;
  inode.removed = true;
  // With no open handle the space is free now; otherwise the last handle frees it.
  if (inode.open_handles == 0) s.used_bytes -= inode.current.size();
  s.files.erase(it);
  return Status::ok();
}

Result<bool> SimFileSystem::exists(const std::string& path) {
  SimDiskState& s = *state_;
  charge_latency(s);
  SMALTI_RETURN_IF_ERROR(check_path(path));
  if (inject_error(s, s.faults.read_error_rate)) return io_error("exists");
  return s.files.count(path) != 0;
}

Result<std::vector<std::string>> SimFileSystem::list(const std::string& prefix) {
  SimDiskState& s = *state_;
  charge_latency(s);
  if (prefix.size() > kMaxPathLength) {
    return error(StatusCode::kInvalidArgument, "prefix longer than kMaxPathLength");
  }
  if (inject_error(s, s.faults.read_error_rate)) return io_error("list");
  std::vector<std::string> paths;  // at most kMaxFiles
  for (auto it = s.files.lower_bound(prefix);
       it != s.files.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    paths.push_back(it->first);
  }
  return paths;
}

Duration SimFileSystem::take_pending_latency() {
  return std::exchange(state_->pending_latency, Duration{0});
}

}  // namespace smalti::sim
