// Typed handles of groups: GroupBuilder<M> and Group<M> (included by groups.hpp).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "smalti/runtime/await_callback.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/task.hpp"

namespace smalti::groups {

enum class Consistency : std::uint8_t {
  kWeak,    // this member's state now: fast, may be stale
  kStrong,  // linearizable: the leader confirms its leadership first (read-index)
};

template <typename R>
struct QueryResultAt {
  R result;
  Index index = 0;  // the applied index the result reflects
  const R& operator*() const { return result; }
  const R* operator->() const { return &result; }
};

template <StateMachine M>
class Group {
 public:
  using Command = typename M::Command;
  using Query = typename M::Query;
  using QueryResult = typename M::QueryResult;

  explicit Group(std::shared_ptr<GroupWorker> worker) : worker_(std::move(worker)) {}

  const GroupId& id() const { return worker_->id(); }
  bool is_leader() const { return worker_->raft().is_leader(); }
  std::optional<PeerId> leader() const { return worker_->raft().leader(); }
  bool is_online() const { return worker_->raft().is_online(); }
  // Highest index applied to this member's state machine.
  Index committed() const { return worker_->applied(); }
  std::vector<PeerId> bonds() const { return worker_->bonded_peers(); }
  GroupStatus status() const { return worker_->status(); }
  // The local replica (what a weak query sees).
  const M& state() const { return static_cast<ErasedMachine<M>&>(worker_->machine()).get(); }
  GroupWorker& worker() const { return *worker_; }

  // Commits and applies here, then yields the index. kCancelled: a new leader replaced the
  // entry; kUnavailable: no leader (the outcome is unknown if it was forwarded).
  CallbackAwaiter<Result<Index>> execute(Command command) {
    return execute_many({std::move(command)});
  }
  CallbackAwaiter<Result<Index>> execute_many(std::vector<Command> commands) {
    auto worker = worker_;
    return await_callback<Result<Index>>(
        [worker, encoded = encode_all(commands)](auto done) mutable {
          worker->execute(std::move(encoded), std::move(done));
        });
  }
  // Yields once the leader placed the commands (the first one's position).
  CallbackAwaiter<Result<Cursor>> feed(Command command) { return feed_many({std::move(command)}); }
  CallbackAwaiter<Result<Cursor>> feed_many(std::vector<Command> commands) {
    auto worker = worker_;
    return await_callback<Result<Cursor>>(
        [worker, encoded = encode_all(commands)](auto done) mutable {
          worker->feed(std::move(encoded), std::move(done));
        });
  }
  CallbackAwaiter<Result<QueryResultAt<QueryResult>>> query(
      Query q, Consistency consistency = Consistency::kWeak) {
    auto worker = worker_;
    const bool strong = consistency == Consistency::kStrong;
    return await_callback<Result<QueryResultAt<QueryResult>>>(
        [worker, bytes = encode(q), strong](auto done) mutable {
          worker->query(std::move(bytes), strong, [done](Result<QueryAnswerAt> answer) {
            if (!answer.is_ok()) return done(answer.status());
            auto value = decode<QueryResult>(answer->result);
            if (!value.is_ok()) return done(value.status());
            done(QueryResultAt<QueryResult>{std::move(value).value(), answer->index});
          });
        });
  }

  class When {
   public:
    explicit When(GroupWorker& w) : w_(&w) {}
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
    // This member applied at least `index`.
    Condition committed_reaches(Index index) const {
      return make([w = w_, index] { return w->applied() >= index; });
    }

   private:
    Condition make(std::function<bool()> predicate) const {
      return Condition(w_->changed(), w_->raft_clock(), std::move(predicate));
    }
    GroupWorker* w_;
  };
  When when() const { return When(*worker_); }

 private:
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
  std::shared_ptr<GroupWorker> worker_;
};

template <typename M>
class GroupBuilder {
 public:
  GroupBuilder(Groups& groups, GroupSpec spec, M machine)
      : groups_(&groups), spec_(std::move(spec)), machine_(std::move(machine)) {}

  template <StateMachine N>
  GroupBuilder<N> with_state_machine(N machine) && {
    return GroupBuilder<N>(*groups_, std::move(spec_), std::move(machine));
  }
  GroupBuilder&& with_consensus_config(ConsensusConfig c) && {
    spec_.consensus = c;
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
  // Only peers with a valid ticket of this validator's class bond (stackable; in the GroupId).
  GroupBuilder&& require_ticket(std::shared_ptr<const tickets::TicketValidator> v) && {
    spec_.validators.push_back(std::move(v));
    return std::move(*this);
  }
  // The group's handle; kInvalidArgument for a bad ConsensusConfig, kAlreadyExists when the
  // group is active here with another machine type.
  Result<Group<M>> join() && {
    auto worker = groups_->join(std::move(spec_), std::make_unique<ErasedMachine<M>>(machine_));
    if (!worker.is_ok()) return worker.status();
    return Group<M>(std::move(worker).value());
  }

 private:
  Groups* groups_;
  GroupSpec spec_;
  M machine_;
};

inline GroupBuilder<NoOpMachine> Groups::with_key(GroupKey key) {
  GroupSpec spec;
  spec.key = std::move(key);
  return GroupBuilder<NoOpMachine>(*this, std::move(spec), NoOpMachine{});
}

}  // namespace smalti::groups
