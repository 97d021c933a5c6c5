// sqlite_storage(): a node's groups keep their term, vote, incarnation and log in SQLite files on
// the node's file system (DESIGN.md section 7; the stores are SqliteGroupStores).
//
//   NetworkOptions options;
//   options.groups.storage = storage::sqlite_storage();              // every group of the node
//   group_builder.with_storage(...)                                  // or one group's own
//
// Layout under the node's file system (env::Environment::file_system: the real backend roots it
// at the node's data directory, one per peer; the simulator keeps one per host across crashes):
//   groups/<group id, 64 hex>/raft.db and its WAL (raft.db-wal)
// so two groups of a node never share a file, and two nodes never do as long as each has its own
// data directory (RealNetworkOptions::data_dir makes one per peer id).
//
// Each group's database runs on its own StorageRunner: inline with completions after the
// simulated disk's latency (the simulator), or a worker thread with completions posted back (the
// real backend), so the node's executor never waits for fsync; dropping a group's stores waits
// for that group's submitted writes. A database that fails its checks on open (kMalformed: a
// checksum, a gap, an undecodable row) is deleted and started empty, so the member rejoins as a
// new incarnation and never votes or acknowledges on state it cannot read back; the node's trace
// says so ("storage.discarded"). Executor thread only.
#pragma once

#include "smalti/groups/store_provider.hpp"

namespace smalti::storage {

struct SqliteStorageOptions {
  // Run SQLite on a worker thread per group (the real backend); otherwise inline on the node's
  // thread, completing after the file system's reported latency (the simulator).
  bool worker_thread = false;
};

// A factory for GroupsOptions::storage. The node must have a file system (kFailedPrecondition).
groups::StorageFactory sqlite_storage(SqliteStorageOptions options = {});

// Where a group's database lives on the node's file system.
std::string group_database_path(const groups::GroupId& group);

}  // namespace smalti::storage
