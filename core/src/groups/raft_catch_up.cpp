// RaftMachine log replay catch-up (mosaik's LogReplaySync), on both sides.
//
// A follower whose leader has committed more than kCatchUpGap entries past the end of its log
// asks every bonded member for the committed range it can serve, then fetches the missing
// entries [commit + 1, target] in chunks of up to the log replay batch size (and about
// kMaxAppendBytes), one chunk in flight per
// member, the leader asked last. Only committed entries are served, and committed entries are
// the same on every member (Raft's State Machine Safety), so any member's chunk is the right
// one, and the follower may take the fetched entries as committed. Chunks are written in index
// order from the follower's commit index, whose entry every member agrees on (Log Matching).
// The leader's appends that arrive meanwhile are kept (up to kMaxBufferedAppends) and applied
// once the gap is closed. A member that does not answer within the fetch timeout loses its
// chunk to another and is asked again what it can serve.
#include <algorithm>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

// Entries a correct member could send after an entry of `prev_term`: terms never decrease, none
// is later than `max_term`, and every configuration entry decodes.
bool RaftMachine::entries_well_formed(Term prev_term, Term max_term, std::size_t max_entries,
                                      const std::vector<LogEntry>& entries) {
  if (entries.size() > max_entries) return false;
  for (const LogEntry& e : entries) {
    if (e.term > max_term || e.term < prev_term) return false;
    prev_term = e.term;
    if (e.kind == EntryKind::kConfig) {
      auto voters = decode<VoterSet>(e.payload);
      if (!voters.is_ok() || voters->voters.empty() || voters->voters.size() > kMaxVoters) {
        return false;
      }
    }
  }
  return true;
}

// Starts a session when `m` shows a gap worth it, or when the leader no longer holds the
// entries this member needs (`beyond_leader`); returns whether one runs.
bool RaftMachine::start_catch_up(Instant now, const AppendEntries& m, bool beyond_leader) {
  if (catch_up_) return true;
  const bool far =
      m.prev.index > log_.last_index() && m.header.commit > log_.last_index() + kCatchUpGap;
  if (!far && !beyond_leader) return false;
  catch_up_.emplace();
  catch_up_->cluster = m.header.cluster;
  catch_up_->target = m.header.commit;
  catch_up_->next_apply = commit_ + 1;
  catch_up_->next_assign = commit_ + 1;
  catch_up_->next_ask = now + fetch_timeout();
  ++catch_up_stats_.sessions;
  for (const auto& [id, peer] : peers_) {
    send(id, SyncAvailability{header(), /*request=*/true, 0, 0, {}});
  }
  return true;
}

// Provider side: any member with a log serves its committed entries, and its snapshot.
void RaftMachine::on_sync_availability(Instant now, const PeerId& from, const SyncAvailability& m) {
  if (m.request) {
    if (cluster_ != Digest::zero() && commit_ >= 1) {
      send(from, SyncAvailability{header(), /*request=*/false, log_.first_index(), commit_,
                                  offered_snapshot()});
    }
    return;
  }
  if (!catch_up_ || m.header.cluster != catch_up_->cluster) return;
  // A member whose log was pruned through its commit index serves no entry (first > last) but
  // still offers its snapshot, which may be all this member needs.
  if (m.first != 0 && m.first <= m.last) {
    catch_up_->available[from] = {m.first, m.last};
  } else {
    catch_up_->available.erase(from);
  }
  consider_snapshot(now, from, m);
  schedule_fetches(now);
}

void RaftMachine::on_sync_fetch(const PeerId& from, const SyncFetch& m) {
  SyncEntries answer{header(), m.from, {}};
  if (m.from >= log_.first_index() && m.from <= commit_ && m.to >= m.from) {
    const Index to = std::min(m.to, commit_);
    std::size_t count =
        static_cast<std::size_t>(std::min<Index>(to - m.from + 1, options_.log_replay.batch_size));
    // Fault point: the batch is cut short (as a byte budget would cut it); the fetcher asks again
    // for the rest.
    if (count > 1 && buggify("raft.short_replay_batch")) count = (count + 1) / 2;
    answer.entries = log_.slice(m.from, count, kMaxAppendBytes);
  }
  send(from, std::move(answer));
}

void RaftMachine::on_sync_entries(Instant now, const PeerId& from, const SyncEntries& m) {
  if (!catch_up_ || m.header.cluster != catch_up_->cluster) return;
  auto it = catch_up_->inflight.find(from);
  if (it == catch_up_->inflight.end() || it->second.from != m.from) return;
  const CatchUpFetch asked = it->second;
  catch_up_->inflight.erase(it);
  const std::size_t wanted = static_cast<std::size_t>(asked.to - asked.from + 1);
  // Entries of a later term than this member's would break its invariants; such a chunk waits
  // for a retry (the member learns the term from its leader meanwhile).
  if (m.entries.empty() || m.entries.size() > wanted ||
      !entries_well_formed(0, hard_.term, kMaxLogReplayBatch, m.entries)) {
    catch_up_->retry.emplace_back(asked.from, asked.to);
    catch_up_->available.erase(from);
  } else {
    if (m.entries.size() < wanted) {
      catch_up_->retry.emplace_back(asked.from + m.entries.size(), asked.to);
    }
    catch_up_stats_.entries_fetched += m.entries.size();
    catch_up_stats_.served_by.insert(from);
    catch_up_->received.emplace(m.from, m.entries);
    write_fetched();
  }
  if (catch_up_) schedule_fetches(now);
}

// One chunk per idle member that can serve the next range to fetch: timed-out ranges first,
// then fresh ones. Other members before the leader, which has enough to do.
void RaftMachine::schedule_fetches(Instant now) {
  CatchUpSession& c = *catch_up_;
  if (c.snapshot) return schedule_chunks(now);  // entries follow the snapshot
  std::vector<PeerId> order;
  for (const auto& [id, last] : c.available) {
    if (id != leader_) order.push_back(id);
  }
  if (leader_ && c.available.count(*leader_)) order.push_back(*leader_);
  for (const PeerId& id : order) {
    if (c.inflight.count(id)) continue;
    const auto [first, last] = c.available.at(id);
    Index from = 0, to = 0;
    auto retry = std::find_if(c.retry.begin(), c.retry.end(),
                              [&, first = first, last = last](const auto& r) {
                                return r.first >= first && r.first <= last;
                              });
    if (retry != c.retry.end()) {
      from = retry->first;
      to = std::min(retry->second, last);
      if (to < retry->second) {
        retry->first = to + 1;
      } else {
        c.retry.erase(retry);
      }
    } else if (c.next_assign <= c.target && c.next_assign >= first && c.next_assign <= last) {
      from = c.next_assign;
      to = std::min({from + options_.log_replay.batch_size - 1, c.target, last});
      c.next_assign = to + 1;
    } else {
      continue;
    }
    c.inflight[id] = CatchUpFetch{from, to, now + fetch_timeout()};
    send(id, SyncFetch{header(), from, to});
  }
}

// Writes the received chunks that continue the log, in order; they are committed entries.
// Once the gap is closed, the buffered leader appends follow and the leader hears the result.
void RaftMachine::write_fetched() {
  CatchUpSession& c = *catch_up_;
  bool config_touched = false;
  for (auto it = c.received.begin(); it != c.received.end() && it->first <= c.next_apply;
       it = c.received.erase(it)) {
    Index i = it->first;
    for (const LogEntry& e : it->second) {
      if (i <= commit_ && log_.at(i).term != e.term) {
        // Contradicts a committed entry: a faulty member. The rest is fetched elsewhere.
        c.retry.emplace_back(i, it->first + it->second.size() - 1);
        break;
      }
      if (i >= c.next_apply) {
        if (i <= log_.last_index() && log_.at(i).term != e.term) {
          log_.truncate_from(i);
          persist_truncate(i);
          config_touched = true;
        }
        if (i > log_.last_index()) {
          log_.append(e);
          persist_append(e);
          config_touched = config_touched || e.kind == EntryKind::kConfig || i == 1;
        }
      }
      ++i;
    }
    c.next_apply = std::max(c.next_apply, i);
  }
  if (config_touched) refresh_config();
  set_commit(std::min(c.next_apply - 1, log_.last_index()));
  if (c.next_apply <= c.target) return;
  // The gap is closed: the leader's appends kept meanwhile, then an answer to the leader.
  std::deque<std::pair<PeerId, AppendEntries>> buffered = std::move(c.buffered);
  catch_up_.reset();
  Index verified = log_.last_index();
  for (const auto& [leader, m] : buffered) {
    if (m.prev.index > log_.last_index() || log_.term_at(m.prev.index) != m.prev.term ||
        contradicts_commit(m)) {
      continue;
    }
    append_from_leader(m);
    verified = m.prev.index + m.entries.size();
    set_commit(std::max(commit_, std::min(m.header.commit, verified)));
  }
  if (leader_ && !buffered.empty()) {
    verified = std::min(verified, log_.last_index());
    send(*leader_, AppendResponse{header(), true, verified, 0, options_.preference.is_observer()});
  }
}

void RaftMachine::expire_fetches(Instant now) {
  if (!catch_up_) return;
  CatchUpSession& c = *catch_up_;
  bool expired = false;
  for (auto it = c.inflight.begin(); it != c.inflight.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    c.retry.emplace_back(it->second.from, it->second.to);
    c.available.erase(it->first);
    send(it->first, SyncAvailability{header(), /*request=*/true, 0, 0, {}});
    it = c.inflight.erase(it);
    expired = true;
  }
  expire_chunks(now);
  // Nothing in flight (every answer lost, or no member could serve what is needed): every
  // member is asked again, once per fetch timeout.
  if (nothing_in_flight() && now >= c.next_ask) {
    for (const auto& [id, peer] : peers_) {
      send(id, SyncAvailability{header(), /*request=*/true, 0, 0, {}});
    }
    c.next_ask = now + fetch_timeout();
  }
  if (expired) schedule_fetches(now);
}

bool RaftMachine::nothing_in_flight() const {
  return catch_up_->inflight.empty() &&
         (!catch_up_->snapshot || catch_up_->snapshot->inflight.empty());
}

Instant RaftMachine::catch_up_deadline() const {
  Instant earliest = Instant::max();
  if (!catch_up_) return earliest;
  for (const auto& [id, f] : catch_up_->inflight) earliest = std::min(earliest, f.deadline);
  if (catch_up_->snapshot) {
    for (const auto& [id, f] : catch_up_->snapshot->inflight) {
      earliest = std::min(earliest, f.second);
    }
  }
  if (nothing_in_flight()) earliest = std::min(earliest, catch_up_->next_ask);
  return earliest;
}

}  // namespace smalti::groups
