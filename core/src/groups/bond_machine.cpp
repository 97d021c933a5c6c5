#include "smalti/groups/bond_machine.hpp"

namespace smalti::groups {

BondMachine::BondMachine(const BondConfig& config, const PeerId& remote, const Digest& link_secret,
                         Instant now, std::uint64_t seed)
    : config_(config),
      remote_(remote),
      link_secret_(link_secret),
      rng_(seed),
      last_received_(now) {}

BondMachine BondMachine::initiate(const BondConfig& config, const PeerId& remote,
                                  const Digest& link_secret, std::vector<PeerId> bonds, Instant now,
                                  std::uint64_t seed) {
  BondMachine m(config, remote, link_secret, now, seed);
  m.handshake_deadline_ = now + config.handshake_timeout;
  m.send(now, Hello{config.network, config.group,
                    bond_proof(config.key_secret, link_secret, config.self), config.observer,
                    config.incarnation, std::move(bonds)});
  return m;
}

BondMachine BondMachine::accept(const BondConfig& config, const PeerId& remote,
                                const Digest& link_secret, const Hello& hello,
                                std::vector<PeerId> bonds, Instant now, std::uint64_t seed) {
  BondMachine m(config, remote, link_secret, now, seed);
  if (hello.network != config.network) {
    m.close(bond_close::kDifferentNetwork, "different network");
  } else if (hello.group != config.group) {
    m.close(bond_close::kGroupNotFound, "group not found");
  } else if (hello.proof != m.expected_proof()) {
    m.close(bond_close::kInvalidProof, "invalid proof of the group key");
  } else {
    m.send(now, Welcome{bond_proof(config.key_secret, link_secret, config.self), config.observer,
                        config.incarnation, std::move(bonds)});
    m.come_up(now, hello.observer, hello.incarnation, hello.bonds);
  }
  return m;
}

void BondMachine::come_up(Instant now, bool observer, std::uint64_t incarnation,
                          std::vector<PeerId> bonds) {
  state_ = State::kUp;
  remote_observer_ = observer;
  remote_incarnation_ = incarnation;
  handshake_deadline_ = Instant::max();
  last_received_ = now;
  schedule_ping(now);
  effects_.push_back(bond_effect::Up{observer, incarnation, std::move(bonds)});
}

void BondMachine::close(std::uint32_t code, std::string reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  handshake_deadline_ = ping_at_ = Instant::max();
  effects_.push_back(bond_effect::Closed{code, std::move(reason)});
}

void BondMachine::send(Instant now, GroupMessage message) {
  effects_.push_back(bond_effect::SendFrame{std::move(message)});
  if (state_ == State::kUp) schedule_ping(now);
}

void BondMachine::note_sent(Instant now) {
  if (state_ == State::kUp) schedule_ping(now);
}

void BondMachine::schedule_ping(Instant now) {
  const auto& c = config_.consensus;
  ping_at_ =
      now + c.heartbeat_interval - rng_.duration_between(Duration::zero(), c.heartbeat_jitter);
}

void BondMachine::handle_message(Instant now, const GroupMessage& message) {
  if (state_ == State::kClosed) return;
  last_received_ = now;
  if (state_ == State::kHandshake) {
    const auto* welcome = std::get_if<Welcome>(&message);
    if (!welcome) {
      close(bond_close::kProtocolViolation, "expected Welcome");
    } else if (welcome->proof != expected_proof()) {
      close(bond_close::kInvalidProof, "invalid proof of the group key");
    } else {
      come_up(now, welcome->observer, welcome->incarnation, welcome->bonds);
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
    effects_.push_back(bond_effect::Deliver{message});
  }
}

void BondMachine::handle_timeout(Instant now) {
  if (state_ == State::kHandshake && now >= handshake_deadline_) {
    close(bond_close::kTimeout, "handshake timed out");
    return;
  }
  if (state_ != State::kUp) return;
  if (now - last_received_ >= config_.consensus.bond_timeout()) {
    close(bond_close::kTimeout, "missed heartbeats");
    return;
  }
  if (now >= ping_at_) send(now, Ping{});
}

void BondMachine::depart(Instant now) {
  if (state_ == State::kUp) send(now, Departure{});
  close(bond_close::kDeparted, "departed");
}

std::optional<BondEffect> BondMachine::poll_effect() {
  if (effects_.empty()) return std::nullopt;
  BondEffect e = std::move(effects_.front());
  effects_.pop_front();
  return e;
}

Instant BondMachine::next_deadline() const {
  if (state_ == State::kClosed) return Instant::max();
  if (state_ == State::kHandshake) return handshake_deadline_;
  return std::min(ping_at_, last_received_ + config_.consensus.bond_timeout());
}

}  // namespace smalti::groups
