// DiscoveryMachine: neighbour traffic — eager and lazy push, tree repair, departures.
#include "smalti/discovery/discovery_machine.hpp"

namespace smalti::discovery {

// At most this many neighbours are remembered as sources of one missing entry.
static constexpr std::size_t kMaxSourcesPerMissing = 8;

void DiscoveryMachine::broadcast(const SignedPeerEntry& entry, const PeerId* except, Push push) {
  const Stamp stamp{entry.entry.id(), entry.entry.version};
  for (auto& [peer, n] : neighbours_) {
    if ((except && peer == *except) || peer == stamp.peer) continue;
    if (n.eager && push == Push::kTree) {
      send(n.link, Gossip{entry});
    } else if (n.lazy_queue.size() < kMaxLazyQueue) {
      // Dropped beyond the bound: the next re-announce or exchange repairs it.
      n.lazy_queue.push_back(stamp);
      if (flush_at_ == Instant::max()) flush_at_ = now() + config_.ihave_interval;
    }
  }
}

void DiscoveryMachine::flush_lazy() {
  flush_at_ = Instant::max();
  for (auto& [peer, n] : neighbours_) {
    for (std::size_t at = 0; at < n.lazy_queue.size(); at += kMaxStampsPerFrame) {
      const std::size_t end = std::min(n.lazy_queue.size(), at + kMaxStampsPerFrame);
      IHave ihave;
      ihave.stamps.assign(n.lazy_queue.begin() + static_cast<std::ptrdiff_t>(at),
                          n.lazy_queue.begin() + static_cast<std::ptrdiff_t>(end));
      send(n.link, ihave);
    }
    n.lazy_queue.clear();
  }
}

void DiscoveryMachine::on_neighbour_message(Instant now, WallTime wall, LinkToken link,
                                            LinkState& state, Message message) {
  const PeerId from = state.peer;
  auto n = neighbours_.find(from);
  if (n == neighbours_.end() || n->second.link != link) return;
  if (auto* gossip = std::get_if<Gossip>(&message)) {
    // Fault point: the gossip is lost; lazy push (IHave, Graft) and catalog syncs recover it.
    if (fire(buggify_, "discovery.drop_gossip")) return;
    on_gossip(now, wall, link, from, *gossip);
  } else if (auto* ihave = std::get_if<IHave>(&message)) {
    // Fault point: the announcement is lost; the next announce round or a sync recovers it.
    if (fire(buggify_, "discovery.drop_ihave")) return;
    on_ihave(now, from, *ihave);
  } else if (auto* graft = std::get_if<Graft>(&message)) {
    on_graft(from, *graft);
  } else if (std::holds_alternative<Prune>(message)) {
    n->second.eager = false;
  } else if (auto* departure = std::get_if<Departure>(&message)) {
    on_departure(wall, link, from, *departure);
  } else if (std::holds_alternative<Disconnect>(message)) {
    close_link(link, env::close_code::kSuccess, "neighbour left the view");
    // It chose to drop us: do not rejoin it at once (an eviction loop otherwise).
    note_join_failed(now, from);
  } else {
    violation(link, error(StatusCode::kMalformed, "handshake message on a neighbour link"));
  }
}

void DiscoveryMachine::on_gossip(Instant, WallTime wall, LinkToken link, const PeerId& from,
                                 const Gossip& gossip) {
  ++stats_.gossip_received;
  const bool own = gossip.entry.entry.id() == local_.entry.id();
  Result<Upsert> outcome =
      own ? Result<Upsert>(Upsert::kNotNewer) : accept_entry(wall, gossip.entry);
  if (!outcome.is_ok()) return;  // refused (drift, network, signature): counted, not spread
  Neighbour& n = neighbours_.at(from);
  if (*outcome == Upsert::kNotNewer) {
    // A copy we already had: this path is redundant, move it to lazy push.
    ++stats_.duplicates;
    if (n.eager) {
      n.eager = false;
      ++stats_.prunes_sent;
      send(link, Prune{});
    }
    return;
  }
  n.eager = true;
  broadcast(gossip.entry, &from);
}

void DiscoveryMachine::on_ihave(Instant now, const PeerId& from, const IHave& ihave) {
  for (const Stamp& stamp : ihave.stamps) {
    if (stamp.peer == local_.entry.id() || catalog_.departed(stamp.peer, stamp.version)) continue;
    const SignedPeerEntry* known = catalog_.get_signed(stamp.peer);
    if (known && known->entry.version >= stamp.version) continue;
    auto it = missing_.find(stamp);
    if (it == missing_.end()) {
      if (missing_.size() >= kMaxMissing) continue;
      const Instant deadline = now + config_.graft_timeout;
      missing_.emplace(stamp, Missing{deadline, {from}});
      missing_deadlines_.emplace(deadline, stamp);
    } else if (it->second.sources.size() < kMaxSourcesPerMissing) {
      it->second.sources.push_back(from);
    }
  }
}

void DiscoveryMachine::expire_missing(Instant now) {
  while (!missing_deadlines_.empty() && missing_deadlines_.begin()->first <= now) {
    const Stamp stamp = missing_deadlines_.begin()->second;
    missing_deadlines_.erase(missing_deadlines_.begin());
    auto it = missing_.find(stamp);
    SMALTI_ASSERT(it != missing_.end());
    Missing& m = it->second;
    // Ask the first announcer still in the view for it, and make its path eager again.
    while (!m.sources.empty()) {
      const PeerId source = m.sources.front();
      m.sources.pop_front();
      auto n = neighbours_.find(source);
      if (n == neighbours_.end()) continue;
      n->second.eager = true;
      ++stats_.grafts_sent;
      send(n->second.link, Graft{stamp});
      break;
    }
    if (m.sources.empty()) {
      missing_.erase(it);
    } else {
      m.deadline = now + config_.graft_timeout;
      missing_deadlines_.emplace(m.deadline, stamp);
    }
  }
}

void DiscoveryMachine::forget_missing_source(const PeerId& peer) {
  for (auto& [stamp, m] : missing_) std::erase(m.sources, peer);
}

void DiscoveryMachine::on_graft(const PeerId& from, const Graft& graft) {
  Neighbour& n = neighbours_.at(from);
  n.eager = true;
  const SignedPeerEntry* entry =
      graft.stamp.peer == local_.entry.id() ? &local_ : catalog_.get_signed(graft.stamp.peer);
  if (entry && entry->entry.version >= graft.stamp.version) send(n.link, Gossip{*entry});
}

void DiscoveryMachine::on_departure(WallTime wall, LinkToken link, const PeerId& from,
                                    const Departure& departure) {
  if (departure.peer == local_.entry.id()) return;
  const WallTime at = WallTime::from_unix_nanos(departure.at_ms * 1'000'000);
  if (at > wall + config_.max_time_drift || at < wall - config_.max_time_drift) {
    ++stats_.entries_rejected;
    return;
  }
  if (catalog_.departed(departure.peer, departure.last_version)) return;  // seen already
  if (auto status = departure.verify(); !status.is_ok()) {
    return violation(link, status);  // neighbours verify before they forward
  }
  if (catalog_.depart(wall, departure.peer, departure.last_version)) {
    rtt_.erase(departure.peer);
    ++catalog_version_;
    deliver_event(PeerDeparted{departure.peer});
  }
  for (const auto& [peer, n] : neighbours_) {
    if (peer != from && peer != departure.peer) send(n.link, departure);
  }
  if (neighbours_.count(departure.peer)) {
    close_link(neighbours_.at(departure.peer).link, env::close_code::kSuccess, "peer departed");
  }
}

}  // namespace smalti::discovery
