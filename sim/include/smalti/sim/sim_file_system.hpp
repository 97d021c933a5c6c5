// SimFileSystem: the simulator's disk, an in-memory env::FileSystem with crash semantics and
// injectable faults (latency, I/O errors, bit flips on read, a full disk, lost and torn unsynced
// writes at a crash).
//
// Thread safety: none. A SimFileSystem and every File it opens are used from the simulator
// thread only. Everything is deterministic: all randomness is drawn from the Rng given at
// construction, and nothing depends on pointer values, clocks or unordered iteration.
//
// Model. Each file (an inode) keeps
//   - its current content, which every read sees at once;
//   - a durable image, what it held at its last successful sync();
//   - the ordered list of writes and truncates made since that sync (the pending ops).
// Invariant: current == durable image with every pending op applied in order.
//
// sync() makes the current content durable and clears the pending ops; if it fails
// (sync_error_rate) nothing new becomes durable. A file created by open() exists durably only once
// it has been synced successfully; remove() is durable at once. To bound memory, a file keeps at
// most kMaxPendingOps pending ops and kMaxPendingBytes pending bytes: beyond either, the oldest
// pending op is written back (applied to the durable image), as an OS flushes dirty pages.
//
// crash() simulates power loss. For each file, in path order:
//   - a file that was never synced disappears;
//   - otherwise its new content is its durable image with each pending op applied, in the
//     original order, in one of these forms chosen independently per op with the Rng:
//       * a write is torn with probability torn_write_rate; otherwise it is applied wholly with
//         probability unsynced_keep_rate and dropped otherwise;
//       * a truncate is applied with probability unsynced_keep_rate and dropped otherwise;
//       * a torn write's byte range [offset, offset + size) is cut at absolute multiples of
//         kSectorSize into pieces; the first k pieces are applied, k uniform in [0, pieces - 1]
//         (so a write within one sector that is torn is lost);
//     applying a write past the end of the file extends it with zeros, as a write does.
//   Consequently the content after a crash only holds bytes of the durable image, bytes some
//   write put at that same offset, and zeros. The new content is also the new durable image.
//   Files removed while still open vanish. Every File handle opened before the crash becomes
//   stale: each of its calls returns kIoError "stale handle after crash".
//
// Faults (set_faults(), effective from the next call, so a test can inject and then heal):
//   - latency: every call on the file system or a non-stale handle draws a latency uniform in
//     [min_latency, max_latency] and adds it to a total that take_pending_latency() returns and
//     resets. take_pending_latency() itself costs nothing.
//   - I/O errors: read(), size(), open(), exists() and list() fail with kIoError with probability
//     read_error_rate; write(), truncate(), remove() and an open() that would create a file with
//     write_error_rate; sync() with sync_error_rate. A failed call changes nothing.
//   - bit flips: a read that returns n > 0 bytes has, with probability read_bit_flip_rate,
//     exactly one of its 8n bits flipped in the caller's buffer; the stored data is unchanged.
//   - capacity: the sum of the current sizes of all files (including removed files still open)
//     may not exceed capacity_bytes; a write or truncate that would grow past it fails with
//     kNoSpace and changes nothing (no short writes). A crash may leave files larger than
//     before (dropped shrinking truncates), so usage can exceed capacity afterwards; then only
//     shrinking succeeds until space is freed.
//
// Bounds: a write or truncate ending past kMaxFileSize fails with kNoSpace (as EFBIG maps to a
// full disk for SQLite); an offset + size that overflows fails with kInvalidArgument; a path that
// is empty or longer than kMaxPathLength fails with kInvalidArgument; creating more than
// kMaxFiles files fails with kNoSpace. Reads copy at most what exists; nothing allocates on the
// caller's word alone. A zero-length write changes nothing.
//
// Handles share the file system's state, so they may outlive the SimFileSystem (then they keep
// working on their orphaned file). Removing a file that is open keeps it usable through its open
// handles, as POSIX unlink does; its space is released when the last handle closes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smalti/base/bytes.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/env/file_system.hpp"

namespace smalti::sim {

namespace detail {
struct SimDiskState;  // shared by a SimFileSystem and its open handles; defined in the .cpp
}  // namespace detail

struct DiskFaults {
  Duration min_latency{0};  // per operation, uniform in [min_latency, max_latency]
  Duration max_latency{0};
  double read_error_rate = 0;  // probability an operation fails with kIoError (see above)
  double write_error_rate = 0;
  double sync_error_rate = 0;
  double read_bit_flip_rate = 0;  // probability a read returns data with one bit flipped
  std::uint64_t capacity_bytes = UINT64_MAX;  // total current bytes of all files
  double torn_write_rate = 0.5;               // at a crash, probability an unsynced write is torn
  double unsynced_keep_rate = 0.5;  // at a crash, probability a not-torn unsynced op survives
};

class SimFileSystem final : public env::FileSystem {
 public:
  static constexpr std::uint64_t kMaxFileSize = std::uint64_t{1} << 30;  // 1 GiB
  static constexpr std::uint64_t kSectorSize = 512;
  static constexpr std::size_t kMaxPendingOps = 1024;                         // per file
  static constexpr std::uint64_t kMaxPendingBytes = std::uint64_t{64} << 20;  // per file
  static constexpr std::size_t kMaxFiles = 65536;
  static constexpr std::size_t kMaxPathLength = 4096;

  struct Stats {
    // Calls, counting failed ones too (calls on stale handles are not counted).
    std::uint64_t opens = 0;
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t truncates = 0;
    std::uint64_t syncs = 0;
    std::uint64_t removes = 0;
    std::uint64_t bytes_read = 0;     // by successful reads
    std::uint64_t bytes_written = 0;  // by successful writes
    std::uint64_t io_errors_injected = 0;
    std::uint64_t bit_flips_injected = 0;
    std::uint64_t no_space_errors = 0;
    std::uint64_t writebacks = 0;  // pending ops made durable because of the pending limits
    std::uint64_t crashes = 0;
    std::uint64_t files_lost_at_crash = 0;   // never-synced files that disappeared
    std::uint64_t ops_dropped_at_crash = 0;  // pending writes and truncates dropped wholly
    std::uint64_t writes_torn_at_crash = 0;
    std::uint64_t bytes_lost_at_crash = 0;  // bytes of dropped or torn writes not applied
  };

  // All randomness (latency, faults, crash outcomes) is drawn from `rng`.
  explicit SimFileSystem(Rng rng);
  ~SimFileSystem() override;
  SimFileSystem(const SimFileSystem&) = delete;
  SimFileSystem& operator=(const SimFileSystem&) = delete;

  // Requires min_latency <= max_latency, min_latency >= 0 and every rate in [0, 1].
  void set_faults(const DiskFaults& faults);
  const DiskFaults& faults() const;

  // Simulates power loss (see the header comment). Never fails. The pending latency is kept.
  void crash();

  const Stats& stats() const;
  // Sum of the current sizes of all files, including removed files still open.
  std::uint64_t used_bytes() const;
  // The durable image of `path` (what it held at its last successful sync), or nullopt if the
  // file does not exist or was never synced. For tests and checkers: costs no latency, draws
  // nothing and injects no fault.
  std::optional<Bytes> durable_content(const std::string& path) const;

  // env::FileSystem
  Result<std::unique_ptr<env::File>> open(const std::string& path, env::OpenMode mode) override;
  Status remove(const std::string& path) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Duration take_pending_latency() override;

 private:
  std::shared_ptr<detail::SimDiskState> state_;
};

}  // namespace smalti::sim
