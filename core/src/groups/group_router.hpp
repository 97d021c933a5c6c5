// GroupRouter: the inside of Groups (groups.hpp). It serves /smalti/groups/1 on one LinkTable
// for every group of the node, routes each link to the worker of its group (a dialled link by
// the token the worker's session chose, an accepted one by the group its first frame, the
// Hello, names), keeps the workers by GroupId (idempotent joins) and tells them of catalog
// changes. Private to core/src/groups. Executor thread only.
#pragma once

#include <map>
#include <memory>

#include "smalti/discovery/discovery.hpp"
#include "smalti/groups/detail/group_worker.hpp"
#include "smalti/groups/groups.hpp"
#include "smalti/runtime/detail/link_table.hpp"

namespace smalti::groups::detail {

class GroupRouter {
 public:
  GroupRouter(Node& node, discovery::Discovery& discovery, GroupsOptions options);
  ~GroupRouter();
  GroupRouter(const GroupRouter&) = delete;
  GroupRouter& operator=(const GroupRouter&) = delete;

  Status start();
  Result<std::shared_ptr<GroupWorker>> join(GroupSpec spec,
                                            std::unique_ptr<ErasedStateMachine> machine);
  std::vector<GroupId> active() const;
  std::optional<GroupStatus> status(const GroupId& group) const;
  std::shared_ptr<GroupWorker> find(const GroupId& id) const;

  Node& node() { return node_; }
  discovery::Discovery& discovery() { return discovery_; }
  const GroupsOptions& options() const { return options_; }
  // The node's store provider (GroupsOptions::storage), made by start(); null: in-memory.
  const std::shared_ptr<StoreProvider>& storage() const { return storage_; }

  // ---- for workers ----------------------------------------------------------------------------
  // Opens `link` (a token of the worker's range) to `addr`; its events go to the worker.
  void connect(GroupWorker& worker, LinkToken link, const PeerAddr& addr);
  // kNotFound for no open link; the frame is moved from only when the send succeeds.
  Status send(LinkToken link, Bytes& frame);
  void close(LinkToken link, std::uint32_t code, const std::string& reason);
  std::optional<Digest> link_secret(LinkToken link, const GroupId& group) const;
  std::optional<PeerId> remote(LinkToken link) const { return links_.remote(link); }
  void release(GroupWorker& worker);

  static constexpr std::size_t kMaxUnroutedLinks = 256;
  // Accepted links are numbered from 1; the workers' sessions name theirs from (n << this).
  static constexpr unsigned kWorkerLinkShift = 40;

 private:
  struct Route {
    GroupWorker* worker = nullptr;  // null until the Hello names the group
    Instant hello_deadline;
  };
  void on_accept(env::LinkPtr link);
  void on_frame(LinkToken link, Bytes frame);
  void on_down(LinkToken link);
  void on_connected(LinkToken link);
  void watch_catalog();
  void on_hello_timer();

  Node& node_;
  discovery::Discovery& discovery_;
  GroupsOptions options_;
  std::shared_ptr<StoreProvider> storage_;
  LinkTable links_;
  std::map<GroupId, std::weak_ptr<GroupWorker>> workers_;
  std::map<LinkToken, Route> routes_;
  LinkToken next_accepted_ = 1;
  std::uint64_t next_worker_ = 1;
  DeadlineTimer hello_timer_;
  Subscription catalog_watch_;
};

}  // namespace smalti::groups::detail
