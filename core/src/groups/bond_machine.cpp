#include "smalti/groups/bond_machine.hpp"

namespace smalti::groups {

BondMachine::BondMachine(const BondConfig& config, LinkToken link, const PeerId& remote,
                         const Digest& link_secret, Instant now, std::uint64_t seed)
    : MachineBase(now, config.max_pending_effects),
      config_(config),
      link_(link),
      remote_(remote),
      link_secret_(link_secret),
      rng_(seed),
      last_received_(now),
      last_sent_(now) {
  SMALTI_ASSERT(config.max_pending_effects >= 4, "a bond needs room for the effects of an input");
}

BondMachine BondMachine::initiate(const BondConfig& config, LinkToken link, const PeerId& remote,
                                  const Digest& link_secret, std::vector<PeerId> bonds, Instant now,
                                  std::uint64_t seed) {
  BondMachine m(config, link, remote, link_secret, now, seed);
  m.check_at_ = now + config.handshake_timeout;
  m.send(now, Hello{config.network, config.group,
                    bond_proof(config.key_secret, link_secret, config.self), config.observer,
                    config.incarnation, std::move(bonds)});
  return m;
}

BondMachine BondMachine::accept(const BondConfig& config, LinkToken link, const PeerId& remote,
                                const Digest& link_secret, Hello hello, std::vector<PeerId> bonds,
                                Instant now, std::uint64_t seed) {
  BondMachine m(config, link, remote, link_secret, now, seed);
  if (hello.network != config.network) {
    m.close(bond_close::kDifferentNetwork, "different network");
  } else if (hello.group != config.group) {
    m.close(bond_close::kGroupNotFound, "group not found");
  } else if (hello.proof != m.expected_proof()) {
    m.close(bond_close::kInvalidProof, "invalid proof of the group key");
  } else {
    m.send(now, Welcome{bond_proof(config.key_secret, link_secret, config.self), config.observer,
                        config.incarnation, std::move(bonds)});
    m.come_up(now, hello.observer, hello.incarnation, std::move(hello.bonds));
  }
  return m;
}

void BondMachine::come_up(Instant now, bool observer, std::uint64_t incarnation,
                          std::vector<PeerId> bonds) {
  state_ = State::kUp;
  remote_observer_ = observer;
  remote_incarnation_ = incarnation;
  last_received_ = now;
  last_sent_ = now;
  const auto& c = config_.consensus;
  ping_wait_ = c.heartbeat_interval - rng_.duration_between(Duration::zero(), c.heartbeat_jitter);
  check_at_ = std::min(ping_due(), liveness_due());
  emit(bond_effect::Up{observer, incarnation, std::move(bonds)});
}

void BondMachine::close(std::uint32_t code, std::string reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  check_at_ = Instant::max();
  emit(effect::Close{link_, code, std::move(reason)});
}

void BondMachine::send(Instant now, const GroupMessage& message) {
  emit(effect::Send{link_, encode(message)});
  last_sent_ = now;
}

void BondMachine::note_sent(Instant now) {
  advance(now);
  if (state_ == State::kUp) last_sent_ = now;
}

void BondMachine::handle_message(Instant now, GroupMessage message) {
  advance(now);
  if (state_ == State::kClosed || !admit_peer_input()) return;
  last_received_ = now;
  if (state_ == State::kHandshake) {
    auto* welcome = std::get_if<Welcome>(&message);
    if (!welcome) {
      close(bond_close::kProtocolViolation, "expected Welcome");
    } else if (fire(config_.buggify, "bond.handshake_timeout")) {
      // Fault point: the Welcome came too late, after the handshake had timed out; the session
      // dials again.
      close(bond_close::kTimeout, "handshake timed out");
    } else if (welcome->proof != expected_proof()) {
      close(bond_close::kInvalidProof, "invalid proof of the group key");
    } else {
      come_up(now, welcome->observer, welcome->incarnation, std::move(welcome->bonds));
    }
    return;
  }
  if (std::holds_alternative<Ping>(message)) {
    send(now, Pong{});
  } else if (std::holds_alternative<Pong>(message)) {
    // liveness only
  } else if (std::holds_alternative<Departure>(message)) {
    close(bond_close::kDeparted, "departed");
  } else if (std::holds_alternative<Hello>(message) || std::holds_alternative<Welcome>(message)) {
    close(bond_close::kProtocolViolation, "handshake message on an established bond");
  } else {
    emit(effect::Deliver<GroupMessage>{std::move(message)});
  }
}

void BondMachine::handle_timeout(Instant now) {
  advance(now);
  if (state_ == State::kHandshake) {
    if (now >= check_at_) close(bond_close::kTimeout, "handshake timed out");
    return;
  }
  if (state_ != State::kUp || now < check_at_) return;
  if (now >= liveness_due()) {
    close(bond_close::kTimeout, "missed heartbeats");
    return;
  }
  if (now >= ping_due()) {
    send(now, Ping{});
    const auto& c = config_.consensus;
    ping_wait_ = c.heartbeat_interval - rng_.duration_between(Duration::zero(), c.heartbeat_jitter);
  }
  check_at_ = std::min(ping_due(), liveness_due());
}

// The handshake cannot complete without its frame: the bond ends at once rather than at its
// timeout. Liveness frames are counted; their loss shows, if it lasts, as missed heartbeats.
void BondMachine::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                      const Status& why) {
  advance(now);
  if (link != link_ || state_ == State::kClosed) return;
  ++refused_sends_;
  auto message = decode_group_message(frame);
  const bool handshake = message.is_ok() && (std::holds_alternative<Hello>(*message) ||
                                             std::holds_alternative<Welcome>(*message));
  if (handshake) close(bond_close::kTimeout, "the link refused the handshake: " + why.message());
}

void BondMachine::depart(Instant now) {
  advance(now);
  if (state_ == State::kUp) send(now, Departure{});
  close(bond_close::kDeparted, "departed");
}

void BondMachine::invariants() const {
  SMALTI_ASSERT(last_received_ <= last_input() && last_sent_ <= last_input(),
                "a bond heard or sent in the future");
  switch (state_) {
    case State::kClosed:
      SMALTI_ASSERT(check_at_ == Instant::max(), "a closed bond has a deadline");
      break;
    case State::kHandshake:
      SMALTI_ASSERT(check_at_ != Instant::max(), "a handshake without a deadline");
      break;
    case State::kUp:
      // The lazy deadline is never later than the work that is due.
      SMALTI_ASSERT(check_at_ <= ping_due() && check_at_ <= liveness_due(),
                    "a bond looks again after a Ping or its liveness was due");
      SMALTI_ASSERT(ping_wait_ > Duration::zero(), "a bond pings without a wait");
      break;
  }
}

}  // namespace smalti::groups
