#include "smalti/storage/sqlite_storage.hpp"

#include "smalti/runtime/node.hpp"
#include "smalti/storage/sqlite_group_stores.hpp"

namespace smalti::storage {
namespace {

// One group's database with what it runs on. Members are destroyed in reverse order: the stores,
// then the runner (a worker finishes the jobs already submitted, which hold the database), then
// the VFS, which SQLite uses until the database closes.
struct GroupDatabase {
  std::unique_ptr<SqliteVfs> vfs;
  std::unique_ptr<StorageRunner> runner;
  std::shared_ptr<SqliteGroupStores> stores;
};

class SqliteStoreProvider final : public groups::StoreProvider {
 public:
  SqliteStoreProvider(Node& node, SqliteStorageOptions options)
      : node_(node), options_(options), rng_(node.make_rng("storage")) {}

  Result<groups::GroupStores> open(const groups::GroupId& group) override {
    const std::string path = group_database_path(group);
    auto opened = open_database(group, path);
    if (!opened.is_ok() && opened.status().code() == StatusCode::kMalformed) {
      const std::string why = opened.status().to_string();
      node_.trace("storage.discarded", 0, 0,
                  ByteView(reinterpret_cast<const std::uint8_t*>(why.data()), why.size()));
      SMALTI_RETURN_IF_ERROR(discard(path));
      opened = open_database(group, path);
    }
    SMALTI_RETURN_IF_ERROR(opened.status());
    // One object is both stores: the group syncs it once per Persist.
    std::shared_ptr<SqliteGroupStores> stores(*opened, (*opened)->stores.get());
    return groups::GroupStores{stores, stores, stores};
  }

  void record_durable_image(const std::shared_ptr<groups::MemoryMedium>& image) override {
    image_ = image;
  }

  std::string describe() const override {
    return std::string("sqlite, ") + (options_.worker_thread ? "worker thread" : "inline");
  }

 private:
  Result<std::shared_ptr<GroupDatabase>> open_database(const groups::GroupId& group,
                                                       const std::string& path) {
    env::FileSystem& fs = *node_.env().file_system;
    auto db = std::make_shared<GroupDatabase>();
    // BUGGIFY's storage points (docs/buggify.md) reach the simulated stores; the real backend
    // never fires them, and its VFS runs on the worker thread, so it gets none.
    const Buggify buggify = options_.worker_thread ? Buggify() : node_.buggify_fn();
    SMALTI_ASSIGN_OR_RETURN(
        db->vfs, SqliteVfs::create(fs, node_.clock(), rng_.derive_seed(group.to_hex()), buggify));
    if (options_.worker_thread) {
      db->runner = std::make_unique<WorkerRunner>(node_.executor());
    } else {
      db->runner = std::make_unique<InlineRunner>(node_.executor(), node_.clock(), fs, buggify);
    }
    SMALTI_ASSIGN_OR_RETURN(db->stores,
                            SqliteGroupStores::open(*db->vfs, path, *db->runner, image_, group));
    return db;
  }

  // Removes the database and what SQLite keeps beside it.
  Status discard(const std::string& path) {
    env::FileSystem& fs = *node_.env().file_system;
    for (const char* suffix : {"", "-wal", "-journal"}) {
      const std::string file = path + suffix;
      SMALTI_ASSIGN_OR_RETURN(bool there, fs.exists(file));
      if (there) SMALTI_RETURN_IF_ERROR(fs.remove(file));
    }
    return Status::ok();
  }

  Node& node_;
  SqliteStorageOptions options_;
  Rng rng_;
  std::shared_ptr<groups::MemoryMedium> image_;  // the simulator's view of what is durable
};

}  // namespace

std::string group_database_path(const groups::GroupId& group) {
  return "groups/" + group.to_hex() + "/raft.db";
}

groups::StorageFactory sqlite_storage(SqliteStorageOptions options) {
  return [options](Node& node) -> Result<std::shared_ptr<groups::StoreProvider>> {
    if (node.env().file_system == nullptr) {
      return error(StatusCode::kFailedPrecondition,
                   "sqlite storage needs the node's file system (on the real backend: a data "
                   "directory, RealNetworkOptions::data_dir)");
    }
    return std::shared_ptr<groups::StoreProvider>(
        std::make_shared<SqliteStoreProvider>(node, options));
  };
}

}  // namespace smalti::storage
