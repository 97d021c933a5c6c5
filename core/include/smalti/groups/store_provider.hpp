// StoreProvider: where the groups of one node keep what must survive a restart (DESIGN.md
// section 7): each group's StateStore (term, vote, incarnation), LogStore and SnapshotStore.
//
// A joined group asks the provider for its stores once (GroupWorker); the stores then live as
// long as the group's worker, and keep the provider alive. A provider is made at each start of a
// node by the StorageFactory in GroupsOptions::storage, over that node's environment (its file
// system, clock and executor), and goes away with the node: a crash drops its pending work along
// with everything else of the node, as a real process's death does. Executor thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "smalti/base/status.hpp"
#include "smalti/groups/types.hpp"

namespace smalti {
class Node;
}

namespace smalti::groups {

class StateStore;
class LogStore;
class SnapshotStore;
class MemoryMedium;

// All three are required; a null `snapshot` is taken from `log` when that is a SnapshotStore too.
struct GroupStores {
  std::shared_ptr<StateStore> state;
  std::shared_ptr<LogStore> log;
  std::shared_ptr<SnapshotStore> snapshot;
};

class StoreProvider {
 public:
  virtual ~StoreProvider() = default;
  // The group's stores, holding what an earlier run of this node left (nothing for a new
  // group). Stores that cannot be read back intact are never returned as good: the provider sets
  // them aside and returns empty ones, so the member rejoins as a new incarnation. kIoError or
  // kNoSpace when the disk fails; the member then runs without acknowledging anything and says
  // why (GroupStatus::store_error).
  virtual Result<GroupStores> open(const GroupId& group) = 0;
  // For logs and status: what and where ("sqlite in /var/lib/app/<peer>/groups").
  virtual std::string describe() const = 0;
  // The simulator's checkers (sim::DurabilityChecker) read each member's durable state from
  // `image`, one slot per group: stores kept elsewhere copy there what they read back when
  // opened and what each sync made durable when it completes. Optional (the default keeps no
  // image); the real backend never calls it.
  virtual void record_durable_image(const std::shared_ptr<MemoryMedium>& /*image*/) {}
};

// Makes a node's provider when the node starts; an error fails the node's start.
using StorageFactory = std::function<Result<std::shared_ptr<StoreProvider>>(Node& node)>;

}  // namespace smalti::groups
