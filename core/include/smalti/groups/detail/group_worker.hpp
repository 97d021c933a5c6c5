// GroupWorker: the driver of one group on one node. Machinery behind Group<M> that users never
// name (they use Groups, GroupBuilder<M> and Group<M>); it is in a header only because
// Group<M>'s templates call it.
//
// It decides nothing: it moves bytes, time and completions between its machines and the
// environment, each machine run through run_machine() with a DeadlineTimer of its own:
//   - RaftMachine: its Sends go out on the bond of their peer, its Persists to the stores (a
//     token is acknowledged once the stores report it durable), its commits to the state
//     machine;
//   - one BondMachine per link: frames in and out, Up and Close;
//   - GroupSession (group_session.hpp): where each client call goes and how it ends, whom to
//     dial, which duplicate link to keep, whether this member may found the cluster;
//   - the stores (StateStore, LogStore, SnapshotStore) and the type-erased state machine, which
//     it snapshots where SnapshotPolicy says and restores from an installed snapshot.
// Frames a link refuses go back to the machine that sent them (Raft treats them as lost).
//
// Client calls (feed, execute, query) complete through their callback in an executor turn of
// its own, never inside the call or the worker, refusals included; when the worker goes away
// (detach(), or the last handle dropped) every pending call fails with kUnavailable at once.
//
// A store that fails to sync is surfaced, not dropped: the error is kept (status().store_error),
// traced ("group.store_error"), and the member never acknowledges what that sync covered, so it
// stops counting towards any quorum while staying up. Executor thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "smalti/env/clock.hpp"
#include "smalti/groups/bond_machine.hpp"
#include "smalti/groups/group_session.hpp"
#include "smalti/groups/group_status.hpp"
#include "smalti/groups/raft_machine.hpp"
#include "smalti/groups/state_machine.hpp"
#include "smalti/groups/store_provider.hpp"
#include "smalti/groups/stores.hpp"
#include "smalti/runtime/detail/effect_loop.hpp"
#include "smalti/runtime/signal.hpp"

namespace smalti {
class Node;
namespace discovery {
class Discovery;
}
}  // namespace smalti

namespace smalti::groups::detail {

class GroupRouter;

// A join's settings, as GroupBuilder<M> collects them.
struct GroupSpec {
  GroupKey key;
  ConsensusConfig consensus;
  LogReplayConfig log_replay;
  SnapshotPolicy snapshots;
  tickets::Validators validators;
  // Stores given by the builder; else opened from `storage`, else from the node's provider
  // (GroupsOptions::storage), else in-memory over the node's medium. The provider is declared
  // first so that it outlives the stores it opened.
  std::shared_ptr<StoreProvider> storage;
  std::shared_ptr<StateStore> state_store;
  std::shared_ptr<LogStore> log_store;
  std::shared_ptr<SnapshotStore> snapshot_store;
};

class GroupWorker {
 public:
  using FeedDone = std::function<void(Result<Cursor>)>;
  using ExecuteDone = std::function<void(Result<Index>)>;
  using QueryDone = std::function<void(Result<QueryAnswerAt>)>;

  // `first_link`: the first of the link tokens this group's session names its dials with.
  GroupWorker(GroupRouter& router, const GroupId& id, GroupSpec spec,
              std::unique_ptr<ErasedStateMachine> machine, LinkToken first_link);
  // NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
  ~GroupWorker();
  GroupWorker(const GroupWorker&) = delete;
  GroupWorker& operator=(const GroupWorker&) = delete;

  const GroupId& id() const { return id_; }
  GroupConfig config() const;
  ErasedStateMachine& machine() { return *machine_; }
  const RaftMachine& raft() const { return *raft_; }
  const GroupSession& session() const { return *session_; }
  GroupStatus status() const;
  std::vector<PeerId> bonded_peers() const { return session_->bonded_peers(); }
  Index applied() const { return applied_; }
  Cursor log_position() const { return raft_->log().last(); }
  // Counters that move whenever the log's last position, or the applied index, changes (a
  // change that came back to the same value counts too).
  std::uint64_t log_changes() const { return log_changes_; }
  std::uint64_t applied_changes() const { return applied_changes_; }
  Signal& changed() { return changed_; }
  env::Clock& clock() const;

  void feed(std::vector<SharedBytes> commands, FeedDone done);
  void execute(std::vector<SharedBytes> commands, ExecuteDone done);
  void query(Bytes query, bool strong, QueryDone done);

  // ---- from the router -------------------------------------------------------------------------
  void on_connected(LinkToken link);
  void on_hello(LinkToken link, const PeerId& remote, Hello hello);
  void on_message(LinkToken link, GroupMessage message);
  void on_down(LinkToken link);
  void refresh_catalog();
  // The router is going away: stop everything and fail every call kUnavailable.
  void detach();
  bool detached() const { return router_ == nullptr; }

  static constexpr std::size_t kMaxPendingCalls = 1u << 16;
  static constexpr std::size_t kMaxBonds = 256;
  static constexpr Duration kRedialAfter = 1s;

 private:
  // One link of this group: its bond once the link is open, with its own timer.
  struct Bond {
    Bond(env::Executor& executor, std::function<void()> on_due)
        : timer(executor, std::move(on_due)) {}
    PeerId peer;
    std::optional<BondMachine> machine;  // empty while connecting
    DeadlineTimer timer;
    bool closing = false;  // its machine closed it; dropped once its effects ran
    effect::Close closing_reason;
  };
  using Waiter = std::variant<FeedDone, ExecuteDone, QueryDone>;

  // group_worker.cpp: the machines, Raft's effects, stores and applying
  void pump();
  void run_raft();
  void run_session();
  void run_bonds();
  void execute_raft(RaftEffect effect);
  void send_raft(const raft_effect::Send& send);
  void persist(raft_effect::Persist p);
  Status open_stores(GroupRouter& router);
  void store_failed(const Status& why);
  // `deferred`: the delayed apply of raft.slow_apply, which applies at once.
  void apply_committed(Index commit, bool deferred = false);
  // Whether the entry just applied makes a snapshot due (SnapshotPolicy); counts its bytes.
  bool snapshot_due(const LogEntry& applied);
  void take_snapshot();
  void restore(const Snapshot& snapshot);
  static constexpr Duration kSlowApply = 50ms;
  void on_reset();
  void note_changes();
  // group_bonds.cpp: bonds and links
  Bond& add_bond(LinkToken link, const PeerId& peer);
  void execute_bond(LinkToken link, Bond& bond, BondEffect effect);
  void drop_bond(LinkToken link, std::uint32_t code, const std::string& reason);
  void send_on(LinkToken link, Bytes frame,
               const std::function<void(Bytes&, const Status&)>& refused);
  bool authorized(const PeerId& peer) const;
  std::vector<RaftPeer> raft_peers() const;
  void arm_ticket_check();
  // group_calls.cpp: client calls and the session's effects
  void execute_session(SessionEffect effect);
  template <typename Done>
  void start(Result<CallId> call, Done done);
  template <typename Done, typename T>
  void complete(CallId call, Result<T> result);
  // Runs `callback` in an executor turn of its own, with the other callbacks due meanwhile.
  void call_back(std::function<void()> callback);

  GroupRouter* router_;
  Node& node_;
  discovery::Discovery& discovery_;
  GroupId id_;
  GroupSpec spec_;
  std::unique_ptr<ErasedStateMachine> machine_;
  BondConfig bond_config_;
  Rng rng_;
  std::unique_ptr<RaftMachine> raft_;
  std::unique_ptr<GroupSession> session_;
  DeadlineTimer raft_timer_;
  DeadlineTimer session_timer_;
  DeadlineTimer ticket_timer_;
  DeadlineTimer apply_timer_;  // a deferred apply (the raft.slow_apply fault point)  // only with
                               // ticket validators: tickets expire with the wall clock
  std::map<LinkToken, std::unique_ptr<Bond>> bonds_;
  std::set<LinkToken> dirty_bonds_;             // bonds with input since they last ran
  std::vector<std::unique_ptr<Bond>> retired_;  // dropped during a pump; freed after it
  std::map<CallId, Waiter> waiters_;
  // Callbacks due, run together in one executor turn (user code, outside the worker's loop).
  struct Callbacks {
    std::vector<std::function<void()>> due;
    bool running = false;  // later callbacks go to the next turn
  };
  std::shared_ptr<Callbacks> callbacks_;
  Signal changed_;
  Index applied_ = 0;
  // The latest snapshot's index, and the command bytes applied since (SnapshotPolicy).
  Index snapshot_index_ = 0;
  std::uint64_t bytes_since_snapshot_ = 0;
  Status store_error_;
  bool pumping_ = false;
  bool peers_changed_ = false;
  bool changed_now_ = false;
  // What note_changes() compares against.
  Cursor seen_log_position_;
  std::uint64_t seen_truncations_ = 0;
  Index seen_applied_ = 0;
  std::uint64_t log_changes_ = 0;
  std::uint64_t applied_changes_ = 0;
  // The last Raft message encoded and its frame: the Sends of one broadcast share a message.
  std::shared_ptr<const RaftMessage> framed_message_;
  Bytes framed_;
};

}  // namespace smalti::groups::detail
