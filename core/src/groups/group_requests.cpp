// GroupWorker client calls: feed, execute and query, locally or forwarded to the leader.
#include "smalti/groups/group_worker.hpp"
#include "smalti/groups/groups.hpp"

namespace smalti::groups {

std::size_t GroupWorker::pending_calls() const {
  return executes_.size() + forwards_.size() + queries_.size() + reads_.size();
}

void GroupWorker::feed(std::vector<SharedBytes> commands, FeedDone done) {
  if (!groups_) return done(error(StatusCode::kUnavailable, "the group is closed"));
  if (commands.empty()) return done(error(StatusCode::kInvalidArgument, "no commands"));
  if (commands.size() > kMaxEntriesPerAppend) {
    return done(error(StatusCode::kLimitExceeded, "more commands than one batch may hold (" +
                                                      std::to_string(kMaxEntriesPerAppend) + ")"));
  }
  if (pending_calls() >= kMaxPendingCalls) {
    return done(error(StatusCode::kLimitExceeded, "too many calls in flight"));
  }
  if (raft_->is_leader()) {
    auto at = raft_->propose(node_.now(), std::move(commands));
    run_raft();
    return done(at);
  }
  const auto& leader = raft_->leader();
  auto token = leader ? bond_of(*leader) : std::nullopt;
  if (!token) return done(error(StatusCode::kUnavailable, "offline: no leader is known"));
  const std::uint64_t request = next_request_++;
  forwards_[request] =
      PendingForward{node_.now() + spec_.consensus.forward_timeout, std::move(done)};
  send_to(*token, ForwardCommands{request, std::move(commands)});
  arm_call_timer();
}

void GroupWorker::execute(std::vector<SharedBytes> commands, ExecuteDone done) {
  const std::size_t count = commands.size();
  feed(std::move(commands), [this, count, done = std::move(done)](Result<Cursor> first) mutable {
    if (!first.is_ok()) return done(first.status());
    if (!groups_) return done(error(StatusCode::kUnavailable, "the group is closed"));
    const Cursor last{first->term, first->index + count - 1};
    executes_.emplace(last.index, PendingExecute{last, std::move(done)});
    settle_executes();
  });
}

void GroupWorker::query(Bytes query, bool strong, QueryDone done) {
  if (!groups_) return done(error(StatusCode::kUnavailable, "the group is closed"));
  if (!strong) {
    auto result = machine_->query(query);
    if (!result.is_ok()) return done(result.status());
    return done(QueryAnswerAt{std::move(result).value(), applied_});
  }
  if (pending_calls() >= kMaxPendingCalls) {
    return done(error(StatusCode::kLimitExceeded, "too many calls in flight"));
  }
  const std::uint64_t request = next_request_++;
  if (raft_->is_leader()) {
    reads_[request] = PendingRead{std::move(query), 0, false, std::move(done), std::nullopt, 0};
    raft_->read(node_.now(), request);
    run_raft();
    return;
  }
  const auto& leader = raft_->leader();
  auto token = leader ? bond_of(*leader) : std::nullopt;
  if (!token) return done(error(StatusCode::kUnavailable, "offline: no leader is known"));
  queries_[request] = PendingQuery{node_.now() + spec_.consensus.query_timeout, std::move(done)};
  send_to(*token, ForwardQuery{request, std::move(query)});
  arm_call_timer();
}

void GroupWorker::on_forward(LinkToken token, GroupMessage message) {
  if (auto* fc = std::get_if<ForwardCommands>(&message)) {
    CommandsAccepted answer{fc->request, false, {}};
    if (raft_->is_leader() && !fc->commands.empty() &&
        fc->commands.size() <= kMaxEntriesPerAppend) {
      auto at = raft_->propose(node_.now(), std::move(fc->commands));
      if (at.is_ok()) answer = CommandsAccepted{fc->request, true, *at};
      run_raft();
    }
    send_to(token, answer);
  } else if (auto* ca = std::get_if<CommandsAccepted>(&message)) {
    auto it = forwards_.find(ca->request);
    if (it == forwards_.end()) return;
    FeedDone done = std::move(it->second.done);
    forwards_.erase(it);
    if (ca->accepted) {
      done(ca->first);
    } else {
      done(error(StatusCode::kUnavailable, "offline: the peer is no longer the leader"));
    }
  } else if (auto* fq = std::get_if<ForwardQuery>(&message)) {
    if (!raft_->is_leader() || pending_calls() >= kMaxPendingCalls) {
      send_to(token, QueryAnswer{fq->request, false, {}, 0});
      return;
    }
    const std::uint64_t request = next_request_++;
    reads_[request] = PendingRead{std::move(fq->query), 0, false, nullptr, token, fq->request};
    raft_->read(node_.now(), request);
    run_raft();
  } else if (auto* qa = std::get_if<QueryAnswer>(&message)) {
    auto it = queries_.find(qa->request);
    if (it == queries_.end()) return;
    QueryDone done = std::move(it->second.done);
    queries_.erase(it);
    if (qa->answered) {
      done(QueryAnswerAt{std::move(qa->result), qa->index});
    } else {
      done(error(StatusCode::kUnavailable, "offline: the leader could not confirm the read"));
    }
  }
}

// Reads confirmed by the leader run once the state reflects their index.
void GroupWorker::settle_reads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (!it->second.ready || applied_ < it->second.index) {
      ++it;
      continue;
    }
    auto result = machine_->query(it->second.query);
    if (result.is_ok()) {
      answer_read(it->second, QueryAnswerAt{std::move(result).value(), applied_});
    } else {
      answer_read(it->second, result.status());
    }
    it = reads_.erase(it);
  }
}

void GroupWorker::answer_read(PendingRead& read, Result<QueryAnswerAt> answer) {
  if (read.local) {
    read.local(std::move(answer));
  } else if (read.remote) {
    if (answer.is_ok()) {
      send_to(*read.remote,
              QueryAnswer{read.remote_request, true, std::move(answer->result), answer->index});
    } else {
      send_to(*read.remote, QueryAnswer{read.remote_request, false, {}, 0});
    }
  }
}

void GroupWorker::arm_call_timer() {
  Instant next = Instant::max();
  for (const auto& [r, f] : forwards_) next = std::min(next, f.deadline);
  for (const auto& [r, q] : queries_) next = std::min(next, q.deadline);
  call_timer_.arm(next);
}

void GroupWorker::on_call_timer() {
  const Instant now = node_.now();
  std::vector<FeedDone> expired_feeds;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.deadline <= now) {
      expired_feeds.push_back(std::move(it->second.done));
      it = forwards_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<QueryDone> expired_queries;
  for (auto it = queries_.begin(); it != queries_.end();) {
    if (it->second.deadline <= now) {
      expired_queries.push_back(std::move(it->second.done));
      it = queries_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& done : expired_feeds) {
    done(error(StatusCode::kUnavailable, "offline: the leader did not answer in time"));
  }
  for (auto& done : expired_queries) {
    done(error(StatusCode::kUnavailable, "offline: the leader did not answer in time"));
  }
  arm_call_timer();
}

}  // namespace smalti::groups
