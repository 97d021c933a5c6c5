// libFuzzer target for what a group member stores (storage/): the records of SqliteGroupStores
// and the snapshot they keep.
//
// Byte 0 picks the mode:
//   even: the rest decodes as each stored record type (HardState, the log base Cursor,
//         SnapshotMeta, Snapshot); a record that decodes must re-encode to the very same bytes.
//   odd:  a database is written through SqliteGroupStores on the simulated disk (a hard state, a
//         log pruned up to a base, a snapshot), then the input's (file, offset, xor) triples
//         damage the database or its WAL, and the stores are opened again. Opening must either
//         fail (kMalformed, kIoError) or return records that hold together: the snapshot's
//         bytes match its size and digest, and the log follows its base with no entry that was
//         never written. It never crashes. (A log pruned past a snapshot that went missing is
//         the group worker's to refuse: group_worker.cpp.)
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/runtime/fake_executor.hpp"
#include "fuzz_support.hpp"
#include "smalti/groups/raft_machine.hpp"
#include "smalti/sim/sim_file_system.hpp"
#include "smalti/storage/sqlite_group_stores.hpp"

namespace {

using namespace smalti;  // NOLINT(google-build-using-namespace): a fuzz target's own file

template <typename T>
void round_trip(ByteView bytes) {
  Decoder d(bytes);
  T value{};
  if (!decode_from(d, value).is_ok()) return;
  const ByteView used = bytes.first(bytes.size() - d.remaining());
  const Bytes again = encode(value);
  SMALTI_ASSERT(
      ByteView(again).size() == used.size() && std::equal(again.begin(), again.end(), used.begin()),
      "a stored record does not re-encode to its bytes");
}

groups::LogEntry entry(groups::Term term, std::uint8_t fill) {
  return groups::LogEntry{term, groups::EntryKind::kCommand, Bytes(24, fill)};
}

constexpr const char* kPath = "groups/g/raft.db";

void damage_and_reopen(fuzz::FuzzInput& in) {
  test_support::FakeClock clock;
  test_support::FakeExecutor executor{clock};
  sim::SimFileSystem disk(Rng(1));
  auto vfs = storage::SqliteVfs::create(disk, clock, 5).value();
  storage::InlineRunner runner{executor, clock, disk};
  {
    auto stores = storage::SqliteGroupStores::open(*vfs, kPath, runner).value();
    const Bytes state(64, 0x5a);
    groups::SnapshotMeta meta{6,
                              2,
                              Digest::from_string("cluster"),
                              groups::VoterSet{},
                              state.size(),
                              Digest::hash(state)};
    stores->save(groups::HardState{3, std::nullopt, 9, true});
    std::vector<groups::LogEntry> entries;
    for (std::uint8_t i = 1; i <= 10; ++i) entries.push_back(entry(i < 5 ? 1 : 2, i));
    stores->append(1, entries);
    stores->save_snapshot(groups::Snapshot{meta, state});
    stores->prune_through({2, 6});
    bool synced = false;
    stores->sync([&](const Status& s) { synced = s.is_ok(); });
    executor.advance_to(clock.monotonic() + std::chrono::seconds(1));
    SMALTI_ASSERT(synced, "the undamaged database did not sync");
  }
  for (int n = 0; n < 16 && !in.empty(); ++n) {
    const std::string path = (in.byte() & 1) ? std::string(kPath) + "-wal" : kPath;
    auto file = disk.open(path, env::OpenMode::kOpenExisting);
    if (!file.is_ok()) continue;
    const std::uint64_t size = (*file)->size().value_or(0);
    if (size == 0) continue;
    const std::uint64_t offset = (std::uint64_t{in.byte()} << 8 | in.byte()) * 7 % size;
    std::uint8_t b = 0;
    (void)(*file)->read(offset, std::span<std::uint8_t>(&b, 1));
    b ^= static_cast<std::uint8_t>(in.byte() | 1);
    (void)(*file)->write(offset, ByteView(&b, 1));
    (void)(*file)->sync();
  }
  auto reopened = storage::SqliteGroupStores::open(*vfs, kPath, runner);
  if (!reopened.is_ok()) return;
  storage::SqliteGroupStores& s = **reopened;
  const groups::Cursor base = s.load_base().value();
  const auto snapshot = s.load_snapshot().value();
  if (snapshot) {
    SMALTI_ASSERT(snapshot->meta.size == snapshot->data.size() &&
                      Digest::hash(snapshot->data.view()) == snapshot->meta.digest,
                  "a damaged snapshot was read back as good");
  }
  // The entries follow the base without a gap (open() checks every row against its index).
  const auto log = s.load_log().value();
  SMALTI_ASSERT(base.index + log.size() <= 10, "entries read back that were never written");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  if ((in.byte() & 1) == 0) {
    const ByteView rest = in.take(size);
    round_trip<groups::HardState>(rest);
    round_trip<groups::Cursor>(rest);
    round_trip<groups::SnapshotMeta>(rest);
    round_trip<groups::Snapshot>(rest);
    return 0;
  }
  damage_and_reopen(in);
  return 0;
}
