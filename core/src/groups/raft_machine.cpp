// RaftMachine plumbing: construction, persistence ordering, timers, roles and views.
#include "smalti/groups/raft_machine.hpp"

#include <algorithm>

namespace smalti::groups {

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

RaftMachine::RaftMachine(RaftOptions options, HardState hard_state, RecoveredLog log, Instant now)
    : MachineBase(now, options.max_pending_effects),
      options_(std::move(options)),
      rng_(options_.seed),
      hard_(hard_state),
      log_(std::move(log.entries), log.base),
      started_at_(now),
      snapshot_(log.snapshot ? std::make_shared<const Snapshot>(std::move(*log.snapshot))
                             : nullptr) {
  SMALTI_ASSERT(options_.consensus.validate().is_ok(), "invalid ConsensusConfig");
  SMALTI_ASSERT(options_.log_replay.validate().is_ok(), "invalid LogReplayConfig");
  if (snapshot_) {
    const SnapshotMeta& meta = snapshot_->meta;
    SMALTI_ASSERT(meta.index >= log_.base().index, "a log pruned past its snapshot");
    // A log store behind its snapshot store (separate stores, a crash between their syncs).
    if (log_.term_at(meta.index) != meta.term) log_.reset_to({meta.term, meta.index});
  }
  refresh_config();
  durable_last_index_ = log_.last_index();
  if (hard_.founded && !log_.empty()) commit_ = 1;                    // what `founded` records
  if (snapshot_) commit_ = std::max(commit_, snapshot_->meta.index);  // a snapshot is committed
  if (hard_.incarnation == 0) {
    // New storage: a new member identity, durable before anything is said under it.
    mutate_hard_state().incarnation = 1 + rng_.below(UINT64_MAX - 1);
  }
  reported_term_ = hard_.term;
  reset_election_timer(now);
  flush();
}

bool RaftMachine::is_voter() const {
  return is_config_voter(options_.self, hard_.incarnation);
}

bool RaftMachine::is_config_voter(const PeerId& peer, std::uint64_t incarnation) const {
  return std::any_of(config_.voters.begin(), config_.voters.end(), [&](const Member& m) {
    return m.peer == peer && m.incarnation == incarnation;
  });
}

Header RaftMachine::header() const {
  return Header{cluster_, hard_.term, hard_.incarnation, commit_};
}

// ---- persistence ordering
// ------------------------------------------------------------------------

HardState& RaftMachine::mutate_hard_state() {
  pending_persist().hard_state = hard_;  // refreshed with the final value in flush()
  hard_state_token_ = pending_persist_->token;
  return hard_;
}

void RaftMachine::persist_truncate(Index from) {
  // Entries from `from` on are gone from the log: a store that reports an earlier write
  // durable no longer holds any of them for this log (found by the group fuzz target: a
  // leader counted its own copy of an entry it had truncated).
  durable_last_index_ = std::min(durable_last_index_, from - 1);
  for (auto& [token, last] : last_index_at_token_) last = std::min(last, from - 1);
  auto& p = pending_persist();
  // Entries appended earlier in this batch at or past `from` are simply dropped from it.
  if (!p.entries.empty() && from >= p.append_from) {
    p.entries.resize(std::min<std::size_t>(p.entries.size(), from - p.append_from));
    if (p.entries.empty()) p.append_from = 0;
    return;
  }
  p.entries.clear();
  p.append_from = 0;
  p.truncate_from = p.truncate_from ? std::min(*p.truncate_from, from) : from;
}

raft_effect::Persist& RaftMachine::pending_persist() {
  if (!pending_persist_) pending_persist_ = raft_effect::Persist{.token = ++issued_token_};
  return *pending_persist_;
}

void RaftMachine::reserve_persist(std::size_t entries) {
  auto& p = pending_persist();
  p.entries.reserve(p.entries.size() + entries);
}

void RaftMachine::persist_append(const LogEntry& entry) {
  auto& p = pending_persist();
  if (p.entries.empty()) p.append_from = log_.last_index();  // the entry is already in log_
  p.entries.push_back(entry);
}

void RaftMachine::send(const PeerId& to, RaftMessage message) {
  send_shared(to, std::make_shared<const RaftMessage>(std::move(message)));
}

void RaftMachine::send_shared(const PeerId& to, std::shared_ptr<const RaftMessage> message) {
  // A leader's AppendEntries promises nothing about its own log: it leaves while the leader's
  // append is being written, so the leader's disk and its followers' work in parallel (Raft
  // thesis 10.2.1; the leader counts itself only from durable_last_index_). It still waits for
  // a term or vote not yet durable.
  const bool log_only = role_ == Role::kLeader && std::holds_alternative<AppendEntries>(*message) &&
                        hard_state_token_ <= persisted_token_;
  raft_effect::Send s{to, std::move(message)};
  if (!log_only && issued_token_ > persisted_token_) {
    // Depends on state not yet durable. A bound keeps a stalled store from growing this queue
    // without end; the oldest message is the least useful one to keep.
    if (held_.size() >= kMaxHeldSends) held_.pop_front();
    held_.emplace_back(issued_token_, std::move(s));
  } else {
    emit(std::move(s));
  }
}

void RaftMachine::flush() {
  if (pending_persist_) {
    if (pending_persist_->hard_state) pending_persist_->hard_state = hard_;
    last_index_at_token_[pending_persist_->token] = log_.last_index();
    emit(std::move(*pending_persist_));
    pending_persist_.reset();
  }
  if (role_ != reported_role_ || hard_.term != reported_term_ || leader_ != reported_leader_) {
    reported_role_ = role_;
    reported_term_ = hard_.term;
    reported_leader_ = leader_;
    emit(raft_effect::RoleChanged{});
  }
}

void RaftMachine::handle_persisted(Instant now, std::uint64_t token) {
  advance(now);
  if (token <= persisted_token_) return;
  SMALTI_ASSERT(token <= issued_token_, "persisted a token never issued");
  persisted_token_ = token;
  auto last = last_index_at_token_.upper_bound(token);
  if (last != last_index_at_token_.begin()) {
    durable_last_index_ = std::prev(last)->second;
    last_index_at_token_.erase(last_index_at_token_.begin(), last);
  }
  while (!held_.empty() && held_.front().first <= persisted_token_) {
    emit(std::move(held_.front().second));
    held_.pop_front();
  }
  if (role_ == Role::kLeader) {
    advance_commit();
    serve_reads();
  }
  flush();
}

// ---- timers and roles
// ----------------------------------------------------------------------------

void RaftMachine::reset_election_timer(Instant now) {
  const auto& c = options_.consensus;
  const std::uint32_t factor = options_.preference.multiplier();
  Duration timeout =
      c.election_timeout + rng_.duration_between(Duration::zero(), c.election_timeout_jitter);
  if (hard_.term == 0 && log_.empty()) timeout += c.bootstrap_delay;
  // Fault point: the timer fires early (a fast clock, a scheduler that runs it too soon). Safety
  // never rests on timing; pre-vote and the leader lease keep a live leader in place.
  if (buggify("raft.early_election_timeout")) timeout = c.election_timeout / 4;
  election_deadline_ = now + timeout * factor;
}

Instant RaftMachine::next_deadline() const {
  return role_ == Role::kLeader ? heartbeat_deadline_
                                : std::min(election_deadline_, catch_up_deadline());
}

void RaftMachine::handle_timeout(Instant now) {
  advance(now);
  if (role_ == Role::kLeader) {
    if (now >= heartbeat_deadline_) {
      check_quorum(now);
      // Fault point: the leader steps down as if it had lost its quorum (Raft allows a leader
      // to stop leading at any time; its reads fail and a new election follows).
      if (role_ == Role::kLeader && buggify("raft.step_down")) {
        become_follower(now, hard_.term, std::nullopt);
      }
      if (role_ == Role::kLeader) {
        change_membership(now);
        broadcast_heartbeat(now);
      }
    }
  } else {
    expire_fetches(now);
    if (now >= election_deadline_) stand_if_due(now);
  }
  flush();
}

void RaftMachine::stand_if_due(Instant now) {
  reset_election_timer(now);
  if (options_.preference.is_observer()) {
    // Observers never stand for election.
  } else if (log_.empty()) {
    // Founding starts with a pre-vote too: a member that cannot win disturbs no term.
    if (may_bootstrap()) start_pre_vote(now);
  } else if (is_voter()) {
    start_pre_vote(now);
  }
}

void RaftMachine::become_follower(Instant now, Term term, std::optional<PeerId> leader) {
  if (term > hard_.term) {
    mutate_hard_state().term = term;
    hard_.vote.reset();
  }
  if (role_ == Role::kLeader) fail_reads();
  if (role_ != Role::kFollower || leader != leader_) in_sync_ = false;
  role_ = Role::kFollower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  heartbeat_deadline_ = Instant::max();
  reset_election_timer(now);
}

bool RaftMachine::in_leader_lease(Instant now) const {
  if (role_ == Role::kLeader) return true;
  return leader_ && last_leader_contact_ &&
         now < *last_leader_contact_ + options_.consensus.election_timeout;
}

void RaftMachine::set_commit(Index index) {
  SMALTI_ASSERT(index <= log_.last_index(), "commit past the end of the log");
  if (index <= commit_) return;
  commit_ = index;
  // Durable, so that after a restart elections count the configuration's votes alone.
  if (!hard_.founded) mutate_hard_state().founded = true;
  emit(raft_effect::Committed{commit_});
}

// The configuration is the last one in the log, else the snapshot's (which is the one in force
// at its index, and so at the log's base).
void RaftMachine::refresh_config() {
  config_ = snapshot_ ? snapshot_->meta.config : VoterSet{};
  config_index_ = snapshot_ ? snapshot_->meta.index : 0;
  for (Index i = log_.last_index(); i >= log_.first_index(); --i) {
    const LogEntry& e = log_.at(i);
    if (e.kind != EntryKind::kConfig) continue;
    auto decoded = decode<VoterSet>(e.payload);
    SMALTI_ASSERT(decoded.is_ok(), "a configuration entry in the log does not decode");
    config_ = std::move(decoded).value();
    config_index_ = i;
    break;
  }
  if (log_.first_index() == 1) {
    cluster_ = log_.empty() ? Digest::zero() : Digest::hash(encode(log_.at(1)));
  } else {
    cluster_ = snapshot_ ? snapshot_->meta.cluster : Digest::zero();
  }
}

void RaftMachine::handle_message(Instant now, const PeerId& from, const RaftMessage& message) {
  advance(now);
  if (!admit_peer_input()) return;  // as if lost on the way
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        // A term this large can only come from a faulty peer, and one more would wrap to 0.
        if (m.header.term > kMaxTerm) return;
        if constexpr (std::is_same_v<M, AppendEntries>) {
          if (!well_formed(m)) return;
        }
        if (on_foreign_cluster(now, m.header)) return;
        // Fault points: the message is lost on the way, as the network may lose any.
        if constexpr (std::is_same_v<M, AppendEntries>) {
          if (buggify("raft.drop_append")) return;
          on_append(now, from, m);
        }
        if constexpr (std::is_same_v<M, AppendResponse>) {
          if (buggify("raft.drop_append_response")) return;
          on_append_response(now, from, m);
        }
        if constexpr (std::is_same_v<M, VoteRequest>) {
          if (buggify("raft.drop_vote_request")) return;
          on_vote_request(now, from, m);
        }
        if constexpr (std::is_same_v<M, VoteResponse>) on_vote_response(now, from, m);
        if constexpr (std::is_same_v<M, SyncAvailability>) on_sync_availability(now, from, m);
        if constexpr (std::is_same_v<M, SyncFetch>) on_sync_fetch(from, m);
        if constexpr (std::is_same_v<M, SyncEntries>) on_sync_entries(now, from, m);
        if constexpr (std::is_same_v<M, SnapshotFetch>) on_snapshot_fetch(from, m);
        if constexpr (std::is_same_v<M, SnapshotChunk>) on_snapshot_chunk(now, from, m);
      },
      message);
  flush();
}

// Entries no correct leader sends: a position or entry of a later term than the message's, or
// a configuration entry that does not decode. Refused whole, before anything changes.
bool RaftMachine::well_formed(const AppendEntries& m) {
  if (m.prev.term > m.header.term) return false;
  if (m.prev.index > UINT64_MAX - m.entries.size()) return false;
  // The leader holds its log from log_start on, and prev is one of its entries (or its base).
  if (m.log_start == 0 || m.log_start - 1 > m.prev.index) return false;
  return entries_well_formed(m.prev.term, m.header.term, kMaxEntriesPerAppend, m.entries);
}

void RaftMachine::handle_peers(Instant now, const std::vector<RaftPeer>& peers) {
  advance(now);
  peers_.clear();
  for (const RaftPeer& p : peers) {
    if (p.id != options_.self) peers_[p.id] = p;
  }
  if (role_ == Role::kLeader) {
    for (auto& [id, progress] : progress_) progress.bonded = peers_.count(id) != 0;
    for (const auto& [id, peer] : peers_) {
      auto [it, added] = progress_.try_emplace(id);
      it->second.bonded = true;
      it->second.observer = peer.observer;
      if (added) {
        it->second.next = log_.last_index() + 1;
        replicate(id, /*heartbeat=*/true);
      }
    }
  }
  flush();
}

void RaftMachine::invariants() const {
  SMALTI_ASSERT(commit_ <= log_.last_index(), "commit index past the end of the log");
  SMALTI_ASSERT(role_ != Role::kLeader || leader_ == options_.self, "a leader names another");
  SMALTI_ASSERT(role_ != Role::kLeader || is_voter(), "a leader that is not a voter");
  SMALTI_ASSERT(log_.last().term <= hard_.term, "an entry from a future term");
  SMALTI_ASSERT(hard_.incarnation != 0, "no incarnation");
  SMALTI_ASSERT(reads_.size() <= kMaxPendingReads, "too many pending reads");
  SMALTI_ASSERT(!snapshot_ || snapshot_->meta.index >= log_.base().index,
                "entries pruned that no snapshot holds");
  SMALTI_ASSERT(!snapshot_ || snapshot_->meta.index <= commit_, "a snapshot past the commit index");
}

}  // namespace smalti::groups
