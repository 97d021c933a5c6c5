// RaftMachine replication: AppendEntries on both sides, commit, read-index, check-quorum.
#include <algorithm>
#include <functional>
#include <vector>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

// ---- follower side
// -------------------------------------------------------------------------------

void RaftMachine::on_append(Instant now, const PeerId& from, const AppendEntries& received) {
  auto reject = [&](Index retry_from) {
    send(from, AppendResponse{header(), false, retry_from, received.round,
                              options_.preference.is_observer()});
  };
  if (received.header.term < hard_.term) {
    reject(log_.last_index() + 1);  // tells a stale leader the newer term
    return;
  }
  if (role_ != Role::kFollower || leader_ != from || received.header.term > hard_.term) {
    become_follower(now, received.header.term, from);
  } else {
    reset_election_timer(now);
  }
  last_leader_contact_ = now;
  // Entries up to this member's base are committed and the same on every member (it pruned
  // them into a snapshot): the leader's copies of them are skipped.
  std::optional<AppendEntries> trimmed;
  if (received.prev.index < log_.base().index) trimmed = after_base(received);
  const AppendEntries& m = trimmed ? *trimmed : received;
  const Index prev = m.prev.index;
  // The leader no longer holds the entries after this member's commit index: only a snapshot
  // can bring it up to date if its log does not continue the leader's.
  const bool beyond_leader = m.log_start > commit_ + 1;
  const bool gap = prev > log_.last_index();
  if ((gap || (beyond_leader && log_.term_at(prev) != m.prev.term)) &&
      start_catch_up(now, m, beyond_leader)) {
    // Far behind: the gap is fetched from every member (raft_catch_up.cpp). The leader's
    // entries are kept for afterwards, and it is told to go on from after them. The leader
    // serves what it committed, so the session progresses even if every answer to the
    // availability requests was lost.
    if (catch_up_->buffered.size() < kMaxBufferedAppends && !m.entries.empty()) {
      catch_up_->buffered.emplace_back(from, m);
      ++catch_up_stats_.appends_kept;
    }
    if (m.header.cluster == catch_up_->cluster) {
      auto& offered = catch_up_->available[from];
      offered = {m.log_start, std::max(offered.second, m.header.commit)};
      schedule_fetches(now);
    }
    in_sync_ = false;
    reject(prev + m.entries.size() + 1);
    return;
  }
  if (gap) {
    in_sync_ = false;
    reject(log_.last_index() + 1);
    return;
  }
  if (log_.term_at(prev) != m.prev.term) {
    in_sync_ = false;
    reject(prev == 0 ? 1 : std::max(commit_ + 1, log_.first_index_of_term_at(prev)));
    return;
  }
  if (contradicts_commit(m)) {
    // Leader Completeness makes this impossible for a correct leader of this cluster; peer input
    // never crashes a node, so the message is refused.
    in_sync_ = false;
    reject(commit_ + 1);
    return;
  }
  append_from_leader(m);
  in_sync_ = true;
  const Index match = prev + m.entries.size();
  set_commit(std::max(commit_, std::min(m.header.commit, match)));
  send(from, AppendResponse{header(), true, match, m.round, options_.preference.is_observer()});
}

// `m` (which starts before this member's base) from the base on.
AppendEntries RaftMachine::after_base(const AppendEntries& m) const {
  AppendEntries out{m.header, log_.base(), {}, m.round, m.log_start};
  const Index skip = log_.base().index - m.prev.index;
  if (m.entries.size() > skip) {
    out.entries.assign(m.entries.begin() + static_cast<std::ptrdiff_t>(skip), m.entries.end());
  }
  return out;
}

bool RaftMachine::contradicts_commit(const AppendEntries& m) const {
  if (m.prev.index < commit_ && log_.term_at(m.prev.index) != m.prev.term) return true;
  Index i = m.prev.index;
  for (const LogEntry& e : m.entries) {
    if (++i > commit_) break;
    if (log_.at(i).term != e.term) return true;
  }
  return false;
}

void RaftMachine::append_from_leader(const AppendEntries& m) {
  bool config_touched = false;
  bool reserved = false;
  Index i = m.prev.index;
  for (const LogEntry& e : m.entries) {
    ++i;
    if (i <= log_.last_index()) {
      if (log_.at(i).term == e.term) continue;
      SMALTI_ASSERT(i > commit_, "truncating a committed entry");
      config_touched = config_touched || i <= config_index_ || i == 1;
      log_.truncate_from(i);
      persist_truncate(i);
    }
    config_touched = config_touched || e.kind == EntryKind::kConfig || i == 1;
    if (!reserved) {
      reserve_persist(m.prev.index + m.entries.size() - i + 1);  // this entry and the rest
      reserved = true;
    }
    log_.append(e);
    persist_append(e);
  }
  if (config_touched) refresh_config();
}

// ---- leader side
// ---------------------------------------------------------------------------------

void RaftMachine::replicate(const PeerId& peer, bool heartbeat, AppendMemo* memo) {
  auto it = progress_.find(peer);
  if (it == progress_.end() || !it->second.bonded) return;
  Progress& p = it->second;
  // Entries before the first one held are in the snapshot: the member is offered the log from
  // there, and log_start tells it to fetch the snapshot if it cannot continue from there.
  p.next = std::max(p.next, log_.first_index());
  const bool has_entries = p.next <= log_.last_index();
  if (!heartbeat && (!has_entries || p.inflight >= kMaxInflightAppends)) return;
  const bool with_entries = has_entries && p.inflight < kMaxInflightAppends;
  AppendMemo local;
  if (memo == nullptr) memo = &local;
  if (!memo->message || memo->next != p.next || memo->with_entries != with_entries) {
    AppendEntries ae{header(),
                     Cursor{log_.term_at(p.next - 1).value_or(0), p.next - 1},
                     {},
                     round_,
                     log_.first_index()};
    if (with_entries) ae.entries = log_.slice(p.next, kMaxEntriesPerAppend, kMaxAppendBytes);
    const std::size_t count = ae.entries.size();
    *memo =
        AppendMemo{p.next, with_entries, count, std::make_shared<const RaftMessage>(std::move(ae))};
  }
  if (with_entries) {
    p.next += memo->entries;
    ++p.inflight;
  }
  send_shared(peer, memo->message);
}

void RaftMachine::replicate_all(bool heartbeat) {
  AppendMemo memo;
  for (auto& [id, p] : progress_) replicate(id, heartbeat, &memo);
}

void RaftMachine::broadcast_heartbeat(Instant now) {
  ++round_;
  replicate_all(/*heartbeat=*/true);
  heartbeat_deadline_ = now + options_.consensus.heartbeat_interval;
  serve_reads();  // a one-voter group confirms at once
}

void RaftMachine::on_append_response(Instant now, const PeerId& from, const AppendResponse& m) {
  if (m.header.term > hard_.term) {
    become_follower(now, m.header.term, std::nullopt);
    return;
  }
  if (role_ != Role::kLeader || m.header.term < hard_.term) return;
  auto it = progress_.find(from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  if (p.incarnation != m.header.incarnation) {
    p.match = 0;  // a new incarnation has a new log
    p.round = 0;
  }
  p.incarnation = m.header.incarnation;
  p.observer = m.observer;
  p.last_ack = now;
  p.acked = true;
  p.round = std::max(p.round, m.round);
  if (m.success) {
    p.match = std::max(p.match, std::min(m.index, log_.last_index()));
    p.next = std::max(p.next, p.match + 1);
    if (p.inflight > 0) --p.inflight;
  } else {
    p.next = std::clamp<Index>(m.index, p.match + 1, log_.last_index() + 1);
    p.inflight = 0;
  }
  advance_commit();
  serve_reads();
  replicate(from, /*heartbeat=*/!m.success);
}

// Commits the highest entry of the current term that a quorum of the configuration stores and,
// until the founding entry is known committed, bootstrap_expect members of the group (any
// non-observer). Entries of earlier terms are never committed by counting (Raft section
// 5.4.2); they commit with the first current-term entry after them.
void RaftMachine::advance_commit() {
  // The k-th highest of the stored indexes is stored by k members: O(members), however long
  // the uncommitted tail (a leader cut off keeps appending until check-quorum).
  auto kth_highest = [](std::vector<Index>& stored, std::size_t k) -> Index {
    if (k == 0 || stored.size() < k) return 0;
    std::nth_element(stored.begin(), stored.begin() + static_cast<std::ptrdiff_t>(k - 1),
                     stored.end(), std::greater<>());
    return stored[k - 1];
  };
  std::vector<Index> stored;
  for (const Member& v : config_.voters) {
    if (v.peer == options_.self) {
      stored.push_back(v.incarnation == hard_.incarnation ? durable_last_index_ : 0);
      continue;
    }
    auto it = progress_.find(v.peer);
    const bool same = it != progress_.end() && it->second.incarnation == v.incarnation;
    stored.push_back(same ? it->second.match : 0);
  }
  Index n = kth_highest(stored, quorum());
  if (!hard_.founded) {
    stored.assign(1, durable_last_index_);
    for (const auto& [id, p] : progress_) {
      if (!p.observer && p.acked) stored.push_back(p.match);
    }
    n = std::min(n, kth_highest(stored, group_quorum()));
  }
  if (n <= commit_ || log_.at(n).term != hard_.term) return;
  set_commit(n);
  // Followers learn the new commit index at once (mosaik's immediate heartbeat).
  replicate_all(/*heartbeat=*/true);
}

void RaftMachine::read(Instant now, std::uint64_t read_id) {
  advance(now);
  if (role_ != Role::kLeader || reads_.size() >= kMaxPendingReads) {
    emit(raft_effect::ReadFailed{read_id});
  } else {
    // Confirmed once a quorum answers a round sent after this call, and the leader's first
    // entry of its term is committed (before that its commit index may lag the true one).
    ++round_;
    reads_.push_back(PendingRead{read_id, std::max(commit_, term_start_index_), round_});
    replicate_all(/*heartbeat=*/true);
    serve_reads();
  }
  flush();
}

void RaftMachine::serve_reads() {
  while (!reads_.empty()) {
    const PendingRead& r = reads_.front();
    if (commit_ < r.index) return;
    std::size_t confirmed = 0;
    for (const Member& v : config_.voters) {
      if (v.peer == options_.self) {
        ++confirmed;
        continue;
      }
      auto it = progress_.find(v.peer);
      if (it != progress_.end() && it->second.incarnation == v.incarnation &&
          it->second.round >= r.round) {
        ++confirmed;
      }
    }
    if (confirmed < quorum()) return;
    emit(raft_effect::ReadReady{r.id, r.index});
    reads_.pop_front();
  }
}

void RaftMachine::fail_reads() {
  for (const PendingRead& r : reads_) emit(raft_effect::ReadFailed{r.id});
  reads_.clear();
}

// A leader that has not heard from a quorum for an election timeout steps down: it cannot
// commit, and another leader may already exist on the other side of a partition.
void RaftMachine::check_quorum(Instant now) {
  const Duration window = options_.consensus.election_timeout;
  if (now - leader_since_ < window) return;
  std::size_t heard = 0;
  for (const Member& v : config_.voters) {
    if (v.peer == options_.self) {
      ++heard;
      continue;
    }
    auto it = progress_.find(v.peer);
    if (it != progress_.end() && it->second.acked && it->second.incarnation == v.incarnation &&
        now - it->second.last_ack < window) {
      ++heard;
    }
  }
  if (heard < quorum()) become_follower(now, hard_.term, std::nullopt);
}

Result<Cursor> RaftMachine::propose(Instant now, std::vector<SharedBytes> commands) {
  advance(now);
  if (role_ != Role::kLeader) return error(StatusCode::kUnavailable, "not the leader");
  for (const SharedBytes& c : commands) {
    if (c.size() > kMaxCommandBytes) {
      return error(StatusCode::kLimitExceeded,
                   "a command of " + std::to_string(c.size()) + " bytes exceeds the limit");
    }
  }
  const Cursor first{hard_.term, log_.last_index() + 1};
  if (!commands.empty()) reserve_persist(commands.size());
  for (SharedBytes& c : commands) {
    log_.append(LogEntry{hard_.term, EntryKind::kCommand, std::move(c)});
    persist_append(log_.at(log_.last_index()));
  }
  replicate_all(/*heartbeat=*/false);
  flush();
  return first;
}

}  // namespace smalti::groups
