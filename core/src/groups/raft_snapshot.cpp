// RaftMachine snapshots: taking one, serving it in chunks, fetching and installing one.
//
// A member's snapshot is the state machine's state at an applied index, which the driver hands
// over (take_snapshot). The machine keeps it to serve, has it stored, and prunes the log up to a
// tail before it. A follower in a catch-up session (raft_catch_up.cpp) that needs entries no
// member holds any more (a member's availability answer starts after the follower's next entry)
// fetches the snapshot that member offers, in chunks of kSnapshotChunkBytes, one chunk in flight
// per member that offered the very same snapshot (same index and digest; members that take
// snapshots at the same indexes of the same deterministic state machine hold identical ones),
// the leader asked last. A member that fails to answer in time loses its chunk to another, so a
// transfer resumes where it was when a provider fails. The assembled bytes must match the
// snapshot's digest; if they do not (members whose snapshots differ byte for byte), the transfer
// starts over from the leader alone. An installed snapshot replaces the log up to its index
// (keeping the entries after it when the log holds its last entry), a Restore effect rebuilds the
// state machine, and log replay goes on from there.
#include <algorithm>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

namespace {

std::uint64_t chunk_count(std::uint64_t size) {
  return (size + kSnapshotChunkBytes - 1) / kSnapshotChunkBytes;
}

}  // namespace

Digest snapshot_chunk_checksum(Index index, std::uint64_t offset, ByteView data) {
  const Digest position = Digest::from_u64(index).derive(Digest::from_u64(offset));
  return Digest::from_parts({as_bytes("smalti.snapshot_chunk"), position.view(), data});
}

std::optional<SnapshotMeta> RaftMachine::offered_snapshot() const {
  if (!snapshot_) return std::nullopt;
  return snapshot_->meta;
}

// The configuration in force at `index` (at or after the log's base).
VoterSet RaftMachine::config_at(Index index) const {
  for (Index i = std::min(index, log_.last_index()); i >= log_.first_index(); --i) {
    const LogEntry& e = log_.at(i);
    if (e.kind != EntryKind::kConfig) continue;
    auto decoded = decode<VoterSet>(e.payload);
    SMALTI_ASSERT(decoded.is_ok(), "a configuration entry in the log does not decode");
    return std::move(decoded).value();
  }
  return snapshot_ ? snapshot_->meta.config : VoterSet{};
}

Status RaftMachine::take_snapshot(Instant now, Index index, SharedBytes state, Index retain) {
  advance(now);
  const Index latest = snapshot_ ? snapshot_->meta.index : 0;
  if (index <= latest || index > commit_) {
    return error(StatusCode::kInvalidArgument, "a snapshot at index " + std::to_string(index) +
                                                   " must follow the latest (" +
                                                   std::to_string(latest) + ") and be committed (" +
                                                   std::to_string(commit_) + ")");
  }
  if (state.size() > kMaxSnapshotBytes) {
    return error(StatusCode::kInvalidArgument,
                 "a snapshot of " + std::to_string(state.size()) + " bytes is above the limit");
  }
  SnapshotMeta meta{index,        *log_.term_at(index),      cluster_, config_at(index),
                    state.size(), Digest::hash(state.view())};
  snapshot_ = std::make_shared<const Snapshot>(Snapshot{std::move(meta), std::move(state)});
  pending_persist().snapshot = snapshot_;
  const Index prune = index > retain ? index - retain : 0;
  if (prune > log_.base().index) {
    log_.prune_through(prune);
    persist_prune(log_.base());
  }
  flush();
  return Status::ok();
}

void RaftMachine::persist_prune(Cursor through) {
  auto& p = pending_persist();
  if (!p.prune_through || p.prune_through->index < through.index) p.prune_through = through;
}

// The log is emptied to follow `base`: whatever this batch meant to write to it is moot.
void RaftMachine::persist_reset(Cursor base) {
  auto& p = pending_persist();
  p.entries.clear();
  p.append_from = 0;
  p.truncate_from.reset();
  p.prune_through.reset();
  p.reset_to = base;
}

// Loses the log and the snapshot (a lost cluster merge).
void RaftMachine::discard_log() {
  if (log_.base().index == 0) {
    log_.truncate_from(1);
    persist_truncate(1);
  } else {
    log_.reset_to({});
    persist_reset({});
  }
  if (snapshot_) {
    snapshot_.reset();
    auto& p = pending_persist();
    p.snapshot.reset();
    p.drop_snapshot = true;
  }
}

// A snapshot a correct member of this cluster could offer this member.
bool RaftMachine::snapshot_meta_well_formed(const SnapshotMeta& meta) const {
  return meta.index >= 1 && meta.term >= 1 && meta.term <= hard_.term &&
         meta.size <= kMaxSnapshotBytes && !meta.config.voters.empty() &&
         meta.config.voters.size() <= kMaxVoters && meta.cluster == catch_up_->cluster;
}

// Starts a transfer when `from` cannot serve the next entry this member needs and offers a
// snapshot that holds it; adds `from` to the providers of the transfer running when it offers
// the same snapshot.
void RaftMachine::consider_snapshot(Instant now, const PeerId& from, const SyncAvailability& m) {
  CatchUpSession& c = *catch_up_;
  if (!m.snapshot || !snapshot_meta_well_formed(*m.snapshot)) return;
  if (c.snapshot_leader_only && from != leader_) return;
  const SnapshotMeta& offer = *m.snapshot;
  if (c.snapshot) {
    SnapshotTransfer& t = *c.snapshot;
    if (t.meta == offer) {
      t.providers.insert(from);
      return;
    }
    // Everyone who had the one being fetched moved on: fetch the newer one.
    if (!t.providers.empty() || !t.inflight.empty() || offer.index < t.meta.index) return;
  } else if (m.first <= c.next_apply || offer.index < c.next_apply) {
    return;
  }
  c.snapshot.emplace();
  c.snapshot->meta = offer;
  c.snapshot->providers.insert(from);
  if (offer.size == 0) finish_transfer(now);
}

void RaftMachine::on_snapshot_fetch(const PeerId& from, const SnapshotFetch& m) {
  SnapshotChunk answer{header(), m.index, m.digest, m.offset, {}, {}};
  // Fault point: the member answers that it no longer holds the snapshot (as one that just took
  // a newer one would); the fetcher asks another.
  if (snapshot_ && snapshot_->meta.index == m.index && snapshot_->meta.digest == m.digest &&
      m.offset < snapshot_->meta.size && m.offset % kSnapshotChunkBytes == 0 &&
      !buggify("raft.snapshot_gone")) {
    answer.data = snapshot_->data.part(m.offset, kSnapshotChunkBytes);
    answer.checksum = snapshot_chunk_checksum(m.index, m.offset, answer.data.view());
  }
  send(from, std::move(answer));
}

void RaftMachine::on_snapshot_chunk(Instant now, const PeerId& from, const SnapshotChunk& m) {
  if (!catch_up_ || !catch_up_->snapshot || m.header.cluster != catch_up_->cluster) return;
  SnapshotTransfer& t = *catch_up_->snapshot;
  auto it = t.inflight.find(from);
  if (it == t.inflight.end() || it->second.first != m.offset || m.index != t.meta.index ||
      m.digest != t.meta.digest) {
    return;
  }
  t.inflight.erase(it);
  const std::uint64_t wanted = std::min(kSnapshotChunkBytes, t.meta.size - m.offset);
  if (m.data.size() != wanted ||
      m.checksum != snapshot_chunk_checksum(m.index, m.offset, m.data.view())) {
    // Gone, short or damaged: another member is asked for it.
    t.retry.push_back(m.offset);
    t.providers.erase(from);
  } else {
    t.chunks.emplace(m.offset, m.data);
    ++catch_up_stats_.snapshot_chunks;
    catch_up_stats_.snapshot_served_by.insert(from);
  }
  if (t.chunks.size() == chunk_count(t.meta.size)) return finish_transfer(now);
  schedule_chunks(now);
}

// One chunk per idle provider: chunks to ask again first, then fresh ones; the leader last.
void RaftMachine::schedule_chunks(Instant now) {
  SnapshotTransfer& t = *catch_up_->snapshot;
  std::vector<PeerId> order;
  for (const PeerId& id : t.providers) {
    if (id != leader_) order.push_back(id);
  }
  if (leader_ && t.providers.count(*leader_)) order.push_back(*leader_);
  for (const PeerId& id : order) {
    if (t.inflight.count(id)) continue;
    std::uint64_t offset = 0;
    if (!t.retry.empty()) {
      offset = t.retry.front();
      t.retry.pop_front();
    } else if (t.next_offset < t.meta.size) {
      offset = t.next_offset;
      t.next_offset += kSnapshotChunkBytes;
    } else {
      break;
    }
    t.inflight[id] = {offset, now + fetch_timeout()};
    send(id, SnapshotFetch{header(), t.meta.index, t.meta.digest, offset});
  }
}

// Every chunk is in: check the whole and install it, or start over from the leader alone.
void RaftMachine::finish_transfer(Instant now) {
  CatchUpSession& c = *catch_up_;
  SnapshotTransfer t = std::move(*c.snapshot);
  c.snapshot.reset();
  Bytes state;
  state.reserve(t.meta.size);
  for (const auto& [offset, chunk] : t.chunks)
    state.insert(state.end(), chunk.begin(), chunk.end());
  if (state.size() != t.meta.size || Digest::hash(state) != t.meta.digest) {
    ++catch_up_stats_.snapshot_mismatches;
    c.snapshot_leader_only = true;
    if (leader_) send(*leader_, SyncAvailability{header(), /*request=*/true, 0, 0, {}});
    return;
  }
  if (t.meta.index > commit_) {
    install_snapshot(Snapshot{t.meta, SharedBytes(std::move(state))});
    c.next_apply = c.next_assign = t.meta.index + 1;
    c.inflight.clear();
    c.retry.clear();
    c.received.clear();
  }
  write_fetched();  // closes the session once past its target
  if (catch_up_) schedule_fetches(now);
}

// Replaces the log up to the snapshot's index, keeping what follows when the log holds the
// snapshot's last entry (Log Matching: then it holds the same entries before it). A Restore
// effect rebuilds the state machine before the commit index moves past what it applied.
void RaftMachine::install_snapshot(Snapshot snapshot) {
  const SnapshotMeta meta = snapshot.meta;
  // Durable copies beyond the commit index may belong to a log this one replaces.
  durable_last_index_ = std::min(durable_last_index_, commit_);
  for (auto& [token, last] : last_index_at_token_) last = std::min(last, commit_);
  if (meta.index > log_.base().index && log_.term_at(meta.index) == meta.term) {
    log_.prune_through(meta.index);
    persist_prune(log_.base());
  } else {
    log_.reset_to({meta.term, meta.index});
    persist_reset(log_.base());
  }
  snapshot_ = std::make_shared<const Snapshot>(std::move(snapshot));
  pending_persist().snapshot = snapshot_;
  ++catch_up_stats_.snapshots_installed;
  refresh_config();
  emit(raft_effect::Restore{meta.index});
  set_commit(meta.index);
}

// Chunks not answered in time go to another member; the member is asked again what it holds.
// With no provider left and nothing in flight, every member is asked again once per timeout.
void RaftMachine::expire_chunks(Instant now) {
  if (!catch_up_ || !catch_up_->snapshot) return;
  SnapshotTransfer& t = *catch_up_->snapshot;
  bool expired = false;
  for (auto it = t.inflight.begin(); it != t.inflight.end();) {
    if (it->second.second > now) {
      ++it;
      continue;
    }
    t.retry.push_back(it->second.first);
    t.providers.erase(it->first);
    send(it->first, SyncAvailability{header(), /*request=*/true, 0, 0, {}});
    it = t.inflight.erase(it);
    expired = true;
  }
  if (expired) schedule_chunks(now);
}

}  // namespace smalti::groups
