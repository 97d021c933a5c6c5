// GroupWorker bonds: finding members in the catalog, dialing, handshakes, one bond per peer.
#include <algorithm>

#include "smalti/groups/group_worker.hpp"
#include "smalti/groups/groups.hpp"

namespace smalti::groups {

bool GroupWorker::authorized(const PeerId& peer) const {
  if (spec_.validators.empty()) return true;
  auto entry = discovery_.get(peer);
  return entry && tickets::validate_tickets(*entry, spec_.validators, node_.wall_now()).is_ok();
}

std::vector<PeerId> GroupWorker::up_bonds() const {
  std::vector<PeerId> out;
  for (const auto& [token, bond] : bonds_) {
    if (bond.machine && bond.machine->state() == BondMachine::State::kUp) {
      out.push_back(bond.peer);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<LinkToken> GroupWorker::bond_of(const PeerId& peer) const {
  for (const auto& [token, bond] : bonds_) {
    if (bond.peer == peer && bond.machine && bond.machine->state() == BondMachine::State::kUp) {
      return token;
    }
  }
  return std::nullopt;
}

// Dials members the catalog lists that have no link yet. Of two members, the lower PeerId dials
// at once and the higher only if no bond formed for twice the handshake timeout; links that do
// cross are settled by resolve_duplicates(). Also drops bonds whose tickets stopped validating.
void GroupWorker::refresh_candidates() {
  if (!groups_) return;
  const Instant now = node_.now();
  bool lowest = true;
  for (const discovery::PeerEntry& entry : discovery_.signed_peers()) {
    const PeerId peer = entry.id();
    if (peer == node_.id() || !entry.groups.count(id_)) continue;
    lowest = lowest && node_.id() < peer;
    const bool linked = std::any_of(bonds_.begin(), bonds_.end(),
                                    [&](const auto& b) { return b.second.peer == peer; });
    if (linked || bonds_.size() >= kMaxBonds || !authorized(peer)) continue;
    auto [seen, first] = last_dial_.try_emplace(peer, now);
    const Duration wait =
        node_.id() < peer ? kRedialAfter : 2 * groups_->options().handshake_timeout;
    if ((first && node_.id() < peer) || now - seen->second >= wait) dial(peer, entry.address);
  }
  raft_->set_founding_allowed(lowest);
  if (!spec_.validators.empty()) {
    std::vector<LinkToken> refused;
    for (const auto& [token, bond] : bonds_) {
      if (bond.machine && !authorized(bond.peer)) refused.push_back(token);
    }
    for (LinkToken t : refused) drop_bond(t, bond_close::kNotAllowed, "ticket no longer valid");
  }
}

void GroupWorker::dial(const PeerId& peer, const PeerAddr& addr) {
  last_dial_[peer] = node_.now();
  const LinkToken token = groups_->connect(*this, addr);
  bonds_[token] = Bond{peer, true, std::nullopt, node_.now()};
}

void GroupWorker::on_connected(LinkToken token) {
  auto it = bonds_.find(token);
  if (it == bonds_.end() || !groups_) return;
  auto secret = groups_->link_secret(token, id_);
  auto remote = groups_->remote(token);
  if (!secret || !remote || *remote != it->second.peer) {
    drop_bond(token, bond_close::kUnknownPeer, "unexpected remote");
    return;
  }
  bond_config_.incarnation = raft_->hard_state().incarnation;
  it->second.machine = BondMachine::initiate(bond_config_, it->second.peer, *secret, up_bonds(),
                                             node_.now(), rng_.next_u64());
  run_bond(token);
}

void GroupWorker::on_hello(LinkToken token, const PeerId& remote, const Hello& hello) {
  if (!groups_) return;
  if (bonds_.size() >= kMaxBonds) {
    groups_->close(token, bond_close::kNotAllowed, "too many bonds");
    return;
  }
  if (!authorized(remote)) {
    groups_->close(token,
                   discovery_.get(remote) ? bond_close::kNotAllowed : bond_close::kUnknownPeer,
                   "not allowed in the group");
    return;
  }
  auto secret = groups_->link_secret(token, id_);
  if (!secret) {
    groups_->close(token, bond_close::kProtocolViolation, "no link secret");
    return;
  }
  bond_config_.incarnation = raft_->hard_state().incarnation;
  bonds_[token] = Bond{remote, false,
                       BondMachine::accept(bond_config_, remote, *secret, hello, up_bonds(),
                                           node_.now(), rng_.next_u64()),
                       node_.now()};
  run_bond(token);
}

void GroupWorker::on_message(LinkToken token, GroupMessage message) {
  auto it = bonds_.find(token);
  if (it == bonds_.end() || !it->second.machine) return;
  it->second.machine->handle_message(node_.now(), message);
  run_bond(token);
}

void GroupWorker::on_down(LinkToken token) {
  auto it = bonds_.find(token);
  if (it == bonds_.end()) return;
  const bool was_up = it->second.machine && it->second.machine->state() == BondMachine::State::kUp;
  bonds_.erase(it);
  if (was_up) update_raft_peers();
  arm_bond_timer();
}

void GroupWorker::drop_bond(LinkToken token, std::uint32_t code, const std::string& reason) {
  auto it = bonds_.find(token);
  if (it == bonds_.end()) return;
  const bool was_up = it->second.machine && it->second.machine->state() == BondMachine::State::kUp;
  bonds_.erase(it);
  if (groups_) groups_->close(token, code, reason);
  if (was_up) update_raft_peers();
  arm_bond_timer();
}

void GroupWorker::send_to(LinkToken token, const GroupMessage& message) {
  if (bonds_.count(token) != 0 && groups_) send_frame_to(token, encode(message));
}

void GroupWorker::send_frame_to(LinkToken token, Bytes frame) {
  auto it = bonds_.find(token);
  if (it == bonds_.end() || !groups_) return;
  (void)groups_->send_frame(token, std::move(frame));  // a failure shows as the link going down
  if (it->second.machine) it->second.machine->note_sent(node_.now());
}

// Two links to one peer (both dialed at once): keep the one the lower PeerId initiated.
void GroupWorker::resolve_duplicates(const PeerId& peer) {
  std::vector<LinkToken> tokens;
  for (const auto& [token, bond] : bonds_) {
    if (bond.peer == peer) tokens.push_back(token);
  }
  if (tokens.size() < 2) return;
  const bool keep_ours = node_.id() < peer;
  for (LinkToken t : tokens) {
    if (bonds_.at(t).initiator != keep_ours)
      drop_bond(t, bond_close::kAlreadyBonded, "already bonded");
  }
}

void GroupWorker::run_bond(LinkToken token) {
  while (groups_) {
    auto it = bonds_.find(token);
    if (it == bonds_.end() || !it->second.machine) break;
    auto effect = it->second.machine->poll_effect();
    if (!effect) break;
    const PeerId peer = it->second.peer;
    if (auto* send = std::get_if<bond_effect::SendFrame>(&*effect)) {
      (void)groups_->send(token, send->message);
    } else if (auto* up = std::get_if<bond_effect::Up>(&*effect)) {
      resolve_duplicates(peer);
      if (!bonds_.count(token)) break;
      for (PeerId other : up_bonds()) {
        if (other != peer) send_to(*bond_of(other), BondFormed{peer});
      }
      for (const PeerId& p : up->bonds) {
        if (p != node_.id()) last_dial_.erase(p);  // a member we may not have met yet
      }
      update_raft_peers();
      refresh_candidates();
    } else if (auto* deliver = std::get_if<bond_effect::Deliver>(&*effect)) {
      if (auto* raft = std::get_if<RaftFrame>(&deliver->message)) {
        raft_->handle_message(node_.now(), peer, raft->message);
        run_raft();
      } else if (auto* formed = std::get_if<BondFormed>(&deliver->message)) {
        if (formed->peer != node_.id()) last_dial_.erase(formed->peer);
        refresh_candidates();
      } else {
        on_forward(token, std::move(deliver->message));
      }
    } else if (auto* closed = std::get_if<bond_effect::Closed>(&*effect)) {
      drop_bond(token, closed->code, closed->reason);
      break;
    }
  }
  arm_bond_timer();
}

void GroupWorker::arm_bond_timer() {
  if (!groups_) return;
  Instant next = Instant::max();
  for (const auto& [token, bond] : bonds_) {
    if (bond.machine) next = std::min(next, bond.machine->next_deadline());
  }
  bond_timer_.arm(next);
}

void GroupWorker::on_bond_timer() {
  std::vector<LinkToken> due;
  for (const auto& [token, bond] : bonds_) {
    if (bond.machine && bond.machine->next_deadline() <= node_.now()) due.push_back(token);
  }
  for (LinkToken t : due) {
    auto it = bonds_.find(t);
    if (it == bonds_.end()) continue;
    it->second.machine->handle_timeout(node_.now());
    run_bond(t);
  }
  arm_bond_timer();
}

}  // namespace smalti::groups
