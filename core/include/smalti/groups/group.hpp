// Typed handles of groups: GroupBuilder<M> and Group<M> (included by groups.hpp).
//
// Every call has two forms (DESIGN.md section 4): an awaitable for coroutines, and the same
// call with a callback as its last argument, which runs once with the result, in a later
// executor turn (never inside the call; the callbacks of calls that finish together share one).
// when() conditions are Conditions: co_await them or use on_met(fn), their callback form.
//
//   Result<Index> at = co_await group.execute(5);
//   group.execute(5, [](Result<Index> at) { ... });
//   co_await group.when().committed().reaches(at);
//   auto sub = group.when().log().advanced().on_met([] { ... });
//
// A handle is cheap to copy; every copy names the same group. Executor thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "smalti/runtime/await_callback.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/task.hpp"

namespace smalti::groups {

enum class Consistency : std::uint8_t {
  kWeak,    // this member's state now, on any member: fast, may be stale
  kStrong,  // linearizable: the leader confirms its leadership first (read-index)
};

template <typename R>
struct QueryResultAt {
  R result;
  Index index = 0;  // the applied index the result reflects
  const R& operator*() const { return result; }
  const R* operator->() const { return &result; }
};

// Watches one position of a group on this member: its log's last entry (a Cursor) or its
// applied index (an Index). Each condition compares with the position when the watcher was
// made (mosaik's CursorWatcher).
template <typename T>
class CursorWatcher {
 public:
  CursorWatcher(Signal& signal, env::Clock& clock, std::function<T()> value,
                std::function<std::uint64_t()> changes)
      : signal_(&signal),
        clock_(&clock),
        value_(std::move(value)),
        changes_(std::move(changes)),
        initial_(value_()),
        initial_changes_(changes_()) {}

  // The position when the watcher was made, and now.
  const T& initial() const { return initial_; }
  T current() const { return value_(); }

  // The position moved since (even if it came back to where it was).
  Condition changed() const {
    return make([changes = changes_, at = initial_changes_] { return changes() != at; });
  }
  // Past the position at the time the watcher was made.
  Condition advanced() const {
    return make([value = value_, at = initial_] { return at < value(); });
  }
  // Below the position at the time the watcher was made (the log was truncated, or this member
  // lost a cluster merge and starts again).
  Condition reverted() const {
    return make([value = value_, at = initial_] { return value() < at; });
  }
  // At or past `index` (the index of a Cursor).
  Condition reaches(Index index) const {
    return make([value = value_, index] { return index_of(value()) >= index; });
  }

 private:
  static Index index_of(const Index& i) { return i; }
  static Index index_of(const Cursor& c) { return c.index; }
  Condition make(std::function<bool()> predicate) const {
    return Condition(*signal_, *clock_, std::move(predicate));
  }

  Signal* signal_;
  env::Clock* clock_;
  std::function<T()> value_;
  std::function<std::uint64_t()> changes_;
  T initial_;
  std::uint64_t initial_changes_;
};

template <StateMachine M>
class Group {
 public:
  using Command = typename M::Command;
  using Query = typename M::Query;
  using QueryResult = typename M::QueryResult;
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  explicit Group(std::shared_ptr<detail::GroupWorker> worker) : worker_(std::move(worker)) {}

  const GroupId& id() const { return worker_->id(); }
  // What the GroupId derives from, and the consensus settings.
  GroupConfig config() const { return worker_->config(); }
  bool is_leader() const { return worker_->raft().is_leader(); }
  std::optional<PeerId> leader() const { return worker_->raft().leader(); }
  bool is_online() const { return worker_->raft().is_online(); }
  // Highest index applied to this member's state machine.
  Index committed() const { return worker_->applied(); }
  // The position of the last entry of this member's log (committed or not).
  Cursor log_position() const { return worker_->log_position(); }
  std::vector<PeerId> bonds() const { return worker_->bonded_peers(); }
  GroupStatus status() const { return worker_->status(); }
  // The local replica (what a weak query sees).
  const M& state() const { return static_cast<ErasedMachine<M>&>(worker_->machine()).get(); }
  // This member's Raft, for checkers, metrics and tests.
  const RaftMachine& raft() const { return worker_->raft(); }

  // Commits and applies here, then yields the index of the last command. kCancelled: a new
  // leader replaced the entry; kUnavailable: no leader (the outcome is unknown if it was
  // forwarded); kLimitExceeded: too many commands or calls in flight.
  CallbackAwaiter<Result<Index>> execute(Command command) {
    return execute_many({std::move(command)});
  }
  void execute(Command command, Callback<Index> done) {
    execute_many({std::move(command)}, std::move(done));
  }
  CallbackAwaiter<Result<Index>> execute_many(std::vector<Command> commands) {
    return await_callback<Result<Index>>(
        [worker = worker_, encoded = encode_all(commands)](auto done) mutable {
          worker->execute(std::move(encoded), std::move(done));
        });
  }
  void execute_many(std::vector<Command> commands, const Callback<Index>& done) {
    worker_->execute(encode_all(commands), done);
  }

  // Yields once the leader placed the commands: the first one's position. They are committed
  // and applied afterwards (when().committed().reaches(cursor.index + n - 1)).
  CallbackAwaiter<Result<Cursor>> feed(Command command) { return feed_many({std::move(command)}); }
  void feed(Command command, Callback<Cursor> done) {
    feed_many({std::move(command)}, std::move(done));
  }
  CallbackAwaiter<Result<Cursor>> feed_many(std::vector<Command> commands) {
    return await_callback<Result<Cursor>>(
        [worker = worker_, encoded = encode_all(commands)](auto done) mutable {
          worker->feed(std::move(encoded), std::move(done));
        });
  }
  void feed_many(std::vector<Command> commands, const Callback<Cursor>& done) {
    worker_->feed(encode_all(commands), done);
  }

  // Weak: this member's state at once (any member, may be stale). Strong: linearizable, on the
  // leader after it confirmed its leadership (forwarded there from a follower).
  CallbackAwaiter<Result<QueryResultAt<QueryResult>>> query(
      Query q, Consistency consistency = Consistency::kWeak) {
    return await_callback<Result<QueryResultAt<QueryResult>>>(
        [worker = worker_, bytes = encode(q), consistency](auto done) mutable {
          run_query(*worker, std::move(bytes), consistency, std::move(done));
        });
  }
  void query(Query q, Consistency consistency, Callback<QueryResultAt<QueryResult>> done) {
    run_query(*worker_, encode(q), consistency, std::move(done));
  }
  void query(Query q, Callback<QueryResultAt<QueryResult>> done) {
    query(std::move(q), Consistency::kWeak, std::move(done));
  }

  class When {
   public:
    explicit When(detail::GroupWorker& w) : w_(&w) {}
    Condition leader_elected() const {
      return make([w = w_] { return w->raft().leader().has_value(); });
    }
    // A leader other than the current one (none counts as a change too once one is elected).
    Condition leader_changed() const {
      return make([w = w_, was = w_->raft().leader()] {
        return w->raft().leader().has_value() && w->raft().leader() != was;
      });
    }
    Condition leader_is(PeerId peer) const {
      return make([w = w_, peer] { return w->raft().leader() == peer; });
    }
    Condition is_leader() const {
      return make([w = w_] { return w->raft().is_leader(); });
    }
    Condition is_follower() const {
      return make([w = w_] { return !w->raft().is_leader(); });
    }
    Condition online() const {
      return make([w = w_] { return w->raft().is_online(); });
    }
    Condition offline() const {
      return make([w = w_] { return !w->raft().is_online(); });
    }
    // The last entry of this member's log.
    CursorWatcher<Cursor> log() const {
      return CursorWatcher<Cursor>(
          w_->changed(), w_->clock(), [w = w_] { return w->log_position(); },
          [w = w_] { return w->log_changes(); });
    }
    // The index applied to this member's state machine.
    CursorWatcher<Index> committed() const {
      return CursorWatcher<Index>(
          w_->changed(), w_->clock(), [w = w_] { return w->applied(); },
          [w = w_] { return w->applied_changes(); });
    }
    // This member applied at least `index` (committed().reaches(index)).
    Condition committed_reaches(Index index) const { return committed().reaches(index); }

   private:
    Condition make(std::function<bool()> predicate) const {
      return Condition(w_->changed(), w_->clock(), std::move(predicate));
    }
    detail::GroupWorker* w_;
  };
  When when() const { return When(*worker_); }

 private:
  template <typename Done>
  static void run_query(detail::GroupWorker& worker, Bytes&& bytes, Consistency consistency,
                        Done done) {
    worker.query(std::move(bytes), consistency == Consistency::kStrong,
                 [done = std::move(done)](Result<QueryAnswerAt> answer) {
                   if (!answer.is_ok()) return done(answer.status());
                   auto value = decode<QueryResult>(answer->result);
                   if (!value.is_ok()) return done(value.status());
                   done(QueryResultAt<QueryResult>{std::move(value).value(), answer->index});
                 });
  }
  // All commands encoded into one buffer, each a view of its part.
  static std::vector<SharedBytes> encode_all(const std::vector<Command>& commands) {
    auto buffer = std::make_shared<Bytes>();
    std::vector<std::size_t> ends;
    ends.reserve(commands.size());
    for (const auto& c : commands) {
      encode_append(*buffer, c);
      ends.push_back(buffer->size());
    }
    std::vector<SharedBytes> out;
    out.reserve(commands.size());
    std::size_t begin = 0;
    for (std::size_t end : ends) {
      out.emplace_back(buffer, ByteView(buffer->data() + begin, end - begin));
      begin = end;
    }
    return out;
  }
  std::shared_ptr<detail::GroupWorker> worker_;
};

template <typename M>
class GroupBuilder {
 public:
  GroupBuilder(Groups& groups, detail::GroupSpec spec, M machine)
      : groups_(&groups), spec_(std::move(spec)), machine_(std::move(machine)) {}

  template <StateMachine N>
  GroupBuilder<N> with_state_machine(N machine) && {
    return GroupBuilder<N>(*groups_, std::move(spec_), std::move(machine));
  }
  GroupBuilder&& with_consensus_config(ConsensusConfig c) && {
    spec_.consensus = c;
    return std::move(*this);
  }
  // Catch-up by log replay (its batch size is in the GroupId; default mosaik's 2000).
  GroupBuilder&& with_log_replay(LogReplayConfig c) && {
    spec_.log_replay = c;
    return std::move(*this);
  }
  // This group's stores from `provider` (for example one storage::sqlite_storage() made), instead
  // of the node's (GroupsOptions::storage).
  GroupBuilder&& with_storage(std::shared_ptr<StoreProvider> provider) && {
    spec_.storage = std::move(provider);
    return std::move(*this);
  }
  GroupBuilder&& with_log_storage(std::shared_ptr<LogStore> store) && {
    spec_.log_store = std::move(store);
    return std::move(*this);
  }
  GroupBuilder&& with_state_storage(std::shared_ptr<StateStore> store) && {
    spec_.state_store = std::move(store);
    return std::move(*this);
  }
  // Needed with with_log_storage() unless that store is a SnapshotStore too: a pruned log is
  // only as good as the snapshot that holds what was pruned.
  GroupBuilder&& with_snapshot_storage(std::shared_ptr<SnapshotStore> store) && {
    spec_.snapshot_store = std::move(store);
    return std::move(*this);
  }
  // When this member snapshots a state machine with snapshot() / restore() and prunes its log
  // (SnapshotPolicy in types.hpp; SnapshotPolicy::never() to keep the whole log).
  GroupBuilder&& with_snapshots(SnapshotPolicy policy) && {
    spec_.snapshots = policy;
    return std::move(*this);
  }
  // Only peers with a valid ticket of this validator's class bond (stackable; in the GroupId).
  GroupBuilder&& require_ticket(std::shared_ptr<const tickets::TicketValidator> v) && {
    spec_.validators.push_back(std::move(v));
    return std::move(*this);
  }
  // The group's handle; kInvalidArgument for a bad ConsensusConfig, LogReplayConfig or
  // SnapshotPolicy, or for a log store given without a snapshot store, kAlreadyExists when the
  // group is active here with another machine type.
  Result<Group<M>> join() && {
    auto worker = groups_->join(std::move(spec_), std::make_unique<ErasedMachine<M>>(machine_));
    if (!worker.is_ok()) return worker.status();
    return Group<M>(std::move(worker).value());
  }

 private:
  Groups* groups_;
  detail::GroupSpec spec_;
  M machine_;
};

inline GroupBuilder<NoOpMachine> Groups::with_key(GroupKey key) {
  detail::GroupSpec spec;
  spec.key = key;
  return GroupBuilder<NoOpMachine>(*this, std::move(spec), NoOpMachine{});
}

}  // namespace smalti::groups
