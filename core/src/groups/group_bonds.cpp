// GroupWorker bonds: links from the router to their BondMachines and the session, and the
// bonds' effects back out. The session decides whom to dial and which links to close.
#include <algorithm>

#include "group_router.hpp"
#include "smalti/groups/detail/group_worker.hpp"

namespace smalti::groups::detail {

bool GroupWorker::authorized(const PeerId& peer) const {
  if (spec_.validators.empty()) return true;
  auto entry = discovery_.get(peer);
  return entry && tickets::validate_tickets(*entry, spec_.validators, node_.wall_now()).is_ok();
}

std::vector<RaftPeer> GroupWorker::raft_peers() const {
  std::vector<RaftPeer> peers;
  for (const auto& [link, bond] : bonds_) {
    if (bond->machine && bond->machine->state() == BondMachine::State::kUp && !bond->closing) {
      peers.push_back(RaftPeer{bond->peer, bond->machine->remote_observer(),
                               bond->machine->remote_incarnation()});
    }
  }
  return peers;
}

// The catalog's members of the group, and bonded peers whose tickets are to be checked again.
void GroupWorker::refresh_catalog() {
  if (!router_) return;
  std::vector<Candidate> candidates;
  std::set<PeerId> listed;
  for (const discovery::PeerEntry& entry : discovery_.signed_peers()) {
    if (!entry.groups.count(id_)) continue;
    listed.insert(entry.id());
    candidates.push_back(Candidate{entry.address, true, authorized(entry.id())});
  }
  if (!spec_.validators.empty()) {
    for (const PeerId& peer : session_->bonded_peers()) {
      if (!listed.count(peer))
        candidates.push_back(Candidate{PeerAddr{peer, {}}, false, authorized(peer)});
    }
  }
  session_->handle_catalog(node_.now(), candidates);
  pump();
}

// Tickets expire with the wall clock, not with a catalog change: with validators, the catalog
// is looked at again every heartbeat interval.
void GroupWorker::arm_ticket_check() {
  if (router_ && !spec_.validators.empty()) {
    ticket_timer_.arm(node_.now() + spec_.consensus.heartbeat_interval);
  }
}

GroupWorker::Bond& GroupWorker::add_bond(LinkToken link, const PeerId& peer) {
  auto bond = std::make_unique<Bond>(node_.executor(), [this, link] {
    auto it = bonds_.find(link);
    if (it == bonds_.end() || !it->second->machine) return;
    it->second->machine->handle_timeout(node_.now());
    dirty_bonds_.insert(link);
    pump();
  });
  bond->peer = peer;
  return *bonds_.insert_or_assign(link, std::move(bond)).first->second;
}

void GroupWorker::on_connected(LinkToken link) {
  auto it = bonds_.find(link);
  if (it == bonds_.end() || !router_) return;
  auto secret = router_->link_secret(link, id_);
  auto remote = router_->remote(link);
  if (!secret || !remote || *remote != it->second->peer) {
    drop_bond(link, bond_close::kUnknownPeer, "unexpected remote");
    session_->handle_link_down(node_.now(), link);
    pump();
    return;
  }
  bond_config_.incarnation = raft_->hard_state().incarnation;
  it->second->machine =
      BondMachine::initiate(bond_config_, link, it->second->peer, *secret, session_->bonded_peers(),
                            node_.now(), rng_.next_u64());
  dirty_bonds_.insert(link);
  pump();
}

void GroupWorker::on_hello(LinkToken link, const PeerId& remote, Hello hello) {
  if (!router_) return;
  const bool known = discovery_.get(remote).has_value();
  if (!session_->handle_hello(node_.now(), link, remote, authorized(remote), known)) {
    pump();  // the session's Close
    return;
  }
  auto secret = router_->link_secret(link, id_);
  if (!secret) {
    session_->handle_link_down(node_.now(), link);
    router_->close(link, bond_close::kProtocolViolation, "no link secret");
    pump();
    return;
  }
  bond_config_.incarnation = raft_->hard_state().incarnation;
  Bond& bond = add_bond(link, remote);
  bond.machine = BondMachine::accept(bond_config_, link, remote, *secret, std::move(hello),
                                     session_->bonded_peers(), node_.now(), rng_.next_u64());
  dirty_bonds_.insert(link);
  pump();
}

void GroupWorker::on_message(LinkToken link, GroupMessage message) {
  auto it = bonds_.find(link);
  if (it == bonds_.end() || !it->second->machine) return;
  it->second->machine->handle_message(node_.now(), std::move(message));
  dirty_bonds_.insert(link);
  pump();
}

void GroupWorker::on_down(LinkToken link) {
  auto it = bonds_.find(link);
  if (it == bonds_.end()) return;
  const bool was_up =
      it->second->machine && it->second->machine->state() == BondMachine::State::kUp;
  it->second->timer.disarm();
  retired_.push_back(std::move(it->second));
  bonds_.erase(it);
  dirty_bonds_.erase(link);
  session_->handle_link_down(node_.now(), link);
  peers_changed_ = peers_changed_ || was_up;
  pump();
}

// Closes the link and forgets its bond (kept alive until the pump ends: its timer may be the
// caller).
void GroupWorker::drop_bond(LinkToken link, std::uint32_t code, const std::string& reason) {
  auto it = bonds_.find(link);
  if (router_) router_->close(link, code, reason);
  if (it == bonds_.end()) return;
  const bool was_up =
      it->second->machine && it->second->machine->state() == BondMachine::State::kUp;
  it->second->timer.disarm();
  retired_.push_back(std::move(it->second));
  bonds_.erase(it);
  dirty_bonds_.erase(link);
  peers_changed_ = peers_changed_ || was_up;
}

// Sends `frame` on `link`; a refusal goes to `refused` (the machine that sent it). A frame of
// Raft or the session counts as traffic for the bond's own Ping.
void GroupWorker::send_on(LinkToken link, Bytes frame,
                          const std::function<void(Bytes&, const Status&)>& refused) {
  if (!router_) return;
  Status sent = router_->send(link, frame);
  if (!sent.is_ok()) {
    refused(frame, sent);
    return;
  }
  auto it = bonds_.find(link);
  if (it != bonds_.end() && it->second->machine) it->second->machine->note_sent(node_.now());
}

void GroupWorker::run_bonds() {
  while (!dirty_bonds_.empty() && router_) {
    const LinkToken link = *dirty_bonds_.begin();
    dirty_bonds_.erase(dirty_bonds_.begin());
    auto it = bonds_.find(link);
    if (it == bonds_.end() || !it->second->machine) continue;
    Bond& bond = *it->second;
    run_machine(*bond.machine, bond.timer,
                [&](BondEffect e) { execute_bond(link, bond, std::move(e)); });
    if (bond.closing) {
      const auto& closed = bond.closing_reason;
      drop_bond(link, closed.code, closed.reason);
      session_->handle_link_down(node_.now(), link);
    }
  }
}

void GroupWorker::execute_bond(LinkToken link, Bond& bond, BondEffect effect) {
  const Instant now = node_.now();
  if (auto* send = std::get_if<effect::Send>(&effect)) {
    if (!router_) return;
    Status sent = router_->send(link, send->frame);
    if (!sent.is_ok()) bond.machine->handle_send_refused(now, link, send->frame, sent);
  } else if (auto* deliver = std::get_if<effect::Deliver<GroupMessage>>(&effect)) {
    if (auto* raft = std::get_if<RaftFrame>(&deliver->value)) {
      raft_->handle_message(now, bond.peer, raft->message);
    } else {
      session_->handle_message(now, link, std::move(deliver->value));
    }
  } else if (auto* up = std::get_if<bond_effect::Up>(&effect)) {
    session_->handle_bond_up(now, link, up->bonds);
    peers_changed_ = true;
  } else if (auto* close = std::get_if<effect::Close>(&effect)) {
    // Dropped once the bond's run ends (the machine is running now).
    bond.closing = true;
    bond.closing_reason = std::move(*close);
  }
}

}  // namespace smalti::groups::detail
