// Tests for sim::SimFileSystem: POSIX-like semantics, crash outcomes, each disk fault and its
// healing, bounds, latency and determinism.
#include "smalti/sim/sim_file_system.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace smalti::sim {
namespace {

using env::File;
using env::OpenMode;
using Fs = SimFileSystem;

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 7 + salt) % 251 + 1);
  return b;
}

std::unique_ptr<File> must_open(Fs& fs, const std::string& path,
                                OpenMode mode = OpenMode::kCreateIfMissing) {
  auto f = fs.open(path, mode);
  EXPECT_TRUE(f.is_ok()) << f.status().to_string();
  return f.is_ok() ? std::move(f).value() : nullptr;
}

Bytes read_all(File& f) {
  const auto size = f.size();
  EXPECT_TRUE(size.is_ok()) << size.status().to_string();
  Bytes out(size.value_or(0));
  const auto n = f.read(0, out);
  EXPECT_TRUE(n.is_ok()) << n.status().to_string();
  out.resize(n.value_or(0));
  return out;
}

Bytes content_of(Fs& fs, const std::string& path) {
  auto f = must_open(fs, path, OpenMode::kOpenExisting);
  return f ? read_all(*f) : Bytes{};
}

StatusCode code(const Status& s) {
  return s.code();
}

DiskFaults crash_faults(double torn, double keep) {
  DiskFaults d;
  d.torn_write_rate = torn;
  d.unsynced_keep_rate = keep;
  return d;
}

// ---- basic semantics ----

TEST(SimFileSystem, OpenModes) {
  Fs fs{Rng(1)};
  EXPECT_EQ(fs.open("a", OpenMode::kOpenExisting).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs.open("a", OpenMode::kCreateNew).is_ok());
  EXPECT_EQ(fs.open("a", OpenMode::kCreateNew).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs.open("a", OpenMode::kOpenExisting).is_ok());
  EXPECT_TRUE(fs.open("a", OpenMode::kCreateIfMissing).is_ok());
  EXPECT_TRUE(fs.open("b", OpenMode::kCreateIfMissing).is_ok());
  EXPECT_EQ(fs.open("", OpenMode::kCreateIfMissing).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      fs.open(std::string(Fs::kMaxPathLength + 1, 'x'), OpenMode::kCreateIfMissing).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(SimFileSystem, ReadWriteTruncateSize) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  EXPECT_EQ(f->size().value(), 0u);
  ASSERT_TRUE(f->write(0, as_bytes("hello")).is_ok());
  ASSERT_TRUE(f->write(8, as_bytes("xy")).is_ok());  // leaves a zero-filled gap
  EXPECT_EQ(read_all(*f), (Bytes{'h', 'e', 'l', 'l', 'o', 0, 0, 0, 'x', 'y'}));
  ASSERT_TRUE(f->write(1, as_bytes("EL")).is_ok());
  std::uint8_t buf[4] = {};
  EXPECT_EQ(f->read(0, buf).value(), 4u);
  EXPECT_EQ(Bytes(buf, buf + 4), (Bytes{'h', 'E', 'L', 'l'}));
  EXPECT_EQ(f->read(8, buf).value(), 2u);  // short read at end of file
  EXPECT_EQ(f->read(10, buf).value(), 0u);
  EXPECT_EQ(f->read(1000, buf).value(), 0u);
  ASSERT_TRUE(f->truncate(3).is_ok());
  EXPECT_EQ(read_all(*f), (Bytes{'h', 'E', 'L'}));
  ASSERT_TRUE(f->truncate(5).is_ok());
  EXPECT_EQ(read_all(*f), (Bytes{'h', 'E', 'L', 0, 0}));
  ASSERT_TRUE(f->write(100, {}).is_ok());  // a zero-length write changes nothing
  EXPECT_EQ(f->size().value(), 5u);
  EXPECT_EQ(fs.used_bytes(), 5u);
  // A second handle sees the same file.
  auto g = must_open(fs, "f", OpenMode::kOpenExisting);
  EXPECT_EQ(read_all(*g), read_all(*f));
}

TEST(SimFileSystem, ListExistsRemove) {
  Fs fs{Rng(1)};
  for (const char* p : {"db/wal", "db/main", "x", "db/journal", "dc"}) must_open(fs, p);
  EXPECT_EQ(fs.list("db/").value(), (std::vector<std::string>{"db/journal", "db/main", "db/wal"}));
  EXPECT_EQ(fs.list("").value().size(), 5u);
  EXPECT_TRUE(fs.list("zz").value().empty());
  EXPECT_TRUE(fs.exists("x").value());
  EXPECT_FALSE(fs.exists("y").value());
  EXPECT_TRUE(fs.remove("x").is_ok());
  EXPECT_FALSE(fs.exists("x").value());
  EXPECT_EQ(fs.remove("x").code(), StatusCode::kNotFound);
  EXPECT_EQ(fs.open("x", OpenMode::kOpenExisting).status().code(), StatusCode::kNotFound);
}

TEST(SimFileSystem, RemovedOpenFileStaysUsableUntilClosed) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(100, 1)).is_ok());
  ASSERT_TRUE(fs.remove("f").is_ok());
  EXPECT_EQ(fs.used_bytes(), 100u);  // still held by the open handle
  ASSERT_TRUE(f->write(100, pattern(50, 2)).is_ok());
  EXPECT_EQ(read_all(*f).size(), 150u);
  EXPECT_FALSE(fs.exists("f").value());
  f.reset();
  EXPECT_EQ(fs.used_bytes(), 0u);
}

TEST(SimFileSystem, HandleMayOutliveFileSystem) {
  std::unique_ptr<File> f;
  {
    Fs fs{Rng(1)};
    f = must_open(fs, "f");
  }
  EXPECT_TRUE(f->write(0, as_bytes("still here")).is_ok());
  EXPECT_EQ(read_all(*f).size(), 10u);
}

TEST(SimFileSystem, BoundsAreRejectedWithoutAllocating) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  const Bytes one = {1};
  EXPECT_EQ(f->write(UINT64_MAX, one).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(f->write(Fs::kMaxFileSize, one).code(), StatusCode::kNoSpace);
  EXPECT_EQ(f->truncate(Fs::kMaxFileSize + 1).code(), StatusCode::kNoSpace);
  EXPECT_EQ(f->truncate(UINT64_MAX).code(), StatusCode::kNoSpace);
  std::uint8_t buf[8];
  EXPECT_EQ(f->read(UINT64_MAX, buf).value(), 0u);
  EXPECT_EQ(f->size().value(), 0u);
  EXPECT_EQ(fs.used_bytes(), 0u);
}

// ---- crashes ----

TEST(SimFileSystem, SyncedDataSurvivesCrashExactly) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    Fs fs{Rng(seed)};
    fs.set_faults(crash_faults(1.0, 0.0));  // as hostile as it gets for unsynced data
    auto f = must_open(fs, "f");
    const Bytes data = pattern(3000, 9);
    ASSERT_TRUE(f->write(0, data).is_ok());
    ASSERT_TRUE(f->truncate(2000).is_ok());
    ASSERT_TRUE(f->sync().is_ok());
    fs.crash();
    EXPECT_EQ(content_of(fs, "f"), Bytes(data.begin(), data.begin() + 2000)) << "seed " << seed;
    EXPECT_EQ(fs.durable_content("f"), content_of(fs, "f"));
  }
}

TEST(SimFileSystem, UnsyncedChangesLostOrKeptPerRate) {
  for (double keep : {0.0, 1.0}) {
    Fs fs{Rng(3)};
    fs.set_faults(crash_faults(0.0, keep));
    auto f = must_open(fs, "f");
    ASSERT_TRUE(f->write(0, pattern(1000, 1)).is_ok());
    ASSERT_TRUE(f->sync().is_ok());
    ASSERT_TRUE(f->write(200, pattern(300, 2)).is_ok());
    ASSERT_TRUE(f->truncate(700).is_ok());
    const Bytes latest = read_all(*f);
    fs.crash();
    EXPECT_EQ(content_of(fs, "f"), keep == 1.0 ? latest : pattern(1000, 1));
    EXPECT_EQ(fs.stats().ops_dropped_at_crash, keep == 1.0 ? 0u : 2u);
    EXPECT_EQ(fs.stats().bytes_lost_at_crash, keep == 1.0 ? 0u : 300u);
  }
}

TEST(SimFileSystem, NeverSyncedFileDisappears) {
  Fs fs{Rng(1)};
  fs.set_faults(crash_faults(0.0, 1.0));  // even when unsynced writes survive
  auto f = must_open(fs, "new");
  ASSERT_TRUE(f->write(0, pattern(10, 1)).is_ok());
  auto g = must_open(fs, "old");
  ASSERT_TRUE(g->sync().is_ok());
  fs.crash();
  EXPECT_FALSE(fs.exists("new").value());
  EXPECT_TRUE(fs.exists("old").value());
  EXPECT_EQ(fs.stats().files_lost_at_crash, 1u);
  EXPECT_EQ(fs.durable_content("new"), std::nullopt);
}

TEST(SimFileSystem, RemoveIsDurableAndOrphansVanishAtCrash) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(64, 1)).is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(fs.remove("f").is_ok());
  fs.crash();
  EXPECT_FALSE(fs.exists("f").value());
  EXPECT_EQ(fs.used_bytes(), 0u);
  f.reset();  // a stale handle's close does not disturb the accounting
  EXPECT_EQ(fs.used_bytes(), 0u);
}

TEST(SimFileSystem, StaleHandlesFailAfterCrash) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(10, 1)).is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  fs.crash();
  std::uint8_t buf[4];
  for (const Status& s : {f->read(0, buf).status(), f->write(0, pattern(1, 1)), f->truncate(0),
                          f->sync(), f->size().status()}) {
    EXPECT_EQ(s.code(), StatusCode::kIoError);
    EXPECT_EQ(s.message(), "stale handle after crash");
  }
  auto g = must_open(fs, "f", OpenMode::kOpenExisting);  // a fresh handle works
  EXPECT_EQ(read_all(*g), pattern(10, 1));
}

TEST(SimFileSystem, TornWritesAreSectorGranular) {
  const Bytes old = pattern(5000, 1);
  const Bytes update = pattern(3000, 77);
  const std::uint64_t offset = 700;  // pieces: [700,1024) [1024,1536) ... [3584,3700)
  std::set<std::uint64_t> kept_lengths;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    Fs fs{Rng(seed)};
    fs.set_faults(crash_faults(1.0, 0.5));
    auto f = must_open(fs, "f");
    ASSERT_TRUE(f->write(0, old).is_ok());
    ASSERT_TRUE(f->sync().is_ok());
    ASSERT_TRUE(f->write(offset, update).is_ok());
    fs.crash();
    const Bytes after = content_of(fs, "f");
    ASSERT_EQ(after.size(), old.size());
    std::uint64_t kept = 0;  // how many leading bytes of the update were applied
    while (kept < update.size() && after[offset + kept] == update[kept] &&
           update[kept] != old[offset + kept]) {
      ++kept;
    }
    ASSERT_TRUE(kept == 0 || (offset + kept) % Fs::kSectorSize == 0) << "seed " << seed;
    ASSERT_LT(kept, update.size());  // torn, never whole
    Bytes expected = old;
    std::copy(update.begin(), update.begin() + static_cast<std::ptrdiff_t>(kept),
              expected.begin() + static_cast<std::ptrdiff_t>(offset));
    ASSERT_EQ(after, expected) << "seed " << seed;
    EXPECT_EQ(fs.stats().writes_torn_at_crash, 1u);
    EXPECT_EQ(fs.stats().bytes_lost_at_crash, update.size() - kept);
    kept_lengths.insert(kept);
  }
  EXPECT_GE(kept_lengths.size(), 3u);  // several distinct tear points, including a partial one
  EXPECT_TRUE(std::any_of(kept_lengths.begin(), kept_lengths.end(), [](auto k) { return k > 0; }));
}

TEST(SimFileSystem, PendingLimitWritesBackOldestOps) {
  Fs fs{Rng(1)};
  fs.set_faults(crash_faults(0.0, 0.0));  // every pending op is lost at the crash
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->sync().is_ok());
  const std::size_t extra = 10;
  for (std::size_t i = 0; i < Fs::kMaxPendingOps + extra; ++i) {
    ASSERT_TRUE(f->write(i, Bytes{static_cast<std::uint8_t>(i % 200 + 1)}).is_ok());
  }
  EXPECT_EQ(fs.stats().writebacks, extra);
  fs.crash();
  const Bytes after = content_of(fs, "f");
  ASSERT_EQ(after.size(), extra);
  for (std::size_t i = 0; i < extra; ++i) EXPECT_EQ(after[i], i % 200 + 1);
}

// ---- faults and healing ----

TEST(SimFileSystem, FailedSyncMakesNothingDurableAndHeals) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(100, 1)).is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(f->write(0, pattern(100, 2)).is_ok());
  DiskFaults d = crash_faults(0.0, 0.0);
  d.sync_error_rate = 1.0;
  fs.set_faults(d);
  EXPECT_EQ(f->sync().code(), StatusCode::kIoError);
  EXPECT_EQ(fs.durable_content("f"), pattern(100, 1));
  d.sync_error_rate = 0.0;
  fs.set_faults(d);
  ASSERT_TRUE(f->sync().is_ok());
  fs.crash();
  EXPECT_EQ(content_of(fs, "f"), pattern(100, 2));
}

TEST(SimFileSystem, IoErrorsFailEveryOpAndHeal) {
  Fs fs{Rng(1)};
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(10, 1)).is_ok());
  DiskFaults d;
  d.read_error_rate = d.write_error_rate = d.sync_error_rate = 1.0;
  fs.set_faults(d);
  std::uint8_t buf[4];
  const std::vector<Status> failed = {f->read(0, buf).status(),
                                      f->write(0, pattern(3, 2)),
                                      f->truncate(1),
                                      f->sync(),
                                      f->size().status(),
                                      fs.open("f", OpenMode::kOpenExisting).status(),
                                      fs.open("g", OpenMode::kCreateNew).status(),
                                      fs.remove("f"),
                                      fs.exists("f").status(),
                                      fs.list("").status()};
  for (const Status& s : failed) EXPECT_EQ(code(s), StatusCode::kIoError) << s.to_string();
  EXPECT_EQ(fs.stats().io_errors_injected, failed.size());
  EXPECT_FALSE(fs.durable_content("f").has_value());  // nothing changed
  fs.set_faults(DiskFaults{});
  EXPECT_EQ(read_all(*f), pattern(10, 1));
  EXPECT_TRUE(f->write(0, pattern(3, 2)).is_ok());
  EXPECT_TRUE(f->sync().is_ok());
  EXPECT_TRUE(fs.open("g", OpenMode::kCreateNew).is_ok());
  EXPECT_TRUE(fs.remove("g").is_ok());
  EXPECT_EQ(fs.list("").value(), std::vector<std::string>{"f"});
}

TEST(SimFileSystem, BitFlipsChangeExactlyOneBitAndHeal) {
  Fs fs{Rng(5)};
  auto f = must_open(fs, "f");
  const Bytes data = pattern(256, 3);
  ASSERT_TRUE(f->write(0, data).is_ok());
  DiskFaults d;
  d.read_bit_flip_rate = 1.0;
  fs.set_faults(d);
  std::set<std::size_t> flipped_positions;
  for (int i = 0; i < 50; ++i) {
    Bytes out(data.size());
    ASSERT_EQ(f->read(0, out).value(), data.size());
    int bits = 0;
    for (std::size_t j = 0; j < out.size(); ++j) {
      const int diff = std::popcount(static_cast<unsigned>(out[j] ^ data[j]));
      if (diff != 0) flipped_positions.insert(j);
      bits += diff;
    }
    EXPECT_EQ(bits, 1);
  }
  EXPECT_GT(flipped_positions.size(), 10u);  // the flipped bit moves around
  EXPECT_EQ(fs.stats().bit_flips_injected, 50u);
  fs.set_faults(DiskFaults{});
  EXPECT_EQ(read_all(*f), data);  // the stored data never changed
  ASSERT_TRUE(f->sync().is_ok());
  EXPECT_EQ(fs.durable_content("f"), data);
}

TEST(SimFileSystem, FullDiskFailsWithNoSpaceAndHeals) {
  Fs fs{Rng(1)};
  DiskFaults d;
  d.capacity_bytes = 1000;
  fs.set_faults(d);
  auto a = must_open(fs, "a");
  auto b = must_open(fs, "b");
  ASSERT_TRUE(a->write(0, pattern(600, 1)).is_ok());
  EXPECT_EQ(b->write(0, pattern(500, 2)).code(), StatusCode::kNoSpace);
  EXPECT_EQ(b->truncate(401).code(), StatusCode::kNoSpace);
  EXPECT_EQ(a->write(550, pattern(500, 2)).code(), StatusCode::kNoSpace);
  EXPECT_EQ(read_all(*a), pattern(600, 1));             // no short write
  ASSERT_TRUE(a->write(100, pattern(500, 3)).is_ok());  // overwriting needs no space
  ASSERT_TRUE(b->truncate(400).is_ok());
  EXPECT_EQ(fs.used_bytes(), 1000u);
  EXPECT_EQ(fs.stats().no_space_errors, 3u);
  // Healing by freeing space.
  a.reset();
  ASSERT_TRUE(fs.remove("a").is_ok());
  EXPECT_TRUE(b->write(400, pattern(500, 4)).is_ok());
  // Healing by raising the capacity.
  EXPECT_EQ(b->write(900, pattern(200, 5)).code(), StatusCode::kNoSpace);
  d.capacity_bytes = 2000;
  fs.set_faults(d);
  EXPECT_TRUE(b->write(900, pattern(200, 5)).is_ok());
  EXPECT_EQ(fs.used_bytes(), 1100u);
}

TEST(SimFileSystem, LatencyIsBoundedAndResets) {
  Fs fs{Rng(9)};
  EXPECT_EQ(fs.take_pending_latency(), Duration{0});
  auto f = must_open(fs, "f");
  ASSERT_TRUE(f->write(0, pattern(10, 1)).is_ok());
  EXPECT_EQ(fs.take_pending_latency(), Duration{0});  // no latency configured
  DiskFaults d;
  d.min_latency = 1ms;
  d.max_latency = 3ms;
  fs.set_faults(d);
  const int ops = 100;
  for (int i = 0; i < ops / 2; ++i) {
    ASSERT_TRUE(f->write(0, pattern(10, 1)).is_ok());
    ASSERT_TRUE(f->sync().is_ok());
  }
  const Duration total = fs.take_pending_latency();
  EXPECT_GE(total, ops * 1ms);
  EXPECT_LE(total, ops * 3ms);
  EXPECT_NE(total, ops * 1ms);  // drawn, not constant
  EXPECT_EQ(fs.take_pending_latency(), Duration{0});
  d.min_latency = d.max_latency = 2ms;
  fs.set_faults(d);
  ASSERT_TRUE(fs.exists("f").is_ok());
  EXPECT_EQ(fs.take_pending_latency(), 2ms);
}

// ---- determinism ----

// A fixed workload under every fault kind; returns a transcript of every observable outcome.
std::vector<std::string> run_workload(std::uint64_t seed) {
  Fs fs{Rng(seed)};
  DiskFaults d;
  d.min_latency = 10us;
  d.max_latency = 900us;
  d.read_error_rate = d.write_error_rate = d.sync_error_rate = 0.1;
  d.read_bit_flip_rate = 0.2;
  fs.set_faults(d);
  std::vector<std::string> log;
  auto note = [&](const Status& s) { log.push_back(s.to_string()); };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) {
      auto f = fs.open("file" + std::to_string(i), OpenMode::kCreateIfMissing);
      note(f.status());
      if (!f.is_ok()) continue;
      for (int j = 0; j < 6; ++j) {
        note((*f)->write(static_cast<std::uint64_t>(j * 300 + i * 50), pattern(700, 10 * j + i)));
        if (j % 3 == 2) note((*f)->sync());
      }
      note((*f)->truncate(static_cast<std::uint64_t>(1500 + 100 * i)));
      Bytes out(64);
      const auto n = (*f)->read(0, out);
      note(n.status());
      log.push_back(std::string(out.begin(), out.end()));
    }
    fs.crash();
  }
  const std::vector<std::string> paths = fs.list("").value();
  for (const auto& path : paths) {
    const auto durable = fs.durable_content(path).value_or(Bytes{});
    log.push_back(path + ":" + std::string(durable.begin(), durable.end()));
  }
  log.push_back(std::to_string(fs.take_pending_latency().count()));
  const auto& st = fs.stats();
  for (auto v : {st.io_errors_injected, st.bit_flips_injected, st.ops_dropped_at_crash,
                 st.writes_torn_at_crash, st.bytes_lost_at_crash, st.files_lost_at_crash}) {
    log.push_back(std::to_string(v));
  }
  return log;
}

TEST(SimFileSystem, SameSeedGivesIdenticalOutcomes) {
  for (std::uint64_t seed : {1u, 42u, 1234u}) EXPECT_EQ(run_workload(seed), run_workload(seed));
}

TEST(SimFileSystem, DifferentSeedsGiveDifferentOutcomes) {
  std::set<std::vector<std::string>> outcomes;
  for (std::uint64_t seed = 0; seed < 8; ++seed) outcomes.insert(run_workload(seed));
  EXPECT_EQ(outcomes.size(), 8u);
}

// ---- properties over random op sequences ----

struct ModelOp {
  bool is_write = false;
  std::uint64_t offset = 0;  // or the truncate size
  Bytes data;
};

void model_apply(Bytes& content, const ModelOp& op, std::size_t write_len) {
  if (!op.is_write) {
    content.resize(op.offset);
    return;
  }
  if (write_len == 0) return;
  if (op.offset + write_len > content.size()) content.resize(op.offset + write_len);
  std::copy(op.data.begin(), op.data.begin() + static_cast<std::ptrdiff_t>(write_len),
            content.begin() + static_cast<std::ptrdiff_t>(op.offset));
}

// Every content the header's crash rule allows: each op dropped, applied, or (a write) cut after
// a prefix of the sector pieces of its range.
void allowed_outcomes(const Bytes& base, const std::vector<ModelOp>& ops, std::size_t i,
                      std::set<Bytes>& out) {
  if (i == ops.size()) {
    out.insert(base);
    return;
  }
  const ModelOp& op = ops[i];
  allowed_outcomes(base, ops, i + 1, out);  // dropped
  std::vector<std::size_t> lengths = {op.data.size()};
  if (op.is_write) {
    for (std::uint64_t cut = (op.offset / 512 + 1) * 512; cut < op.offset + op.data.size();
         cut += 512) {
      lengths.push_back(cut - op.offset);
    }
  }
  for (std::size_t len : lengths) {
    Bytes next = base;
    model_apply(next, op, len);
    allowed_outcomes(next, ops, i + 1, out);
  }
}

// Draws one write or truncate with small bounds, writing bytes tagged by `tag` (never zero).
ModelOp gen_op(std::uint8_t tag) {
  ModelOp op;
  op.is_write = *rc::gen::inRange(0, 4) != 0;
  if (!op.is_write) {
    op.offset = *rc::gen::inRange<std::uint64_t>(0, 2500);
    return op;
  }
  op.offset = *rc::gen::inRange<std::uint64_t>(0, 2000);
  op.data = pattern(*rc::gen::inRange<std::size_t>(1, 1100), tag);
  return op;
}

Status apply_to_file(File& f, const ModelOp& op) {
  return op.is_write ? f.write(op.offset, op.data) : f.truncate(op.offset);
}

RC_GTEST_PROP(SimFileSystemProp, CrashLeavesAnAllowedOutcome, ()) {
  Fs fs(Rng(*rc::gen::arbitrary<std::uint64_t>()));
  const double rates[] = {0.0, 0.5, 1.0};
  fs.set_faults(crash_faults(rates[*rc::gen::inRange(0, 3)], rates[*rc::gen::inRange(0, 3)]));
  auto f = must_open(fs, "f");
  Bytes model;
  const int synced = *rc::gen::inRange(0, 6);
  for (int i = 0; i < synced; ++i) {
    const ModelOp op = gen_op(static_cast<std::uint8_t>(i));
    RC_ASSERT(apply_to_file(*f, op).is_ok());
    model_apply(model, op, op.data.size());
  }
  RC_ASSERT(f->sync().is_ok());
  const Bytes durable = model;
  std::vector<ModelOp> pending;
  const int unsynced = *rc::gen::inRange(0, 5);
  for (int i = 0; i < unsynced; ++i) {
    pending.push_back(gen_op(static_cast<std::uint8_t>(100 + i)));
    RC_ASSERT(apply_to_file(*f, pending.back()).is_ok());
    model_apply(model, pending.back(), pending.back().data.size());
    RC_ASSERT(read_all(*f) == model);  // reads see the latest content
  }
  RC_ASSERT(fs.durable_content("f") == durable);
  fs.crash();
  std::set<Bytes> allowed;
  allowed_outcomes(durable, pending, 0, allowed);
  const Bytes after = content_of(fs, "f");
  RC_ASSERT(allowed.count(after) == 1u);
  RC_ASSERT(fs.durable_content("f") == after);
  RC_ASSERT(fs.used_bytes() == after.size());
}

RC_GTEST_PROP(SimFileSystemProp, CrashNeverInventsBytes, ()) {
  Fs fs(Rng(*rc::gen::arbitrary<std::uint64_t>()));
  fs.set_faults(crash_faults(0.5, 0.5));
  auto f = must_open(fs, "f");
  RC_ASSERT(f->sync().is_ok());
  std::vector<std::set<std::uint8_t>> written;  // per offset, every byte ever written there
  const int ops = *rc::gen::inRange(0, 30);
  for (int i = 0; i < ops; ++i) {
    if (*rc::gen::inRange(0, 5) == 0) {
      RC_ASSERT(f->sync().is_ok());
      continue;
    }
    const ModelOp op = gen_op(static_cast<std::uint8_t>(i));
    RC_ASSERT(apply_to_file(*f, op).is_ok());
    if (written.size() < op.offset + op.data.size()) written.resize(op.offset + op.data.size());
    for (std::size_t j = 0; j < op.data.size(); ++j) written[op.offset + j].insert(op.data[j]);
  }
  fs.crash();
  const Bytes after = content_of(fs, "f");
  RC_ASSERT(after.size() <= std::max<std::size_t>(written.size(), 2500));
  for (std::size_t j = 0; j < after.size(); ++j) {
    RC_ASSERT(after[j] == 0 || (j < written.size() && written[j].count(after[j]) == 1));
  }
}

}  // namespace
}  // namespace smalti::sim
