// Groups: consensus groups of this node (Network::groups()). It serves /smalti/groups/1 and
// joins groups:
//
//   struct Counter { ... };                       // a StateMachine (state_machine.hpp)
//   Result<Group<Counter>> group = net.groups().with_key(GroupKey::from_secret("ledger"))
//                                      .with_state_machine(Counter{})
//                                      .join();
//   co_await group->when().online();
//   Result<Index> at = co_await group->execute(5);
//   auto value = co_await group->query(Unit{}, Consistency::kStrong);  // QueryResultAt
//   group->execute(5, [](Result<Index> at) { ... });                    // callback form
//
// A join of a group already active on this node returns another handle to the same group
// (the machine and storage given are discarded; a different machine type is refused). The
// group stays up while any handle lives; dropping the last one departs the bonds and withdraws
// the group from the node's discovery entry (mosaik tears the group down on any drop and never
// withdraws it). Users name Groups, GroupBuilder<M> and Group<M> (group.hpp); the workers and
// links behind them are in detail/ and src/. Executor thread only; handles must not outlive the
// Network.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "smalti/groups/detail/group_worker.hpp"

namespace smalti::discovery {
class Discovery;
}

namespace smalti::groups {

struct GroupsOptions {
  Duration handshake_timeout = 2s;
  // Where the node's groups keep their term, vote and log: a factory called at each start of the
  // node (storage::sqlite_storage() for SQLite files on the node's file system). Unset: the
  // in-memory stores over `medium`. A group may choose its own (GroupBuilder::with_storage).
  StorageFactory storage;
  // The durable side of the default in-memory stores (the simulator passes one per host that
  // survives its crashes); null: volatile stores, a restart makes a new member.
  std::shared_ptr<MemoryMedium> medium;
  // How long a sync of those stores takes when they have a medium (a simulated disk): a seeded
  // draw per sync from [min, max], so a simulation can crash between a write and its sync
  // (docs/decisions.md, "Groups: in-memory stores sync like a disk"). Volatile stores (no
  // medium) complete on the next turn of the executor.
  Duration medium_sync_min = 50us;
  Duration medium_sync_max = 2ms;
};

template <typename M>
class GroupBuilder;

class Groups {
 public:
  Groups(Node& node, discovery::Discovery& discovery, GroupsOptions options);
  ~Groups();
  Groups(const Groups&) = delete;
  Groups& operator=(const Groups&) = delete;
  Status start();

  const GroupsOptions& options() const;

  // Starts with the group's key; then with_state_machine(), options, join().
  GroupBuilder<NoOpMachine> with_key(GroupKey key);

  // The groups active here (joined, with a handle alive).
  std::vector<GroupId> active() const;
  // The status of a group active here (nullopt when it is not), as its handle reports it.
  std::optional<GroupStatus> status(const GroupId& group) const;

 private:
  template <typename M>
  friend class GroupBuilder;
  // Untyped join: the active worker of the derived id, or a new one.
  Result<std::shared_ptr<detail::GroupWorker>> join(detail::GroupSpec spec,
                                                    std::unique_ptr<ErasedStateMachine> machine);

  std::unique_ptr<detail::GroupRouter> router_;
};

}  // namespace smalti::groups

#include "smalti/groups/group.hpp"
