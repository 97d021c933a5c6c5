// GroupSession: which members to dial, which link to keep, and founding eligibility (see
// group_session.hpp).
#include <algorithm>

#include "smalti/groups/group_session.hpp"

namespace smalti::groups {

std::optional<LinkToken> GroupSession::bond_link(const PeerId& peer) const {
  for (const auto& [link, state] : links_) {
    if (state.peer == peer && state.up) return link;
  }
  return std::nullopt;
}

std::optional<PeerId> GroupSession::peer_of(LinkToken link) const {
  auto it = links_.find(link);
  if (it == links_.end()) return std::nullopt;
  return it->second.peer;
}

std::vector<PeerId> GroupSession::bonded_peers() const {
  std::vector<PeerId> out;
  for (const auto& [link, state] : links_) {
    if (state.up) out.push_back(state.peer);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool GroupSession::linked(const PeerId& peer) const {
  return links_per_peer_.count(peer) != 0;
}

// The lower PeerId of a pair dials again soon; the higher leaves the other time to dial first.
Duration GroupSession::dial_wait(const PeerId& peer) const {
  return config_.self < peer ? config_.redial_after : 2 * config_.handshake_timeout;
}

void GroupSession::set_founding_allowed(bool allowed) {
  if (allowed == founding_allowed_) return;
  founding_allowed_ = allowed;
  emit(session_effect::FoundingAllowed{allowed});
}

// The catalog's view of the group: whom to dial, whose links to close, and whether this member
// may found the cluster (no member it knows of sorts before it).
void GroupSession::handle_catalog(Instant now, const std::vector<Candidate>& candidates) {
  advance(now);
  candidates_.clear();
  bool lowest = true;
  for (const Candidate& c : candidates) {
    const PeerId& peer = c.addr.id;
    if (peer == config_.self) continue;
    if (c.listed) {
      candidates_[peer] = c;
      lowest = lowest && config_.self < peer;
    }
    if (c.authorized || !linked(peer)) continue;
    std::vector<LinkToken> refused;
    for (const auto& [link, state] : links_) {
      if (state.peer == peer) refused.push_back(link);
    }
    for (LinkToken link : refused)
      close_link(link, bond_close::kNotAllowed, "ticket no longer valid");
  }
  std::erase_if(last_dial_, [&](const auto& d) { return !candidates_.count(d.first); });
  set_founding_allowed(lowest);
  dial_due(now);
}

// Dials every listed, authorized member without a link whose turn has come: the lower PeerId
// of a pair at once, the higher only after twice the handshake timeout (the lower one should
// have dialled by then); either again after dial_wait() since its last dial.
void GroupSession::dial_due(Instant now) {
  for (const auto& [peer, c] : candidates_) {
    if (links_.size() >= config_.max_links) return;
    if (!c.authorized || linked(peer)) continue;
    auto [last, first] = last_dial_.try_emplace(peer, now);
    const bool lower = config_.self < peer;
    if (!(first && lower) && now - last->second < dial_wait(peer)) continue;
    last->second = now;
    const LinkToken link = next_link_++;
    links_[link] = LinkState{peer, /*initiator=*/true, /*up=*/false};
    ++links_per_peer_[peer];
    emit(effect::Connect{link, c.addr, kAlpn});
  }
}

bool GroupSession::handle_hello(Instant now, LinkToken link, const PeerId& peer, bool authorized,
                                bool known) {
  advance(now);
  SMALTI_ASSERT(!links_.count(link), "a Hello on a link the session already has");
  if (links_.size() >= config_.max_links) {
    emit(effect::Close{link, bond_close::kNotAllowed, "too many bonds"});
    return false;
  }
  if (!authorized) {
    emit(effect::Close{link, known ? bond_close::kNotAllowed : bond_close::kUnknownPeer,
                       "not allowed in the group"});
    return false;
  }
  links_[link] = LinkState{peer, /*initiator=*/false, /*up=*/false};
  ++links_per_peer_[peer];
  return true;
}

void GroupSession::handle_bond_up(Instant now, LinkToken link,
                                  const std::vector<PeerId>& remote_bonds) {
  advance(now);
  auto it = links_.find(link);
  if (it == links_.end() || it->second.up) return;
  it->second.up = true;
  const PeerId peer = it->second.peer;
  resolve_duplicates(link);
  if (!links_.count(link)) return;
  // Topology: the others may bond with the new member, and this one with the remote's bonds.
  for (const PeerId& other : bonded_peers()) {
    if (other != peer) send(*bond_link(other), BondFormed{peer});
  }
  for (const PeerId& p : remote_bonds) {
    if (p != config_.self) last_dial_.erase(p);
  }
  dial_due(now);
}

// Two links to one peer (both dialled at once): keep the one the lower PeerId initiated.
void GroupSession::resolve_duplicates(LinkToken up_link) {
  const PeerId peer = links_.at(up_link).peer;
  if (links_per_peer_.at(peer) < 2) return;
  const bool keep_ours = config_.self < peer;
  std::vector<LinkToken> dropped;
  for (const auto& [link, state] : links_) {
    if (state.peer == peer && state.initiator != keep_ours) dropped.push_back(link);
  }
  for (LinkToken link : dropped) close_link(link, bond_close::kAlreadyBonded, "already bonded");
}

void GroupSession::close_link(LinkToken link, std::uint32_t code, const std::string& reason) {
  emit(effect::Close{link, code, reason});
  forget_link(link, error(StatusCode::kUnavailable,
                          "offline: the bond to the leader closed (" + reason + ")"));
}

void GroupSession::forget_link(LinkToken link, const Status& why) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  const PeerId peer = it->second.peer;
  links_.erase(it);
  if (--links_per_peer_.at(peer) == 0) links_per_peer_.erase(peer);
  fail_forwarded(link, why);
}

void GroupSession::handle_link_down(Instant now, LinkToken link) {
  advance(now);
  if (!links_.count(link)) return;
  forget_link(link, error(StatusCode::kUnavailable, "offline: the bond to the leader dropped"));
  dial_due(now);
}

// Called after every input: candidates_, links_per_peer_ and last_dial_ are all ordered by
// PeerId, so one walk over the three finds what each candidate needs, without a lookup each.
Instant GroupSession::next_deadline() const {
  Instant next = deadlines_.empty() ? Instant::max() : deadlines_.begin()->first;
  if (links_.size() >= config_.max_links) return next;
  auto linked = links_per_peer_.begin();
  auto dialled = last_dial_.begin();
  for (const auto& [peer, c] : candidates_) {
    while (linked != links_per_peer_.end() && linked->first < peer) ++linked;
    if (!c.authorized || (linked != links_per_peer_.end() && linked->first == peer)) continue;
    while (dialled != last_dial_.end() && dialled->first < peer) ++dialled;
    // A member not looked at since a hint or a free link slot: due now.
    const bool seen = dialled != last_dial_.end() && dialled->first == peer;
    next = std::min(next, seen ? dialled->second + dial_wait(peer) : last_input());
  }
  return next;
}

}  // namespace smalti::groups
