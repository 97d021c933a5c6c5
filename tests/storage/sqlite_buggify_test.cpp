// The storage path's BUGGIFY fault points (docs/buggify.md) on the SQLite stores over a simulated
// disk: slow syncs, delayed completions, injected write and sync errors and short reads. A member's
// store writes batches, is closed (a failed store is given up and opened again, as a restarted
// member would), crashes and is opened again, many times over: what was acknowledged is always
// read back, nothing partial ever is, and every point fired.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>

#include "smalti/sim/world.hpp"
#include "smalti/storage/sqlite_group_stores.hpp"

namespace smalti::storage {
namespace {

using groups::HardState;
using groups::LogEntry;

const std::vector<std::string> kStoragePoints = {"storage.slow_sync", "storage.delayed_completion",
                                                 "storage.sync_error", "storage.write_error",
                                                 "storage.short_read"};

LogEntry entry(groups::Term term, std::uint8_t fill, std::size_t size) {
  LogEntry e;
  e.term = term;
  e.kind = groups::EntryKind::kCommand;
  e.payload = SharedBytes(Bytes(size, fill));
  return e;
}

struct Model {
  HardState state;
  std::vector<LogEntry> log;
  friend bool operator==(const Model&, const Model&) = default;
};

std::map<std::string, std::size_t> fired(const sim::Trace& trace) {
  std::map<std::uint64_t, std::string> by_hash;
  std::map<std::string, std::size_t> out;
  for (const std::string& p : kStoragePoints) {
    by_hash[sim::trace_hash_bytes(as_bytes(p))] = p;
    out[p] = 0;
  }
  for (const sim::TraceRecord& r : trace.records()) {
    if (trace.kind_name(r.kind) != "buggify") continue;
    if (auto it = by_hash.find(r.a); it != by_hash.end()) ++out[it->second];
  }
  return out;
}

// One seed: `sessions` times, open the store, write batches, close it and crash the disk.
void run_seed(std::uint64_t seed, int sessions, std::map<std::string, std::size_t>& total) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  sim::World world({.seed = seed,
                    .record_trace = true,
                    .buggify = true,
                    .buggify_enable_probability = 1.0,
                    .buggify_fire_probability = 0.01});
  const sim::HostId h = world.add_node({.name = "disk"});
  Node& node = world.network(h)->node();
  sim::SimFileSystem& disk = world.disk(h);
  auto vfs = SqliteVfs::create(disk, node.clock(), seed, world.buggify_fn(h)).value();
  Rng rng(seed);
  std::vector<Model> boundaries;  // the state after each batch of the last session
  std::size_t last_acked = 0;     // index into boundaries
  for (int session = 0; session < sessions; ++session) {
    auto runner =
        std::make_unique<InlineRunner>(node.executor(), node.clock(), disk, world.buggify_fn(h));
    std::shared_ptr<SqliteGroupStores> stores;
    for (int attempt = 0; attempt < 50 && !stores; ++attempt) {
      auto opened = SqliteGroupStores::open(*vfs, "groups/g/raft.db", *runner);
      if (opened.is_ok()) {
        stores = std::move(opened).value();
      } else {
        // An injected error while opening: what it wrote is unsynced; the disk loses it.
        ASSERT_EQ(opened.status().code(), StatusCode::kIoError) << opened.status().to_string();
        disk.crash();
      }
    }
    ASSERT_TRUE(stores) << "the store never opened";
    const Model loaded{stores->load_state().value(), stores->load_log().value()};
    // Every acknowledged batch of the last session is there, and nothing partial.
    if (session > 0) {
      bool matched = false;
      for (std::size_t i = last_acked; i < boundaries.size() && !matched; ++i) {
        matched = boundaries[i] == loaded;
      }
      ASSERT_TRUE(matched) << "session " << session << ": read back " << loaded.log.size()
                           << " entries, term " << loaded.state.term
                           << "; the last acknowledged batch had "
                           << boundaries[last_acked].log.size() << " entries";
    }
    boundaries = {loaded};
    last_acked = 0;
    Model now = loaded;
    for (int batch = 0; batch < 8; ++batch) {
      const int writes = static_cast<int>(rng.between(1, 4));
      for (int w = 0; w < writes; ++w) {
        if (rng.chance(0.3)) {
          now.state.term += 1;
          now.state.incarnation = 7;
          stores->save(now.state);
        } else if (rng.chance(0.2) && !now.log.empty()) {
          const auto from = static_cast<groups::Index>(rng.between(1, now.log.size()));
          stores->truncate_from(from);
          now.log.resize(from - 1);
        } else {
          std::vector<LogEntry> entries;
          for (int i = 0, n = static_cast<int>(rng.between(1, 6)); i < n; ++i) {
            entries.push_back(entry(now.state.term, static_cast<std::uint8_t>(batch * 16 + i),
                                    static_cast<std::size_t>(rng.between(1, 3000))));
          }
          stores->append(now.log.size() + 1, entries);
          now.log.insert(now.log.end(), entries.begin(), entries.end());
        }
      }
      boundaries.push_back(now);
      std::optional<Status> result;
      stores->sync([&result](Status s) { result = std::move(s); });
      world.run_for(std::chrono::seconds(2));
      if (result && result->is_ok()) {
        last_acked = boundaries.size() - 1;
        ++total["acknowledged batches"];
      }
      if (result && !result->is_ok()) {
        // A failed store refuses everything after: give it up, as a member would.
        EXPECT_EQ(result->code(), StatusCode::kIoError) << result->to_string();
        ++total["failed batches"];
        break;
      }
    }
    // Close (a stalled sync's jobs are dropped with the runner, as a crash drops them), then
    // lose power.
    stores.reset();
    runner.reset();
    disk.crash();
  }
  for (const auto& [point, n] : fired(world.trace())) total[point] += n;
}

TEST(SqliteStoresBuggify, AcknowledgedWritesSurviveEveryStoragePointAndEachFires) {
  std::map<std::string, std::size_t> total;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    run_seed(seed, 12, total);
    if (HasFatalFailure()) return;
  }
  for (const std::string& p : kStoragePoints) EXPECT_GT(total[p], 0u) << p << " never fired";
  // The workload did write, and the errors did reach the store.
  EXPECT_GT(total["acknowledged batches"], 200u);
  EXPECT_GT(total["failed batches"], 0u);
  for (const auto& [what, n] : total) std::printf("%s: %zu\n", what.c_str(), n);
}

}  // namespace
}  // namespace smalti::storage
