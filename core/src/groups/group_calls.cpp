// GroupWorker client calls and the session's effects: the session decides where each call goes
// and how it ends; the worker hands its proposals to Raft, runs its queries on the state
// machine, and completes the callbacks.
#include "group_router.hpp"
#include "smalti/groups/detail/group_worker.hpp"

namespace smalti::groups::detail {

namespace {
const Status& closed() {
  static const Status closed_status = error(StatusCode::kUnavailable, "the group is closed");
  return closed_status;
}
}  // namespace

void GroupWorker::feed(std::vector<SharedBytes> commands, FeedDone done) {
  if (!router_) return done(closed());
  start(session_->feed(node_.now(), std::move(commands)), std::move(done));
}

void GroupWorker::execute(std::vector<SharedBytes> commands, ExecuteDone done) {
  if (!router_) return done(closed());
  start(session_->execute(node_.now(), std::move(commands)), std::move(done));
}

void GroupWorker::query(Bytes query, bool strong, QueryDone done) {
  if (!router_) return done(closed());
  start(session_->query(node_.now(), std::move(query), strong), std::move(done));
}

// A call the session took waits for its Done effect; one it refused fails in a turn of its own,
// as every callback runs.
template <typename Done>
void GroupWorker::start(Result<CallId> call, Done done) {
  if (!call.is_ok()) {
    call_back([done = std::move(done), why = call.status()] { done(why); });
    return;
  }
  waiters_.emplace(*call, std::move(done));
  pump();
}

// The call's callback runs in an executor turn of its own: user code never runs inside the
// worker's loop, and may call the group (or drop it) freely.
template <typename Done, typename T>
void GroupWorker::complete(CallId call, Result<T> result) {
  auto it = waiters_.find(call);
  if (it == waiters_.end()) return;
  auto* done = std::get_if<Done>(&it->second);
  SMALTI_ASSERT(done != nullptr, "a call completed as another kind of call");
  call_back(
      [done = std::move(*done), result = std::move(result)]() mutable { done(std::move(result)); });
  waiters_.erase(it);
}

// One turn for every callback due until it runs, in order: a pump that completes many calls
// costs one executor event, not one per call. A callback that calls the group again gets its
// answer in a later turn.
void GroupWorker::call_back(std::function<void()> callback) {
  if (!callbacks_ || callbacks_->running) {
    callbacks_ = std::make_shared<Callbacks>();
    node_.executor().post([batch = callbacks_] {
      batch->running = true;
      for (auto& due : batch->due) due();
    });
  }
  callbacks_->due.push_back(std::move(callback));
}

void GroupWorker::execute_session(SessionEffect effect) {
  const Instant now = node_.now();
  if (auto* send = std::get_if<effect::Send>(&effect)) {
    send_on(send->link, std::move(send->frame),
            [this, link = send->link](Bytes& frame, const Status& why) {
              session_->handle_send_refused(node_.now(), link, frame, why);
            });
  } else if (auto* connect = std::get_if<effect::Connect>(&effect)) {
    add_bond(connect->link, connect->addr.id);
    router_->connect(*this, connect->link, connect->addr);
  } else if (auto* close = std::get_if<effect::Close>(&effect)) {
    drop_bond(close->link, close->code, close->reason);
  } else if (auto* propose = std::get_if<session_effect::Propose>(&effect)) {
    session_->handle_proposed(now, propose->call,
                              raft_->propose(now, std::move(propose->commands)));
  } else if (auto* read = std::get_if<session_effect::Read>(&effect)) {
    raft_->read(now, read->call);
  } else if (auto* run = std::get_if<session_effect::RunQuery>(&effect)) {
    session_->handle_query_result(now, run->call, machine_->query(run->query), applied_);
  } else if (auto* fed = std::get_if<session_effect::FeedDone>(&effect)) {
    complete<FeedDone>(fed->call, std::move(fed->result));
  } else if (auto* executed = std::get_if<session_effect::ExecuteDone>(&effect)) {
    complete<ExecuteDone>(executed->call, std::move(executed->result));
  } else if (auto* queried = std::get_if<session_effect::QueryDone>(&effect)) {
    complete<QueryDone>(queried->call, std::move(queried->result));
  } else if (auto* founding = std::get_if<session_effect::FoundingAllowed>(&effect)) {
    raft_->set_founding_allowed(founding->allowed);
  }
}

}  // namespace smalti::groups::detail
