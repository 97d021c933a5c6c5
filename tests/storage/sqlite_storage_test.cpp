// sqlite_storage(): simulated nodes whose groups keep their state in SQLite on the host's disk.
// A restarted member resumes its term, incarnation and log; a damaged database is discarded and
// the member rejoins as a new incarnation; a node without a file system cannot have one.
#include "smalti/storage/sqlite_storage.hpp"

#include <gtest/gtest.h>

#include "sim/group_support.hpp"
#include "smalti/storage/database.hpp"
#include "smalti/storage/sqlite_vfs.hpp"

namespace smalti::storage {
namespace {

using sim::HostId;
using sim::World;
using Cluster = sim::support::GroupCluster<sim::support::Counter>;

void use_sqlite(NetworkOptions& o) {
  o.groups.storage = sqlite_storage();
}

// Commits `n` commands through member `h` of a one-member group.
void commit(World& world, Cluster& c, HostId h, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = sim::support::await_on<Result<groups::Index>>(
        world, h, [g = c.group(h)] { return g->execute(1); }, 10s);
    ASSERT_TRUE(r.has_value() && r->is_ok());
  }
}

std::size_t trace_count(const sim::Trace& trace, std::string_view kind) {
  std::size_t n = 0;
  for (const auto& r : trace.records()) n += trace.kind_name(r.kind) == kind ? 1 : 0;
  return n;
}

TEST(SqliteStorage, ARestartedMemberResumesItsTermIncarnationAndLog) {
  World world({.seed = 7});
  Cluster c(world, 1, sim::support::fast_consensus(), "sqlite.group", {}, use_sqlite);
  const HostId h = c.hosts()[0];
  ASSERT_TRUE(world.run_until([&] { return c.formed(1); }, 30s));
  ASSERT_NO_FATAL_FAILURE(commit(world, c, h, 5));
  const groups::HardState before = c.group(h)->raft().hard_state();
  const groups::Index last = c.group(h)->raft().log().last_index();
  const groups::GroupId id = c.group(h)->id();
  EXPECT_TRUE(world.disk(h).exists(group_database_path(id)).value());

  c.crash(h);
  world.restart(h);
  ASSERT_NE(c.group(h), nullptr);
  const groups::HardState after = c.group(h)->raft().hard_state();
  EXPECT_EQ(after.incarnation, before.incarnation) << "a new incarnation: the state was lost";
  EXPECT_GE(after.term, before.term);
  EXPECT_EQ(c.group(h)->raft().log().last_index(), last);
  // It leads again and its state machine is rebuilt by replaying the log.
  ASSERT_TRUE(world.run_until([&] { return c.formed(1); }, 30s));
  ASSERT_NO_FATAL_FAILURE(commit(world, c, h, 1));
  EXPECT_EQ(c.group(h)->state().value, 6);
  EXPECT_EQ(trace_count(world.trace(), "storage.discarded"), 0u);
}

TEST(SqliteStorage, ADamagedDatabaseIsDiscardedAndTheMemberRejoinsAsANewIncarnation) {
  World world({.seed = 8, .record_trace = true});
  Cluster c(world, 1, sim::support::fast_consensus(), "sqlite.group", {}, use_sqlite);
  const HostId h = c.hosts()[0];
  ASSERT_TRUE(world.run_until([&] { return c.formed(1); }, 30s));
  ASSERT_NO_FATAL_FAILURE(commit(world, c, h, 3));
  const std::uint64_t incarnation = c.group(h)->raft().hard_state().incarnation;
  const std::string path = group_database_path(c.group(h)->id());
  c.crash(h);
  {
    // Damage a log row behind SQLite's back (its checksum no longer matches).
    auto vfs = SqliteVfs::create(world.disk(h), world.clock(h), 1).value();
    auto db = Database::open(*vfs, path).value();
    ASSERT_TRUE(db->exec("UPDATE log SET payload = x'00' WHERE idx = 2").is_ok());
  }
  world.restart(h);
  ASSERT_NE(c.group(h), nullptr);
  EXPECT_EQ(trace_count(world.trace(), "storage.discarded"), 1u);
  EXPECT_TRUE(c.group(h)->status().store_error.is_ok()) << "discarded, not failed";
  EXPECT_NE(c.group(h)->raft().hard_state().incarnation, incarnation);
  EXPECT_EQ(c.group(h)->raft().log().last_index(), 0u) << "served a damaged log";
}

TEST(SqliteStorage, ANodeWithoutAFileSystemCannotHaveIt) {
  World world({.seed = 9});
  const HostId h = world.add_node({.name = "n"});
  env::Environment env = world.network(h)->node().env();
  ASSERT_NE(env.file_system, nullptr);
  EXPECT_TRUE(sqlite_storage()(world.network(h)->node()).is_ok());
  env.file_system = nullptr;
  env.tracer = nullptr;
  auto bare = Node::create(env, {.name = "bare", .secret_seed = std::array<std::uint8_t, 32>{3}});
  ASSERT_TRUE(bare.is_ok());
  auto provider = sqlite_storage()(**bare);
  ASSERT_FALSE(provider.is_ok());
  EXPECT_EQ(provider.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace smalti::storage
