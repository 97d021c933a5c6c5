// DiscoveryMachine: construction, timers, commands, probes, purge and the view's upkeep.
#include <algorithm>

#include "smalti/discovery/discovery_machine.hpp"

namespace smalti::discovery {

DiscoveryMachine::DiscoveryMachine(Config config, const SecretKey& key, PeerAddr self,
                                   std::uint64_t seed, std::size_t effect_limit)
    : MachineBase(Instant{}, effect_limit),
      config_(std::move(config)),
      key_(key),
      catalog_(CatalogConfig{config_.network, config_.max_time_drift, config_.purge_after,
                             config_.max_entries},
               key.peer_id()),
      rng_(seed) {
  SMALTI_ASSERT(self.id == key.peer_id(), "the address is not this node's");
  SMALTI_ASSERT(config_.active_view >= 1 && config_.max_active_view >= config_.active_view);
  local_.entry.address = std::move(self);
}

const char* channel_alpn(Channel channel) {
  return channel == Channel::kAnnounce ? kAnnounceAlpn : kSyncAlpn;
}

void DiscoveryMachine::send(LinkToken link, const Message& message) {
  emit(effect::Send{link, encode(message)});
}

void DiscoveryMachine::close_link(LinkToken link, std::uint32_t code, std::string reason) {
  if (!links_.count(link)) return;
  forget_link(link, error(StatusCode::kCancelled, reason));
  emit(effect::Close{link, code, std::move(reason)});
  maintain_at_ = std::min(maintain_at_, now());
}

void DiscoveryMachine::violation(LinkToken link, const Status& why) {
  ++stats_.violations;
  close_link(link, env::close_code::kProtocolViolation, why.message());
}

bool DiscoveryMachine::forget_link(LinkToken link, const Status& reason) {
  auto it = links_.find(link);
  if (it == links_.end()) return false;
  const LinkState& state = it->second;
  bool was_neighbour = false;
  if (auto n = neighbours_.find(state.peer); n != neighbours_.end() && n->second.link == link) {
    neighbours_.erase(n);
    forget_missing_source(state.peer);
    was_neighbour = true;
  }
  if (auto j = joining_.find(state.peer); j != joining_.end() && j->second == link) {
    joining_.erase(j);
  }
  if (state.sync_id) emit(SyncDone{*state.sync_id, reason});
  links_.erase(it);
  return was_neighbour;
}

void DiscoveryMachine::start(Instant now, WallTime wall) {
  advance(now);
  SMALTI_ASSERT(!started_, "started twice");
  started_ = true;
  PeerEntry entry = make_entry(config_.network, local_.entry.address, wall);
  entry.tags = config_.tags;
  local_ = SignedPeerEntry::sign(std::move(entry), key_).value();
  ++catalog_version_;
  announce_at_ = now + jittered(config_.announce_interval, config_.announce_jitter);
  probe_at_ = now + jittered(config_.rtt_probe_interval, 0.5);
  purge_at_ = now + std::max<Duration>(1s, config_.purge_after / 8);
  for (const PeerAddr& addr : config_.bootstrap) {
    if (auto resolved = resolve_bootstrap(addr, wall)) {
      join(now, wall, *resolved, false);
    } else {
      unresolved_bootstrap_.insert(addr.id);
    }
  }
  maintain_view(now, wall);
}

std::optional<PeerAddr> DiscoveryMachine::resolve_bootstrap(const PeerAddr& addr,
                                                            WallTime wall) const {
  if (!addr.addresses.empty()) return addr;
  if (const SignedPeerEntry* e = catalog_.get_signed(addr.id)) {
    if (!catalog_.is_stale(wall, e->entry)) return e->entry.address;
  }
  auto u = catalog_.unsigned_entries().find(addr.id);
  if (u != catalog_.unsigned_entries().end() && !u->second.address.addresses.empty()) {
    return u->second.address;
  }
  return std::nullopt;
}

void DiscoveryMachine::join_resolved_bootstrap(Instant now, WallTime wall) {
  for (auto it = unresolved_bootstrap_.begin(); it != unresolved_bootstrap_.end();) {
    auto resolved = resolve_bootstrap(PeerAddr{*it, {}}, wall);
    if (!resolved) {
      ++it;
      continue;
    }
    if (!neighbours_.count(*it) && !joining_.count(*it)) join(now, wall, *resolved, false);
    it = unresolved_bootstrap_.erase(it);
  }
}

void DiscoveryMachine::note_catalog_knows(const PeerId& peer) {
  if (unresolved_bootstrap_.count(peer)) maintain_at_ = std::min(maintain_at_, now());
}

Duration DiscoveryMachine::jittered(Duration base, double jitter) {
  const auto spread = static_cast<std::int64_t>(static_cast<double>(base.count()) * jitter);
  if (spread <= 0) return base;
  return base + Duration(rng_.between(-spread, spread));
}

void DiscoveryMachine::reannounce(Instant now, WallTime wall) {
  local_.entry.bump_version(wall);
  local_ = SignedPeerEntry::sign(std::move(local_.entry), key_).value();
  ++catalog_version_;
  broadcast(local_, nullptr);
  announce_at_ = now + jittered(config_.announce_interval, config_.announce_jitter);
}

void DiscoveryMachine::handle_timeout(Instant now, WallTime wall) {
  advance(now);
  if (departed_ || !started_) return;
  if (now >= flush_at_) flush_lazy();
  expire_missing(now);
  expire_handshakes(now, wall);
  if (now >= announce_at_) {
    if (fire(buggify_, "discovery.skip_announce")) {
      // Fault point: this round is late (a busy node); the next one comes an interval later.
      announce_at_ = now + jittered(config_.announce_interval, config_.announce_jitter);
    } else {
      reannounce(now, wall);
      rotate_view(now, wall);
    }
    if (fire(buggify_, "discovery.force_sync")) force_sync(wall);
  }
  if (now >= probe_at_) run_probes(now, wall);
  if (now >= purge_at_) purge(now, wall);
  if (now >= maintain_at_) maintain_view(now, wall);
}

// A full catalog exchange with a peer of the catalog picked at random, outside any schedule (as a
// node that suspects it missed gossip would ask for). The link closes itself once done.
void DiscoveryMachine::force_sync(WallTime wall) {
  std::vector<const PeerAddr*> peers;
  for (const auto& [id, e] : catalog_.signed_entries()) {
    if (id != local_.entry.id() && !catalog_.is_stale(wall, e.entry))
      peers.push_back(&e.entry.address);
  }
  if (peers.empty()) return;
  open_link(*peers[rng_.below(peers.size())], Channel::kSync);
}

Instant DiscoveryMachine::next_deadline() const {
  if (departed_ || !started_) return Instant::max();
  Instant next = std::min({announce_at_, probe_at_, purge_at_, maintain_at_, flush_at_});
  if (!missing_deadlines_.empty()) next = std::min(next, missing_deadlines_.begin()->first);
  for (const auto& [token, state] : links_) next = std::min(next, state.deadline);
  return next;
}

void DiscoveryMachine::run_probes(Instant now, WallTime wall) {
  probe_at_ = now + config_.rtt_probe_interval / 2 +
              Duration(rng_.between(0, config_.rtt_probe_interval.count()));
  const auto& entries = catalog_.signed_entries();
  if (entries.empty()) return;
  // Round-robin from where the last round stopped, so every peer is measured in turn.
  auto it = entries.upper_bound(probe_cursor_);
  for (std::size_t probed = 0, seen = 0;
       probed < config_.max_probes_per_round && seen < entries.size(); ++seen) {
    if (it == entries.end()) it = entries.begin();
    if (!catalog_.is_stale(wall, it->second.entry)) {
      emit(Probe{it->second.entry.address});
      ++probed;
    }
    probe_cursor_ = it->first;
    ++it;
  }
}

void DiscoveryMachine::purge(Instant now, WallTime wall) {
  purge_at_ = now + std::max<Duration>(1s, config_.purge_after / 8);
  for (const PeerId& peer : catalog_.purge(wall)) {
    rtt_.erase(peer);
    ++catalog_version_;
    deliver_event(PeerDeparted{peer});
  }
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    it = it->second.retry_at <= now ? backoff_.erase(it) : std::next(it);
  }
}

std::optional<PeerAddr> DiscoveryMachine::pick_candidate(Instant now, WallTime wall) {
  auto eligible = [&](const PeerId& id) {
    if (id == local_.entry.id() || neighbours_.count(id) || joining_.count(id)) return false;
    auto b = backoff_.find(id);
    return b == backoff_.end() || b->second.retry_at <= now;
  };
  // One pass of reservoir sampling over every source of addresses.
  std::optional<PeerAddr> chosen;
  std::uint64_t seen = 0;
  auto consider = [&](const PeerAddr& addr) {
    if (!eligible(addr.id)) return;
    if (rng_.below(++seen) == 0) chosen = addr;
  };
  for (const auto& [id, e] : catalog_.signed_entries()) {
    if (!catalog_.is_stale(wall, e.entry)) consider(e.entry.address);
  }
  for (const auto& [id, e] : catalog_.unsigned_entries()) consider(e.address);
  for (const PeerAddr& addr : config_.bootstrap) {
    if (catalog_.get_signed(addr.id) || addr.addresses.empty()) continue;  // considered above
    consider(addr);
  }
  for (const auto& [id, addr] : dialed_) {
    if (!catalog_.get_signed(id)) consider(addr);
  }
  return chosen;
}

void DiscoveryMachine::maintain_view(Instant now, WallTime wall) {
  maintain_at_ = Instant::max();
  if (departed_ || !started_) return;
  join_resolved_bootstrap(now, wall);
  while (neighbours_.size() + joining_.size() < config_.active_view) {
    auto candidate = pick_candidate(now, wall);
    if (!candidate) break;
    join(now, wall, *candidate, false);
  }
  // Below the target: look again soon (backoffs expire, the catalog grows).
  if (neighbours_.size() < config_.active_view) maintain_at_ = now + config_.join_backoff_min;
}

void DiscoveryMachine::rotate_view(Instant now, WallTime wall) {
  if (neighbours_.size() < config_.active_view || !joining_.empty()) return;
  if (auto candidate = pick_candidate(now, wall)) join(now, wall, *candidate, true);
}

void DiscoveryMachine::note_join_failed(Instant now, const PeerId& peer) {
  auto it = backoff_.find(peer);
  if (it == backoff_.end()) {
    if (backoff_.size() >= config_.max_entries) return;
    it = backoff_.emplace(peer, Backoff{now, Duration::zero()}).first;
  }
  Backoff& b = it->second;
  b.delay = b.delay == Duration::zero() ? config_.join_backoff_min
                                        : std::min(b.delay * 2, config_.join_backoff_max);
  // Jittered (0.5x to 1.5x), so nodes refused together do not all come back together.
  b.retry_at = now + b.delay / 2 + Duration(rng_.between(0, b.delay.count()));
}

void DiscoveryMachine::deliver_event(Event event) {
  emit(effect::Deliver<Event>{std::move(event)});
}

Result<Upsert> DiscoveryMachine::accept_entry(WallTime wall, const SignedPeerEntry& entry) {
  auto outcome = catalog_.upsert(wall, entry);
  if (!outcome.is_ok()) {
    ++stats_.entries_rejected;
    return outcome;
  }
  if (*outcome == Upsert::kNotNewer) return outcome;
  ++catalog_version_;
  const PeerId& peer = entry.entry.id();
  // Entries announced lazily up to this version are no longer missing.
  for (auto it = missing_.lower_bound(Stamp{peer, EntryVersion{INT64_MIN, INT64_MIN}});
       it != missing_.end() && it->first.peer == peer &&
       it->first.version <= entry.entry.version;) {
    missing_deadlines_.erase({it->second.deadline, it->first});
    it = missing_.erase(it);
  }
  dialed_.erase(peer);
  note_catalog_knows(peer);
  if (*outcome == Upsert::kNew) {
    deliver_event(PeerDiscovered{entry.entry});
  } else {
    deliver_event(PeerUpdated{entry.entry});
  }
  return outcome;
}

void DiscoveryMachine::handle_rtt_sample(Instant now, const PeerId& peer, Duration rtt) {
  advance(now);
  auto it = rtt_.find(peer);
  if (it == rtt_.end()) {
    const bool known = catalog_.get_signed(peer) || catalog_.unsigned_entries().count(peer);
    if (!known || rtt_.size() >= config_.max_entries) return;
    it = rtt_.emplace(peer, RttEstimator{}).first;
  }
  it->second.add_sample(rtt);
}

std::optional<Duration> DiscoveryMachine::rtt(const PeerId& peer) const {
  auto it = rtt_.find(peer);
  if (it == rtt_.end() || !it->second.has_sample()) return std::nullopt;
  return it->second.srtt();
}

bool DiscoveryMachine::within_max_rtt(const PeerId& peer) const {
  if (!config_.max_rtt) return true;
  auto r = rtt(peer);
  return !r || *r < *config_.max_rtt;
}

void DiscoveryMachine::dial(Instant now, WallTime wall, const std::vector<PeerAddr>& peers) {
  advance(now);
  if (departed_ || !started_) return;
  for (const PeerAddr& addr : peers) {
    if (addr.id == local_.entry.id()) continue;
    if (!catalog_.get_signed(addr.id) && dialed_.size() < kMaxDialed) dialed_[addr.id] = addr;
    backoff_.erase(addr.id);
    join(now, wall, addr, false);
  }
}

SyncId DiscoveryMachine::sync_with(Instant now, WallTime, const PeerAddr& peer) {
  advance(now);
  const SyncId id = next_sync_++;
  if (departed_ || !started_) {
    emit(SyncDone{id, error(StatusCode::kCancelled, "discovery is not running")});
  } else if (peer.id == local_.entry.id()) {
    emit(SyncDone{id, error(StatusCode::kInvalidArgument, "cannot sync with oneself")});
  } else {
    links_[open_link(peer, Channel::kSync)].sync_id = id;
  }
  return id;
}

Result<Upsert> DiscoveryMachine::feed(Instant now, WallTime wall, const SignedPeerEntry& entry) {
  advance(now);
  if (departed_ || !started_) return error(StatusCode::kCancelled, "discovery is not running");
  if (entry.entry.id() == local_.entry.id()) {
    return error(StatusCode::kFailedPrecondition, "entry of the local peer");
  }
  auto outcome = accept_entry(wall, entry);
  if (outcome.is_ok() && *outcome != Upsert::kNotNewer) broadcast(entry, nullptr);
  return outcome;
}

bool DiscoveryMachine::insert(const PeerEntry& entry) {
  if (!catalog_.insert_unsigned(entry)) return false;
  ++catalog_version_;
  note_catalog_knows(entry.id());
  return true;
}

bool DiscoveryMachine::remove(const PeerId& id) {
  if (!catalog_.remove_unsigned(id)) return false;
  ++catalog_version_;
  return true;
}

void DiscoveryMachine::clear_unsigned() {
  if (catalog_.unsigned_entries().empty()) return;
  catalog_.clear_unsigned();
  ++catalog_version_;
}

void DiscoveryMachine::depart(Instant now, WallTime wall) {
  advance(now);
  if (departed_ || !started_) return;
  const Departure departure = Departure::sign(key_, local_.entry.version, wall.unix_millis());
  for (const auto& [peer, n] : neighbours_) send(n.link, departure);
  departed_ = true;
}

std::vector<PeerId> DiscoveryMachine::neighbours() const {
  std::vector<PeerId> ids;
  for (const auto& [peer, n] : neighbours_) ids.push_back(peer);
  return ids;
}

bool DiscoveryMachine::is_eager(const PeerId& peer) const {
  auto it = neighbours_.find(peer);
  return it != neighbours_.end() && it->second.eager;
}

void DiscoveryMachine::invariants() const {
  SMALTI_ASSERT(neighbours_.size() <= config_.max_active_view, "view over its bound");
  for (const auto& [peer, n] : neighbours_) {
    auto link = links_.find(n.link);
    SMALTI_ASSERT(link != links_.end() && link->second.peer == peer && link->second.neighbour,
                  "a neighbour without its link");
    SMALTI_ASSERT(n.lazy_queue.size() <= kMaxLazyQueue);
  }
  for (const auto& [peer, link] : joining_) {
    auto it = links_.find(link);
    SMALTI_ASSERT(it != links_.end() && it->second.peer == peer && it->second.outbound);
  }
  SMALTI_ASSERT(missing_.size() == missing_deadlines_.size() && missing_.size() <= kMaxMissing);
  SMALTI_ASSERT(catalog_.get_signed(local_.entry.id()) == nullptr,
                "the local entry in the catalog");
}

}  // namespace smalti::discovery
