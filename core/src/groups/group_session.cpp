// GroupSession: client calls, on the leader and forwarded to it (see group_session.hpp).
#include "smalti/groups/group_session.hpp"

#include <string>

namespace smalti::groups {

std::size_t min_effect_limit(const SessionConfig& config) {
  return 2 * (config.max_pending_calls + 3 * config.max_links + 8);
}

GroupSession::GroupSession(SessionConfig config, const RaftLog& log, Instant now)
    : MachineBase(
          now, config.max_pending_effects ? config.max_pending_effects : min_effect_limit(config)),
      config_(std::move(config)),
      log_(log),
      next_link_(config_.first_link) {
  config_.max_pending_effects = effect_limit();
  SMALTI_ASSERT(effect_limit() >= min_effect_limit(config_),
                "the session's effect limit is too small for its call and link limits");
  SMALTI_ASSERT(config_.max_pending_calls >= 1 && config_.max_links >= 1, "session limits of 0");
}

// ---- calls of this member ------------------------------------------------------------------

Status GroupSession::refuse_new_call() const {
  if (calls_.size() >= config_.max_pending_calls) {
    return error(StatusCode::kLimitExceeded, "too many calls in flight");
  }
  if (!room_for_input()) {
    return error(StatusCode::kLimitExceeded, "the group's driver has not taken its effects");
  }
  return Status::ok();
}

CallId GroupSession::add_call(Call call) {
  const CallId id = next_call_++;
  calls_.emplace(id, std::move(call));
  return id;
}

Result<CallId> GroupSession::feed(Instant now, std::vector<SharedBytes> commands) {
  advance(now);
  return start_commands(now, Kind::kFeed, std::move(commands));
}

Result<CallId> GroupSession::execute(Instant now, std::vector<SharedBytes> commands) {
  advance(now);
  return start_commands(now, Kind::kExecute, std::move(commands));
}

Result<CallId> GroupSession::start_commands(Instant now, Kind kind,
                                            std::vector<SharedBytes> commands) {
  if (commands.empty()) return error(StatusCode::kInvalidArgument, "no commands");
  if (commands.size() > kMaxEntriesPerAppend) {
    return error(StatusCode::kLimitExceeded, "more commands than one batch may hold (" +
                                                 std::to_string(kMaxEntriesPerAppend) + ")");
  }
  SMALTI_RETURN_IF_ERROR(refuse_new_call());
  Call call{.kind = kind, .stage = Stage::kProposing, .count = commands.size()};
  if (is_leader()) {
    const CallId id = add_call(std::move(call));
    emit(session_effect::Propose{id, std::move(commands)});
    return id;
  }
  auto link = leader_ ? bond_link(*leader_) : std::nullopt;
  if (!link) return error(StatusCode::kUnavailable, "offline: no leader is known");
  const CallId id = add_call(std::move(call));
  forward(id, calls_.at(id), now + config_.consensus.forward_timeout,
          ForwardCommands{id, std::move(commands)});
  return id;
}

Result<CallId> GroupSession::query(Instant now, Bytes query, bool strong) {
  advance(now);
  SMALTI_RETURN_IF_ERROR(refuse_new_call());
  if (!strong) {
    const CallId id = add_call(Call{.kind = Kind::kQuery, .stage = Stage::kQuerying});
    emit(session_effect::RunQuery{id, std::move(query)});
    return id;
  }
  if (is_leader()) {
    const CallId id =
        add_call(Call{.kind = Kind::kQuery, .stage = Stage::kReading, .query = std::move(query)});
    emit(session_effect::Read{id});
    return id;
  }
  auto link = leader_ ? bond_link(*leader_) : std::nullopt;
  if (!link) return error(StatusCode::kUnavailable, "offline: no leader is known");
  const CallId id = add_call(Call{.kind = Kind::kQuery});
  forward(id, calls_.at(id), now + config_.consensus.query_timeout,
          ForwardQuery{id, std::move(query)});
  return id;
}

void GroupSession::forward(CallId id, Call& call, Instant deadline, const GroupMessage& message) {
  call.stage = Stage::kForwarded;
  call.link = *bond_link(*leader_);
  call.leader = *leader_;
  call.deadline = deadline;
  deadlines_.emplace(deadline, id);
  send(call.link, message);
}

void GroupSession::send(LinkToken link, const GroupMessage& message) {
  emit(effect::Send{link, encode(message)});
}

// ---- how calls end -------------------------------------------------------------------------

void GroupSession::erase_call(CallId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  unindex(id, it->second);
  calls_.erase(it);
}

// Removes call `id` from the indexes its stage puts it in.
void GroupSession::unindex(CallId id, const Call& c) {
  auto erase_from = [id](std::multimap<Index, CallId>& index, Index key) {
    auto [first, last] = index.equal_range(key);
    for (auto i = first; i != last; ++i) {
      if (i->second == id) {
        index.erase(i);
        return;
      }
    }
  };
  if (c.stage == Stage::kForwarded) deadlines_.erase({c.deadline, id});
  if (c.stage == Stage::kApplying) erase_from(applying_, c.last.index);
  if (c.stage == Stage::kReadReady) erase_from(ready_reads_, c.index);
}

// A local call fails with `why`; a follower's call is answered "not done".
void GroupSession::fail(CallId id, const Status& why) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  unindex(id, it->second);
  const Call c = std::move(it->second);
  calls_.erase(it);
  if (c.remote) {
    if (c.kind == Kind::kQuery) {
      send(c.link, QueryAnswer{c.request, false, {}, 0});
    } else {
      send(c.link, CommandsAccepted{c.request, false, {}});
    }
    return;
  }
  switch (c.kind) {
    case Kind::kFeed:
      emit(session_effect::FeedDone{id, why});
      break;
    case Kind::kExecute:
      emit(session_effect::ExecuteDone{id, why});
      break;
    case Kind::kQuery:
      emit(session_effect::QueryDone{id, why});
      break;
  }
}

// The commands of call `id` are in the leader's log from `first` on.
void GroupSession::placed(CallId id, Cursor first) {
  Call& c = calls_.at(id);
  if (c.stage == Stage::kForwarded) deadlines_.erase({c.deadline, id});
  if (c.kind == Kind::kFeed) {
    calls_.erase(id);
    emit(session_effect::FeedDone{id, first});
    return;
  }
  c.stage = Stage::kApplying;
  c.last = Cursor{first.term, first.index + c.count - 1};
  applying_.emplace(c.last.index, id);
  if (c.last.index <= applied_) settle_executes();
}

void GroupSession::handle_proposed(Instant now, CallId call, Result<Cursor> first) {
  advance(now);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.stage != Stage::kProposing) return;
  if (it->second.remote) {
    const Call c = std::move(it->second);
    calls_.erase(it);
    send(c.link, CommandsAccepted{c.request, first.is_ok(), first.is_ok() ? *first : Cursor{}});
    return;
  }
  if (!first.is_ok()) return fail(call, first.status());
  placed(call, *first);
}

void GroupSession::handle_applied(Instant now, Index applied) {
  advance(now);
  applied_ = applied;
  settle_executes();
  run_ready_reads();
}

// An execute succeeds only when the entry applied at its index is the one it proposed (same
// index and term: by Log Matching the same entry).
void GroupSession::settle_executes() {
  while (!applying_.empty() && applying_.begin()->first <= applied_) {
    const CallId id = applying_.begin()->second;
    applying_.erase(applying_.begin());
    const Cursor last = calls_.at(id).last;
    calls_.erase(id);
    const std::optional<Term> applied_term = log_.term_at(last.index);
    if (applied_term == last.term) {
      emit(session_effect::ExecuteDone{id, last.index});
    } else if (!applied_term) {
      // The entries came in a snapshot from other members: which ones they were is not known.
      emit(session_effect::ExecuteDone{
          id, error(StatusCode::kUnavailable,
                    "the outcome is unknown: the log up to the commands was replaced by a "
                    "snapshot")});
    } else {
      emit(session_effect::ExecuteDone{
          id, error(StatusCode::kCancelled,
                    "the commands were replaced by a new leader's entries and not applied")});
    }
  }
  // Terms never decrease along a log: once an entry of a later term is applied, an entry of an
  // earlier term further on can never be committed, even if no new entry ever reaches its
  // index. Checked once per applied term, not per entry.
  const Term applied_term = applied_ == 0 ? 0 : log_.term_at(applied_).value_or(0);
  if (applied_term <= settled_term_) return;
  settled_term_ = applied_term;
  std::vector<CallId> stale;
  for (const auto& [index, id] : applying_) {
    if (calls_.at(id).last.term < applied_term) stale.push_back(id);
  }
  for (CallId id : stale) {
    fail(id, error(StatusCode::kCancelled, "a new leader's entries replaced the commands"));
  }
}

void GroupSession::handle_reset(Instant now) {
  advance(now);
  applied_ = 0;
  settled_term_ = 0;
  std::vector<CallId> executes;
  for (const auto& [index, id] : applying_) executes.push_back(id);
  for (CallId id : executes) {
    fail(id, error(StatusCode::kCancelled, "this member joined another cluster of the group"));
  }
}

void GroupSession::handle_read_ready(Instant now, CallId call, Index index) {
  advance(now);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.stage != Stage::kReading) return;
  it->second.stage = Stage::kReadReady;
  it->second.index = index;
  ready_reads_.emplace(index, call);
  run_ready_reads();
}

void GroupSession::handle_read_failed(Instant now, CallId call) {
  advance(now);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.stage != Stage::kReading) return;
  fail(call, error(StatusCode::kUnavailable, "leadership not confirmed"));
}

// Reads confirmed by the leader run once the state reflects their index.
void GroupSession::run_ready_reads() {
  while (!ready_reads_.empty() && ready_reads_.begin()->first <= applied_) {
    const CallId id = ready_reads_.begin()->second;
    ready_reads_.erase(ready_reads_.begin());
    Call& c = calls_.at(id);
    c.stage = Stage::kQuerying;
    emit(session_effect::RunQuery{id, std::move(c.query)});
  }
}

void GroupSession::handle_query_result(Instant now, CallId call, Result<Bytes> result,
                                       Index applied) {
  advance(now);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.stage != Stage::kQuerying) return;
  const Call c = std::move(it->second);
  calls_.erase(it);
  if (c.remote) {
    if (result.is_ok()) {
      send(c.link, QueryAnswer{c.request, true, std::move(result).value(), applied});
    } else {
      send(c.link, QueryAnswer{c.request, false, {}, 0});
    }
  } else if (result.is_ok()) {
    emit(session_effect::QueryDone{call, QueryAnswerAt{std::move(result).value(), applied}});
  } else {
    emit(session_effect::QueryDone{call, result.status()});
  }
}

void GroupSession::handle_leader(Instant now, const std::optional<PeerId>& leader) {
  advance(now);
  if (leader == leader_) return;
  leader_ = leader;
  fail_forwarded(std::nullopt, error(StatusCode::kUnavailable, "offline: the leader changed"));
}

void GroupSession::fail_forwarded(std::optional<LinkToken> link, const Status& why) {
  std::vector<CallId> failed;
  std::vector<CallId> orphaned;
  for (const auto& [id, c] : calls_) {
    if (c.stage == Stage::kForwarded && (!link || c.link == *link)) failed.push_back(id);
    if (c.remote && link && c.link == *link) orphaned.push_back(id);
  }
  for (CallId id : failed) fail(id, why);
  for (CallId id : orphaned) erase_call(id);
}

void GroupSession::handle_timeout(Instant now) {
  advance(now);
  std::vector<CallId> expired;
  for (const auto& [deadline, id] : deadlines_) {
    if (deadline > now) break;
    expired.push_back(id);
  }
  for (CallId id : expired) {
    fail(id, error(StatusCode::kUnavailable, "offline: the leader did not answer in time"));
  }
  dial_due(now);
}

// ---- messages from bonds -------------------------------------------------------------------

void GroupSession::handle_message(Instant now, LinkToken link, GroupMessage message) {
  advance(now);
  if (!admit_peer_input()) return;
  auto it = links_.find(link);
  if (it == links_.end() || !it->second.up) return;
  if (auto* formed = std::get_if<BondFormed>(&message)) {
    if (formed->peer != config_.self) last_dial_.erase(formed->peer);
    dial_due(now);
  } else if (auto* fc = std::get_if<ForwardCommands>(&message)) {
    on_forward_commands(link, std::move(*fc));
  } else if (auto* ca = std::get_if<CommandsAccepted>(&message)) {
    on_commands_accepted(link, *ca);
  } else if (auto* fq = std::get_if<ForwardQuery>(&message)) {
    on_forward_query(link, std::move(*fq));
  } else if (auto* qa = std::get_if<QueryAnswer>(&message)) {
    on_query_answer(link, std::move(*qa));
  }
  // Bond-level messages never reach the session (the bond keeps them).
}

void GroupSession::on_forward_commands(LinkToken link, ForwardCommands m) {
  // Fault point group.refuse_forward: refused as by a member that just lost its leadership; the
  // caller learns the call was not placed.
  if (!is_leader() || fire(config_.buggify, "group.refuse_forward") || m.commands.empty() ||
      m.commands.size() > kMaxEntriesPerAppend || !refuse_new_call().is_ok()) {
    send(link, CommandsAccepted{m.request, false, {}});
    return;
  }
  const CallId id = add_call(Call{.kind = Kind::kFeed,
                                  .stage = Stage::kProposing,
                                  .count = m.commands.size(),
                                  .link = link,
                                  .remote = true,
                                  .request = m.request});
  emit(session_effect::Propose{id, std::move(m.commands)});
}

// An answer counts only from the link the call went out on.
void GroupSession::on_commands_accepted(LinkToken link, const CommandsAccepted& m) {
  auto it = calls_.find(m.request);
  if (it == calls_.end() || it->second.remote || it->second.stage != Stage::kForwarded ||
      it->second.kind == Kind::kQuery || it->second.link != link) {
    return;
  }
  if (m.accepted) {
    placed(m.request, m.first);
  } else {
    fail(m.request, error(StatusCode::kUnavailable, "offline: the peer is no longer the leader"));
  }
}

void GroupSession::on_forward_query(LinkToken link, ForwardQuery m) {
  // Fault point group.refuse_forward_query: as above, for a strong read.
  if (!is_leader() || fire(config_.buggify, "group.refuse_forward_query") ||
      !refuse_new_call().is_ok()) {
    send(link, QueryAnswer{m.request, false, {}, 0});
    return;
  }
  const CallId id = add_call(Call{.kind = Kind::kQuery,
                                  .stage = Stage::kReading,
                                  .query = std::move(m.query),
                                  .link = link,
                                  .remote = true,
                                  .request = m.request});
  emit(session_effect::Read{id});
}

void GroupSession::on_query_answer(LinkToken link, QueryAnswer m) {
  auto it = calls_.find(m.request);
  if (it == calls_.end() || it->second.remote || it->second.stage != Stage::kForwarded ||
      it->second.kind != Kind::kQuery || it->second.link != link) {
    return;
  }
  if (!m.answered) {
    fail(m.request,
         error(StatusCode::kUnavailable, "offline: the leader could not confirm the read"));
    return;
  }
  erase_call(m.request);
  emit(session_effect::QueryDone{m.request, QueryAnswerAt{std::move(m.result), m.index}});
}

// A forwarded call whose frame the link refused fails at once instead of at its timeout.
void GroupSession::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                       const Status& why) {
  advance(now);
  auto message = decode_group_message(frame);
  if (!message.is_ok()) return;
  std::uint64_t request = 0;
  if (const auto* fc = std::get_if<ForwardCommands>(&*message)) request = fc->request;
  if (const auto* fq = std::get_if<ForwardQuery>(&*message)) request = fq->request;
  auto it = calls_.find(request);
  if (request == 0 || it == calls_.end() || it->second.remote ||
      it->second.stage != Stage::kForwarded || it->second.link != link) {
    return;
  }
  fail(request, error(StatusCode::kUnavailable,
                      "offline: the link to the leader refused the call (" + why.message() + ")"));
}

// ---- invariants ----------------------------------------------------------------------------

void GroupSession::invariants() const {
  SMALTI_ASSERT(calls_.size() <= config_.max_pending_calls, "more calls than the limit");
  SMALTI_ASSERT(links_.size() <= config_.max_links, "more links than the limit");
  // The walk over every call and link costs O(calls): it runs after every input while there are
  // few calls, else after every kDeepCheckEvery-th input, so a disagreement is still caught
  // within that many inputs without making a busy member's every input linear.
  if (calls_.size() > kDeepCheckCalls && ++deep_checks_skipped_ % kDeepCheckEvery != 0) return;
  std::size_t forwarded = 0, applying = 0, ready = 0;
  for (const auto& [id, c] : calls_) {
    SMALTI_ASSERT(id < next_call_, "a call id from the future");
    switch (c.stage) {
      case Stage::kForwarded: {
        ++forwarded;
        SMALTI_ASSERT(!c.remote && deadlines_.count({c.deadline, id}) == 1,
                      "a forwarded call without its deadline");
        auto link = links_.find(c.link);
        SMALTI_ASSERT(link != links_.end() && link->second.up && link->second.peer == c.leader,
                      "a call forwarded on a link that is not the leader's bond");
        break;
      }
      case Stage::kApplying:
        ++applying;
        SMALTI_ASSERT(c.kind == Kind::kExecute && !c.remote, "only executes wait to be applied");
        break;
      case Stage::kReadReady:
        ++ready;
        SMALTI_ASSERT(c.index > applied_, "a ready read that should have run");
        break;
      default:
        break;
    }
    SMALTI_ASSERT(!c.remote || links_.count(c.link) == 1, "a follower's call on a lost link");
  }
  SMALTI_ASSERT(forwarded == deadlines_.size(), "a deadline without a forwarded call");
  SMALTI_ASSERT(applying == applying_.size() && ready == ready_reads_.size(),
                "the call indexes disagree with the calls");
  std::size_t counted = 0;
  for (const auto& [peer, n] : links_per_peer_) {
    SMALTI_ASSERT(n >= 1, "a peer counted without links");
    counted += n;
  }
  SMALTI_ASSERT(counted == links_.size(), "links counted per peer disagree with the links");
}

}  // namespace smalti::groups
