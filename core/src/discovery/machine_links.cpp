// DiscoveryMachine: links, joins, the neighbour view and the catalog exchange.
#include "smalti/discovery/discovery_machine.hpp"

namespace smalti::discovery {

LinkToken DiscoveryMachine::open_link(const PeerAddr& addr, Channel channel) {
  const LinkToken token = next_link_++;
  LinkState state;
  state.peer = addr.id;
  state.channel = channel;
  state.outbound = true;
  state.deadline = now() + kHandshakeTimeout;
  links_.emplace(token, std::move(state));
  emit(effect::Connect{token, addr, channel_alpn(channel)});
  return token;
}

void DiscoveryMachine::join(Instant, WallTime, const PeerAddr& addr, bool rotation) {
  if (addr.id == local_.entry.id() || neighbours_.count(addr.id) || joining_.count(addr.id)) return;
  const LinkToken token = open_link(addr, Channel::kAnnounce);
  links_[token].rotation = rotation;
  joining_[addr.id] = token;
}

void DiscoveryMachine::handle_connected(Instant now, WallTime wall, LinkToken link) {
  advance(now);
  auto it = links_.find(link);
  if (it == links_.end() || it->second.phase != Phase::kConnecting) return;
  if (it->second.channel == Channel::kAnnounce) {
    send(link, Join{local_, neighbours_.empty()});
    it->second.phase = Phase::kJoining;
  } else {
    start_exchange(link, wall);
  }
}

void DiscoveryMachine::handle_link_closed(Instant now, WallTime wall, LinkToken link) {
  advance(now);
  auto it = links_.find(link);
  if (it == links_.end()) return;
  const PeerId peer = it->second.peer;
  auto pending = joining_.find(peer);
  const bool join_failed = pending != joining_.end() && pending->second == link;
  forget_link(link, error(StatusCode::kUnavailable, "link to " + peer.short_hex() + " closed"));
  if (join_failed) note_join_failed(now, peer);
  maintain_view(now, wall);
}

std::optional<LinkToken> DiscoveryMachine::handle_accepted(Instant now, WallTime wall,
                                                           const PeerId& remote, Channel channel) {
  advance(now);
  if (departed_ || !started_ || remote == local_.entry.id()) return std::nullopt;
  std::size_t waiting = 0;
  std::size_t syncing = 0;
  for (const auto& [token, state] : links_) {
    if (!state.outbound && state.phase == Phase::kAwaitJoin) ++waiting;
    if (state.channel == Channel::kSync) ++syncing;
  }
  if (channel == Channel::kAnnounce && waiting >= kMaxPendingInbound) return std::nullopt;
  if (channel == Channel::kSync && syncing >= kMaxSyncLinks) return std::nullopt;
  const LinkToken token = next_link_++;
  LinkState state;
  state.peer = remote;
  state.channel = channel;
  state.phase = channel == Channel::kAnnounce ? Phase::kAwaitJoin : Phase::kConnecting;
  state.deadline = now + kHandshakeTimeout;
  links_.emplace(token, std::move(state));
  if (channel == Channel::kSync) start_exchange(token, wall);
  return token;
}

void DiscoveryMachine::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                           const Status& why) {
  advance(now);
  (void)frame;
  if (!links_.count(link)) return;
  close_link(link, env::close_code::kCancelled, "a frame was refused: " + why.message());
}

void DiscoveryMachine::handle_frame(Instant now, WallTime wall, LinkToken link, ByteView frame) {
  advance(now);
  if (departed_) return;
  auto it = links_.find(link);
  if (it == links_.end()) return;   // a link we closed: its late frames do not matter
  if (!admit_peer_input()) return;  // as if lost: gossip and exchanges repair it
  auto message = decode_message(frame);
  if (!message.is_ok()) {
    violation(link, message.status());
    return;
  }
  LinkState& state = it->second;
  const Phase phase = state.phase;
  if (auto* join = std::get_if<Join>(&*message)) {
    if (phase != Phase::kAwaitJoin) return violation(link, error(StatusCode::kMalformed, "Join"));
    on_join(now, wall, link, state, *join);
  } else if (auto* reply = std::get_if<JoinReply>(&*message)) {
    if (phase != Phase::kJoining) return violation(link, error(StatusCode::kMalformed, "Reply"));
    on_join_reply(now, wall, link, state, *reply);
  } else if (auto* summary = std::get_if<Summary>(&*message)) {
    if (phase != Phase::kExchanging) {
      return violation(link, error(StatusCode::kMalformed, "unexpected Summary"));
    }
    on_summary(now, wall, link, state, *summary);
  } else if (auto* entries = std::get_if<Entries>(&*message)) {
    if (phase != Phase::kExchanging) {
      return violation(link, error(StatusCode::kMalformed, "unexpected Entries"));
    }
    on_entries(now, wall, link, state, *entries);
  } else if (state.channel == Channel::kAnnounce && state.neighbour) {
    on_neighbour_message(now, wall, link, state, std::move(*message));
  }
  // Neighbour traffic on a link that is not (or no longer) a neighbour's is ignored: it can
  // race with a Disconnect or a refused join.
}

void DiscoveryMachine::on_join(Instant now, WallTime wall, LinkToken link, LinkState& state,
                               const Join& join) {
  if (join.entry.entry.id() != state.peer) {
    return violation(link, error(StatusCode::kPermissionDenied, "Join with another peer's entry"));
  }
  auto outcome = accept_entry(wall, join.entry);
  if (!outcome.is_ok()) {
    return close_link(link, env::close_code::kProtocolViolation, outcome.status().message());
  }
  if (*outcome != Upsert::kNotNewer) broadcast(join.entry, &state.peer);
  bool accepted = neighbours_.count(state.peer) || neighbours_.size() < config_.max_active_view;
  // Fault point: refused as by a node whose view is full (never an urgent join, which a full
  // node makes room for); the joiner backs off and tries others.
  if (accepted && !join.urgent && !neighbours_.count(state.peer) &&
      fire(buggify_, "discovery.reject_join")) {
    accepted = false;
  }
  if (!accepted && join.urgent) {
    // A node with no neighbour at all must get in: make room by evicting one at random.
    auto victim =
        std::next(neighbours_.begin(), static_cast<std::ptrdiff_t>(rng_.below(neighbours_.size())));
    drop_neighbour(now, wall, victim->first, discovery_close::kViewFull);
    accepted = true;
  }
  send(link, JoinReply{local_, accepted});
  if (accepted) add_neighbour(now, wall, link);
  if (links_.count(link)) start_exchange(link, wall);
}

void DiscoveryMachine::on_join_reply(Instant now, WallTime wall, LinkToken link, LinkState& state,
                                     const JoinReply& reply) {
  const PeerId peer = state.peer;
  const bool rotation = state.rotation;
  if (reply.entry.entry.id() != peer) {
    return violation(link, error(StatusCode::kPermissionDenied, "reply with another peer's entry"));
  }
  joining_.erase(peer);
  auto outcome = accept_entry(wall, reply.entry);
  if (!outcome.is_ok()) {
    note_join_failed(now, peer);
    return close_link(link, env::close_code::kProtocolViolation, outcome.status().message());
  }
  if (*outcome != Upsert::kNotNewer) broadcast(reply.entry, &peer);
  if (reply.accepted) {
    backoff_.erase(peer);
    if (neighbours_.size() >= config_.max_active_view && !neighbours_.count(peer)) {
      drop_random_neighbour(now, wall, peer);
    }
    add_neighbour(now, wall, link);
    if (rotation && neighbours_.count(peer) && neighbours_.size() > config_.active_view) {
      drop_random_neighbour(now, wall, peer);
    }
  } else {
    note_join_failed(now, peer);  // full: try others first
  }
  if (links_.count(link)) start_exchange(link, wall);
}

void DiscoveryMachine::drop_random_neighbour(Instant now, WallTime wall, const PeerId& keep) {
  std::vector<PeerId> others;
  for (const auto& [peer, n] : neighbours_) {
    if (peer != keep) others.push_back(peer);
  }
  if (others.empty()) return;
  drop_neighbour(now, wall, others[rng_.below(others.size())], env::close_code::kSuccess);
}

void DiscoveryMachine::add_neighbour(Instant, WallTime, LinkToken link) {
  LinkState& state = links_.at(link);
  const PeerId peer = state.peer;
  auto existing = neighbours_.find(peer);
  if (existing != neighbours_.end() && existing->second.link != link) {
    // Two neighbour links to one peer (both joined at once, or it restarted). Both ends keep
    // the same one: the link opened by the smaller id, or the newer one if one side opened both.
    const LinkToken old = existing->second.link;
    const LinkState& old_state = links_.at(old);
    const PeerId& self = local_.entry.id();
    const PeerId& new_initiator = state.outbound ? self : peer;
    const PeerId& old_initiator = old_state.outbound ? self : peer;
    const bool keep_new = new_initiator == old_initiator || new_initiator < old_initiator;
    if (!keep_new) {
      close_link(link, discovery_close::kDuplicate, "duplicate neighbour link");
      return;
    }
    existing->second.link = link;
    existing->second.eager = true;
    state.neighbour = true;
    state.deadline = Instant::max();
    close_link(old, discovery_close::kDuplicate, "duplicate neighbour link");
    return;
  }
  state.neighbour = true;
  state.deadline = Instant::max();
  neighbours_[peer] = Neighbour{link, true, {}};
  backoff_.erase(peer);
}

void DiscoveryMachine::drop_neighbour(Instant, WallTime, const PeerId& peer, std::uint32_t code) {
  auto it = neighbours_.find(peer);
  if (it == neighbours_.end()) return;
  const LinkToken link = it->second.link;
  send(link, Disconnect{});
  close_link(link, code, "left the view");
}

void DiscoveryMachine::expire_handshakes(Instant now, WallTime wall) {
  std::vector<LinkToken> expired;
  for (const auto& [token, state] : links_) {
    if (state.deadline <= now) expired.push_back(token);
  }
  for (LinkToken token : expired) {
    const PeerId peer = links_.at(token).peer;
    const bool was_join = joining_.count(peer) && joining_.at(peer) == token;
    close_link(token, env::close_code::kCancelled, "discovery handshake timed out");
    if (was_join) note_join_failed(now, peer);
  }
  if (!expired.empty()) maintain_view(now, wall);
}

std::vector<Stamp> DiscoveryMachine::summary_stamps(WallTime wall) const {
  std::vector<Stamp> stamps;
  stamps.reserve(catalog_.signed_entries().size() + 1);
  stamps.push_back(Stamp{local_.entry.id(), local_.entry.version});
  for (const auto& [id, e] : catalog_.signed_entries()) {
    if (!catalog_.is_stale(wall, e.entry)) stamps.push_back(Stamp{id, e.entry.version});
  }
  return stamps;
}

void DiscoveryMachine::start_exchange(LinkToken link, WallTime wall) {
  links_.at(link).phase = Phase::kExchanging;
  std::vector<Stamp> stamps = summary_stamps(wall);
  std::size_t at = 0;
  do {
    const std::size_t n = std::min(kMaxStampsPerFrame, stamps.size() - at);
    Summary chunk;
    chunk.stamps.assign(stamps.begin() + static_cast<std::ptrdiff_t>(at),
                        stamps.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    chunk.last = at == stamps.size();
    send(link, chunk);
  } while (at < stamps.size());
}

void DiscoveryMachine::on_summary(Instant now, WallTime wall, LinkToken link, LinkState& state,
                                  const Summary& summary) {
  Exchange& ex = state.exchange;
  if (ex.remote_summary_done) {
    return violation(link, error(StatusCode::kMalformed, "Summary after the last one"));
  }
  for (const Stamp& s : summary.stamps) {
    auto [it, inserted] = ex.remote.try_emplace(s.peer, s.version);
    if (!inserted) it->second = std::max(it->second, s.version);
  }
  if (ex.remote.size() > config_.max_entries + 1) {
    return violation(link, error(StatusCode::kLimitExceeded, "summary larger than a catalog"));
  }
  if (!summary.last) return;
  ex.remote_summary_done = true;
  // Send what the other side lacks or has older, packed into frames of bounded size.
  Entries chunk;
  std::size_t chunk_bytes = 0;
  auto offer = [&](const SignedPeerEntry& e) {
    auto known = ex.remote.find(e.entry.id());
    if (known != ex.remote.end() && known->second >= e.entry.version) return;
    const std::size_t size = encode(e).size();
    if (!chunk.entries.empty() && chunk_bytes + size > kEntriesFrameBudget) {
      send(link, chunk);
      chunk = Entries{};
      chunk_bytes = 0;
    }
    chunk.entries.push_back(e);
    chunk_bytes += size;
  };
  offer(local_);
  for (const auto& [id, e] : catalog_.signed_entries()) {
    if (id != state.peer && !catalog_.is_stale(wall, e.entry)) offer(e);
  }
  chunk.last = true;
  send(link, chunk);
  ex.entries_sent = true;
  ex.remote.clear();
  if (ex.remote_entries_done) finish_exchange(now, wall, link, state);
}

void DiscoveryMachine::on_entries(Instant now, WallTime wall, LinkToken link, LinkState& state,
                                  const Entries& entries) {
  Exchange& ex = state.exchange;
  if (ex.remote_entries_done) {
    return violation(link, error(StatusCode::kMalformed, "Entries after the last one"));
  }
  ex.entries_received += entries.entries.size();
  if (ex.entries_received > config_.max_entries + 1) {
    return violation(link, error(StatusCode::kLimitExceeded, "more entries than a catalog"));
  }
  const PeerId from = state.peer;
  for (const SignedPeerEntry& e : entries.entries) {
    if (e.entry.id() == local_.entry.id()) continue;
    auto outcome = accept_entry(wall, e);
    if (outcome.is_ok() && *outcome != Upsert::kNotNewer) broadcast(e, &from, Push::kLazy);
  }
  if (!entries.last) return;
  ex.remote_entries_done = true;
  if (ex.entries_sent) finish_exchange(now, wall, link, state);
}

void DiscoveryMachine::finish_exchange(Instant, WallTime, LinkToken link, LinkState& state) {
  ++stats_.syncs_completed;
  if (state.sync_id) {
    emit(SyncDone{*state.sync_id, Status::ok()});
    state.sync_id.reset();
  }
  state.exchange = Exchange{};
  if (state.channel == Channel::kAnnounce && state.neighbour) {
    state.phase = Phase::kNeighbour;
    return;
  }
  // A sync, or a refused join: the side that opened the link closes it once both are done;
  // the other waits for that close (frames sent before a close are delivered first).
  state.phase = Phase::kNeighbour;
  if (state.outbound) close_link(link, env::close_code::kSuccess, "catalog exchanged");
}

}  // namespace smalti::discovery
