// GroupWorker: the driver of one group on one node. It runs the RaftMachine, the bonds
// (BondMachines over links the Groups service routes to it), the stores and the replicated
// state machine, and serves the untyped client calls behind Group<M>.
//
// Client calls and their guarantees:
//   feed(commands)     the leader placed them in its log: done(first cursor); a follower
//                      forwards to the leader and waits forward_timeout for the answer.
//   execute(commands)  as feed, then waits until the last command is applied here and checks
//                      the entry at its index is still the one proposed (kCancelled if a new
//                      leader replaced it: mosaik reports success then).
//   query(q, weak)     the local state at once; strong: the leader confirms its leadership
//                      with a quorum (read-index) and answers once it applied up to that index.
// Every pending call is bounded (kMaxPendingCalls, then kLimitExceeded) and fails with
// kUnavailable when its timeout passes or the worker goes away. Executor thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "smalti/discovery/discovery.hpp"
#include "smalti/groups/bond_machine.hpp"
#include "smalti/groups/raft_machine.hpp"
#include "smalti/groups/state_machine.hpp"
#include "smalti/groups/stores.hpp"
#include "smalti/runtime/effect_loop.hpp"
#include "smalti/runtime/link_table.hpp"
#include "smalti/runtime/signal.hpp"
#include "smalti/tickets/ticket_validator.hpp"

namespace smalti::groups {

class Groups;
using LinkToken = LinkTable::Token;

struct GroupSpec {
  GroupKey key;
  ConsensusConfig consensus;
  tickets::Validators validators;
  std::shared_ptr<StateStore> state_store;  // null: in-memory over the node's medium
  std::shared_ptr<LogStore> log_store;      // null: in-memory over the node's medium
};

struct QueryAnswerAt {
  Bytes result;
  Index index = 0;  // the applied index the result reflects
};

// What a group looks like from here, for tests, metrics and the demo.
struct GroupStatus {
  Role role = Role::kFollower;
  Term term = 0;
  std::optional<PeerId> leader;
  bool online = false;
  Index committed = 0;
  Index applied = 0;
  std::size_t bonds = 0;
  std::size_t voters = 0;
};

class GroupWorker {
 public:
  using FeedDone = std::function<void(Result<Cursor>)>;
  using ExecuteDone = std::function<void(Result<Index>)>;
  using QueryDone = std::function<void(Result<QueryAnswerAt>)>;

  GroupWorker(Groups& groups, const GroupId& id, GroupSpec spec,
              std::unique_ptr<ErasedStateMachine> machine, std::shared_ptr<MemoryMedium> medium);
  ~GroupWorker();
  GroupWorker(const GroupWorker&) = delete;
  GroupWorker& operator=(const GroupWorker&) = delete;

  const GroupId& id() const { return id_; }
  const GroupSpec& spec() const { return spec_; }
  ErasedStateMachine& machine() { return *machine_; }
  const RaftMachine& raft() const { return *raft_; }
  GroupStatus status() const;
  std::vector<PeerId> bonded_peers() const;
  Index applied() const { return applied_; }
  Signal& changed() { return changed_; }
  env::Clock& raft_clock() const { return node_.clock(); }

  void feed(std::vector<SharedBytes> commands, FeedDone done);
  void execute(std::vector<SharedBytes> commands, ExecuteDone done);
  void query(Bytes query, bool strong, QueryDone done);

  // ---- from the Groups service ----------------------------------------------------------------
  void on_connected(LinkToken token);
  void on_hello(LinkToken token, const PeerId& remote, const Hello& hello);
  void on_message(LinkToken token, GroupMessage message);
  void on_down(LinkToken token);
  void refresh_candidates();
  // The Groups service is going away: stop everything and answer every call kUnavailable.
  void detach();
  bool detached() const { return groups_ == nullptr; }

  static constexpr std::size_t kMaxPendingCalls = 1u << 16;
  static constexpr std::size_t kMaxBonds = 256;
  static constexpr Duration kRedialAfter = 1s;

 private:
  struct Bond {
    PeerId peer;
    bool initiator = false;
    std::optional<BondMachine> machine;  // empty while connecting
    Instant started;
  };
  struct PendingExecute {
    Cursor last;
    ExecuteDone done;
  };
  struct PendingForward {
    Instant deadline;
    FeedDone done;
  };
  struct PendingQuery {
    Instant deadline;
    QueryDone done;
  };
  struct PendingRead {
    Bytes query;
    Index index = 0;
    bool ready = false;
    QueryDone local;                  // a query of this node
    std::optional<LinkToken> remote;  // or one forwarded by a follower
    std::uint64_t remote_request = 0;
  };

  // group_worker.cpp: raft driving and applying
  void run_raft();
  void execute_effect(RaftEffect effect);
  void persist(raft_effect::Persist p);
  void apply_committed(Index commit);
  void settle_executes();
  void settle_reads();
  void on_reset();
  void update_raft_peers();
  // group_bonds.cpp
  void dial(const PeerId& peer, const PeerAddr& addr);
  bool authorized(const PeerId& peer) const;
  std::vector<PeerId> up_bonds() const;
  void run_bond(LinkToken token);
  void drop_bond(LinkToken token, std::uint32_t code, const std::string& reason);
  void resolve_duplicates(const PeerId& peer);
  void send_to(LinkToken token, const GroupMessage& message);
  void send_frame_to(LinkToken token, Bytes frame);
  const Bytes& raft_frame(const std::shared_ptr<const RaftMessage>& message);
  std::optional<LinkToken> bond_of(const PeerId& peer) const;
  void arm_bond_timer();
  void on_bond_timer();
  // group_requests.cpp
  void on_forward(LinkToken token, GroupMessage message);
  void answer_read(PendingRead& read, Result<QueryAnswerAt> answer);
  void arm_call_timer();
  void on_call_timer();
  std::size_t pending_calls() const;

  Groups* groups_;
  Node& node_;
  discovery::Discovery& discovery_;
  GroupId id_;
  GroupSpec spec_;
  std::unique_ptr<ErasedStateMachine> machine_;
  BondConfig bond_config_;
  std::unique_ptr<RaftMachine> raft_;
  DeadlineTimer raft_timer_;
  DeadlineTimer bond_timer_;
  DeadlineTimer call_timer_;
  DeadlineTimer tick_timer_;
  Signal changed_;
  Rng rng_;
  Index applied_ = 0;
  Term settled_term_ = 0;  // settle_executes() dropped every execute of an earlier term
  std::map<LinkToken, Bond> bonds_;
  std::map<PeerId, Instant> last_dial_;  // the last dial, or (higher id) when first seen
  std::multimap<Index, PendingExecute> executes_;
  std::map<std::uint64_t, PendingForward> forwards_;
  std::map<std::uint64_t, PendingQuery> queries_;
  std::map<std::uint64_t, PendingRead> reads_;
  std::uint64_t next_request_ = 1;
  // The last Raft message encoded and its frame: the Sends of one broadcast share a message.
  std::shared_ptr<const RaftMessage> framed_message_;
  Bytes framed_;
};

}  // namespace smalti::groups
