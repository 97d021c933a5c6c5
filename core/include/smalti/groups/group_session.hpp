// GroupSession: the rules of one member's session in its group that belong neither to Raft nor
// to a single bond, as a pure state machine that meets the machine contract (machine.hpp).
//
// "Session" because it is what a member keeps of its membership between Raft (who leads, what
// is committed) and the bonds (who is reachable): where each client call goes and how it ends,
// and which members to bond with. A driver (the group worker) moves bytes, time and completions
// between it, RaftMachine, the BondMachines, the stores and the state machine; it decides none
// of the following.
//
// Client calls (feed, execute, query) and where they go:
//   - on the leader, commands are proposed to Raft (Propose; the driver answers
//     handle_proposed) and strong queries confirm leadership first (Read; the driver answers
//     handle_read_ready / handle_read_failed from Raft's effects);
//   - on a follower bonded with the leader they are forwarded on that bond (ForwardCommands,
//     ForwardQuery with a request id, the call's id) and wait forward_timeout / query_timeout
//     for the answer; they fail at once (kUnavailable, the outcome unknown) when the bond to the
//     leader drops, when another member becomes leader, or when the link refuses the frame;
//   - with no leader known they fail at once (kUnavailable);
//   - a weak query runs on the local state at once (RunQuery), on any member;
//   - an execute, once placed, waits until its last command is applied here, and succeeds only
//     when the entry applied at its index has the term it was given (otherwise kCancelled: a
//     new leader replaced it; mosaik reports success then). A cluster merge (handle_reset)
//     cancels every execute still waiting;
//   - a strong read runs (RunQuery) once the local state has applied the index the leader
//     confirmed.
//   The leader side of forwarding lives here too: a follower's commands are proposed and
//   answered with CommandsAccepted, its queries read and answered with QueryAnswer.
//
// Bonds: which members to dial, and which link to keep.
//   - The members are those the catalog lists for the group (handle_catalog). Of two members,
//     the lower PeerId dials at once and the higher only if no bond formed for twice the
//     handshake timeout since it first saw the other; a member not bonded is dialled again
//     redial_after (lower) or twice the handshake timeout (higher) after the last dial.
//   - A bond coming up tells every other bond (BondFormed), and the peers the remote is bonded
//     with, or that a bond names in BondFormed, may be dialled at once (topology hints).
//   - Two links to one peer (both dialled at once): the one the lower PeerId initiated is kept.
//   - Accepted links beyond max_links, and peers whose tickets do not validate, are refused;
//     links to a peer whose tickets stopped validating are closed.
// Founding: this member may found the cluster only while no member of the group it knows of
// has a lower PeerId (FoundingAllowed, for RaftMachine::set_founding_allowed).
//
// Inputs take `now` first; it never decreases. Frames from peers are handle_message (dropped past
// the effect queue's input mark); calls refuse new work there (kLimitExceeded). Not
// synchronised: owned by one GroupWorker on one executor.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/status.hpp"
#include "smalti/groups/group_messages.hpp"
#include "smalti/groups/raft_log.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::groups {

// A client call of this member, or a follower's call this member serves as leader.
using CallId = std::uint64_t;

// The untyped result of a query and the applied index it reflects.
struct QueryAnswerAt {
  Bytes result;
  Index index = 0;
};

struct SessionConfig {
  PeerId self;
  ConsensusConfig consensus;  // forward_timeout and query_timeout
  Duration handshake_timeout = 2s;
  Duration redial_after = 1s;
  // The links this session dials are named first_link, first_link + 1, ... (the driver gives
  // each group a range of its own).
  LinkToken first_link = 1;
  std::size_t max_pending_calls = 1u << 16;
  std::size_t max_links = 256;
  // Effects waiting to be pulled (machine.hpp); 0: the least the other limits need
  // (min_effect_limit()).
  std::size_t max_pending_effects = 0;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none.
  Buggify buggify;
};

// The most effects one input may produce is a failure for every call plus a frame and a dial
// or close for every link; the queue holds twice that (inputs are taken below half of it).
std::size_t min_effect_limit(const SessionConfig& config);

// A member of the group the catalog lists (not this one), or a bonded peer whose tickets are
// checked again (listed = false).
struct Candidate {
  PeerAddr addr;
  bool listed = true;      // its entry names the group
  bool authorized = true;  // its tickets validate for the group now
};

namespace session_effect {
// This member leads: propose the commands to Raft and answer with handle_proposed.
struct Propose {
  CallId call = 0;
  std::vector<SharedBytes> commands;
};
// This member leads: confirm leadership for a strong read (RaftMachine::read with the call as
// the read id) and answer with handle_read_ready / handle_read_failed.
struct Read {
  CallId call = 0;
};
// Run `query` on the local state machine now and answer with handle_query_result.
struct RunQuery {
  CallId call = 0;
  Bytes query;
};
// A call of this member ended (a default-made one ended with kInternal).
struct FeedDone {
  CallId call = 0;
  Result<Cursor> result = error(StatusCode::kInternal, "no result");
};
struct ExecuteDone {
  CallId call = 0;
  Result<Index> result = error(StatusCode::kInternal, "no result");
};
struct QueryDone {
  CallId call = 0;
  Result<QueryAnswerAt> result = error(StatusCode::kInternal, "no result");
};
// Whether this member may found the cluster (emitted when it changes).
struct FoundingAllowed {
  bool allowed = true;
};
}  // namespace session_effect

using SessionEffect =
    std::variant<effect::Connect, effect::Send, effect::Close, session_effect::Propose,
                 session_effect::Read, session_effect::RunQuery, session_effect::FeedDone,
                 session_effect::ExecuteDone, session_effect::QueryDone,
                 session_effect::FoundingAllowed>;

class GroupSession : public MachineBase<SessionEffect> {
 public:
  // `log` is this member's Raft log (RaftMachine::log()), read to check that an execute's entry
  // is the one applied; it must outlive the session.
  GroupSession(SessionConfig config, const RaftLog& log, Instant now);

  // ---- client calls: a call id whose *Done effect follows, or why it failed at once ----------
  // kInvalidArgument for no commands, kLimitExceeded for more than one batch holds or too many
  // calls in flight, kUnavailable when no leader is known (or reachable).
  Result<CallId> feed(Instant now, std::vector<SharedBytes> commands);
  Result<CallId> execute(Instant now, std::vector<SharedBytes> commands);
  Result<CallId> query(Instant now, Bytes query, bool strong);

  // ---- from Raft and the state machine, through the driver -------------------------------------
  void handle_leader(Instant now, const std::optional<PeerId>& leader);
  void handle_proposed(Instant now, CallId call, Result<Cursor> first);
  void handle_read_ready(Instant now, CallId call, Index index);
  void handle_read_failed(Instant now, CallId call);
  void handle_query_result(Instant now, CallId call, Result<Bytes> result, Index applied);
  // Every entry up to `applied` is applied to the state machine.
  void handle_applied(Instant now, Index applied);
  // This member lost a cluster merge: its log and state start again from nothing.
  void handle_reset(Instant now);

  // ---- links and bonds ---------------------------------------------------------------------
  void handle_catalog(Instant now, const std::vector<Candidate>& candidates);
  // An accepted link's Hello names this group: true when the driver is to answer it (a bond),
  // false when the session closed it.
  bool handle_hello(Instant now, LinkToken link, const PeerId& peer, bool authorized, bool known);
  void handle_bond_up(Instant now, LinkToken link, const std::vector<PeerId>& remote_bonds);
  // The link ended (closed by the remote, a failed connect, or its bond closed it).
  void handle_link_down(Instant now, LinkToken link);
  // A message a bond delivered (not Raft's).
  void handle_message(Instant now, LinkToken link, GroupMessage message);
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  void handle_timeout(Instant now);

  // ---- outputs ---------------------------------------------------------------------------
  Instant next_deadline() const;
  // Checks the session's indexes against its calls (see kDeepCheckEvery).
  void invariants() const;
  static constexpr std::size_t kDeepCheckCalls = 32;
  static constexpr std::uint64_t kDeepCheckEvery = 32;

  // ---- views -------------------------------------------------------------------------------
  // The link of the bond with `peer`, once up.
  std::optional<LinkToken> bond_link(const PeerId& peer) const;
  // The peer a link leads to (dialled or accepted, up or not).
  std::optional<PeerId> peer_of(LinkToken link) const;
  // Peers with a bond up, ascending.
  std::vector<PeerId> bonded_peers() const;
  bool founding_allowed() const { return founding_allowed_; }
  bool is_leader() const { return leader_ == config_.self; }
  std::size_t pending_calls() const { return calls_.size(); }
  std::size_t links() const { return links_.size(); }
  const SessionConfig& config() const { return config_; }

 private:
  enum class Kind : std::uint8_t { kFeed, kExecute, kQuery };
  enum class Stage : std::uint8_t {
    kProposing,  // Propose emitted
    kForwarded,  // sent to the leader, waiting for its answer until `deadline`
    kApplying,   // an execute placed at `last`, waiting to be applied
    kReading,    // Read emitted
    kReadReady,  // leadership confirmed at `index`, waiting to be applied
    kQuerying,   // RunQuery emitted
  };
  struct Call {
    Kind kind = Kind::kFeed;
    Stage stage = Stage::kProposing;
    std::size_t count = 0;  // commands
    Cursor last;            // kApplying: the last command's position
    Bytes query;            // a query, until it runs
    Index index = 0;        // kReadReady: the index the state must reflect
    LinkToken link = 0;     // kForwarded: the leader's bond; remote: the follower's
    PeerId leader;          // kForwarded: the leader it went to
    Instant deadline = Instant::max();
    bool remote = false;  // a follower's call served here; its id is `request`
    std::uint64_t request = 0;
  };
  struct LinkState {
    PeerId peer;
    bool initiator = false;
    bool up = false;
  };

  // group_session.cpp: calls
  Result<CallId> start_commands(Instant now, Kind kind, std::vector<SharedBytes> commands);
  Status refuse_new_call() const;
  CallId add_call(Call call);
  void forward(CallId id, Call& call, Instant deadline, const GroupMessage& message);
  void fail(CallId id, const Status& why);
  void placed(CallId id, Cursor first);
  void settle_executes();
  void run_ready_reads();
  void erase_call(CallId id);
  void unindex(CallId id, const Call& call);
  // Fails every call forwarded on `link` (or on any link when none is given); drops the calls
  // a follower forwarded on `link`, whose answer has nowhere to go.
  void fail_forwarded(std::optional<LinkToken> link, const Status& why);
  void forget_link(LinkToken link, const Status& why);
  void on_forward_commands(LinkToken link, ForwardCommands m);
  void on_commands_accepted(LinkToken link, const CommandsAccepted& m);
  void on_forward_query(LinkToken link, ForwardQuery m);
  void on_query_answer(LinkToken link, QueryAnswer m);
  void send(LinkToken link, const GroupMessage& message);
  // group_session_bonds.cpp: links and dialling
  void dial_due(Instant now);
  Duration dial_wait(const PeerId& peer) const;
  bool linked(const PeerId& peer) const;
  void close_link(LinkToken link, std::uint32_t code, const std::string& reason);
  void resolve_duplicates(LinkToken up_link);
  void set_founding_allowed(bool allowed);

  SessionConfig config_;
  const RaftLog& log_;
  std::optional<PeerId> leader_;
  Index applied_ = 0;
  Term settled_term_ = 0;  // every execute of an earlier term has been settled
  CallId next_call_ = 1;
  std::map<CallId, Call> calls_;
  std::set<std::pair<Instant, CallId>> deadlines_;  // kForwarded calls
  std::multimap<Index, CallId> applying_;           // kApplying executes by last index
  std::multimap<Index, CallId> ready_reads_;        // kReadReady reads by index
  std::map<LinkToken, LinkState> links_;
  std::map<PeerId, std::size_t> links_per_peer_;
  mutable std::uint64_t deep_checks_skipped_ = 0;  // invariants(): inputs since the last walk
  LinkToken next_link_;
  std::map<PeerId, Candidate> candidates_;  // listed members
  std::map<PeerId, Instant> last_dial_;     // the last dial, or (higher id) when first seen
  bool founding_allowed_ = true;
};

}  // namespace smalti::groups
