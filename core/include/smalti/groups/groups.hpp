// Groups: consensus groups of this node (Network::groups()). It serves /smalti/groups/1,
// routes each bond link to the worker of its group, and joins groups:
//
//   struct Counter { ... };                       // a StateMachine (state_machine.hpp)
//   Result<Group<Counter>> group = net.groups().with_key(GroupKey::from_secret("ledger"))
//                                      .with_state_machine(Counter{})
//                                      .join();
//   co_await group->when().online();
//   Result<Index> at = co_await group->execute(5);
//   auto value = co_await group->query(Unit{}, Consistency::kStrong);  // QueryResultAt
//
// A join of a group already active on this node returns another handle to the same worker
// (the machine and storage given are discarded; a different machine type is refused). The
// group stays up while any handle lives; dropping the last one departs the bonds and withdraws
// the group from the node's discovery entry (mosaik tears the group down on any drop and never
// withdraws it). Executor thread only; handles must not outlive the Network.
#pragma once

#include <map>
#include <memory>

#include "smalti/groups/group_worker.hpp"

namespace smalti::groups {

struct GroupsOptions {
  Duration handshake_timeout = 2s;
  // The durable side of the default in-memory stores (the simulator passes one per host that
  // survives its crashes); null: volatile stores, a restart makes a new member.
  std::shared_ptr<MemoryMedium> medium;
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

  Node& node() { return node_; }
  discovery::Discovery& discovery() { return discovery_; }
  const GroupsOptions& options() const { return options_; }

  // Starts with the group's key; then with_state_machine(), options, join().
  GroupBuilder<NoOpMachine> with_key(GroupKey key);

  // Untyped join: the active worker of the derived id, or a new one.
  Result<std::shared_ptr<GroupWorker>> join(GroupSpec spec,
                                            std::unique_ptr<ErasedStateMachine> machine);
  std::vector<GroupId> active() const;
  std::shared_ptr<GroupWorker> find(const GroupId& id) const;

  // ---- for workers ----------------------------------------------------------------------------
  LinkToken connect(GroupWorker& worker, const PeerAddr& addr);
  Status send(LinkToken token, const GroupMessage& message);
  Status send_frame(LinkToken token, Bytes frame);  // an encoded GroupMessage
  void close(LinkToken token, std::uint32_t code, const std::string& reason);
  std::optional<Digest> link_secret(LinkToken token, const GroupId& group) const;
  std::optional<PeerId> remote(LinkToken token) const { return links_.remote(token); }
  void release(GroupWorker& worker);

  static constexpr std::size_t kMaxUnroutedLinks = 256;

 private:
  struct Route {
    GroupWorker* worker = nullptr;  // null until the Hello names the group
    Instant hello_deadline;
  };
  void on_accept(env::LinkPtr link);
  void on_frame(LinkToken token, Bytes frame);
  void on_down(LinkToken token);
  void on_connected(LinkToken token);
  void watch_catalog();
  void on_hello_timer();

  Node& node_;
  discovery::Discovery& discovery_;
  GroupsOptions options_;
  LinkTable links_;
  std::map<GroupId, std::weak_ptr<GroupWorker>> workers_;
  std::map<LinkToken, Route> routes_;
  LinkToken next_token_ = 1;
  DeadlineTimer hello_timer_;
  Subscription catalog_watch_;
};

}  // namespace smalti::groups

#include "smalti/groups/group.hpp"
