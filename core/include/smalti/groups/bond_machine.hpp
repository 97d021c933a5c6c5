// BondMachine: one bond between two members of a group, as a pure state machine.
//
// The initiator sends Hello with its proof and waits handshake_timeout for a Welcome whose proof
// it checks; the acceptor checks the Hello's proof and answers Welcome. A proof is
// bond_proof(key, link secret, sender): it proves knowledge of the group key on this very
// connection. Once up, either side sends Ping after heartbeat_interval minus a random jitter
// without sending anything else, answers Ping with Pong, and cuts the bond (kTimeout) when it
// received nothing for (interval + jitter) x max_missed_heartbeats. Departure ends the bond at
// once. Every other message is delivered to the group worker.
//
// Inputs take `now`, which never decreases. Not thread-safe; owned by one GroupWorker.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/groups/group_messages.hpp"

namespace smalti::groups {

struct BondConfig {
  NetworkId network;
  GroupId group;
  Digest key_secret;
  PeerId self;
  bool observer = false;
  std::uint64_t incarnation = 0;  // this member's, announced in the handshake
  ConsensusConfig consensus;
  Duration handshake_timeout = 2s;
};

namespace bond_effect {
struct SendFrame {
  GroupMessage message;
};
// The bond is up; `bonds` are the remote's own bonds (topology to follow).
struct Up {
  bool observer = false;
  std::uint64_t incarnation = 0;
  std::vector<PeerId> bonds;
};
struct Deliver {
  GroupMessage message;
};
// The bond ended (send Departure first when `depart`); the link is to be closed with code.
struct Closed {
  std::uint32_t code = 0;
  std::string reason;
};
}  // namespace bond_effect

using BondEffect = std::variant<bond_effect::SendFrame, bond_effect::Up, bond_effect::Deliver,
                                bond_effect::Closed>;

class BondMachine {
 public:
  enum class State : std::uint8_t { kHandshake, kUp, kClosed };

  // The initiator: sends Hello at once.
  static BondMachine initiate(const BondConfig& config, const PeerId& remote,
                              const Digest& link_secret, std::vector<PeerId> bonds, Instant now,
                              std::uint64_t seed);
  // The acceptor of `hello` (already routed to this group): checks it and answers.
  static BondMachine accept(const BondConfig& config, const PeerId& remote,
                            const Digest& link_secret, const Hello& hello,
                            std::vector<PeerId> bonds, Instant now, std::uint64_t seed);

  void handle_message(Instant now, const GroupMessage& message);
  void handle_timeout(Instant now);
  // The worker sent a frame on this bond (so no Ping is needed for a while).
  void note_sent(Instant now);
  // Ends the bond from this side: sends Departure, then Closed.
  void depart(Instant now);

  std::optional<BondEffect> poll_effect();
  Instant next_deadline() const;
  State state() const { return state_; }
  const PeerId& remote() const { return remote_; }
  bool remote_observer() const { return remote_observer_; }
  std::uint64_t remote_incarnation() const { return remote_incarnation_; }

 private:
  BondMachine(const BondConfig& config, const PeerId& remote, const Digest& link_secret,
              Instant now, std::uint64_t seed);
  void come_up(Instant now, bool observer, std::uint64_t incarnation, std::vector<PeerId> bonds);
  void close(std::uint32_t code, std::string reason);
  void send(Instant now, GroupMessage message);
  void schedule_ping(Instant now);
  Digest expected_proof() const { return bond_proof(config_.key_secret, link_secret_, remote_); }

  BondConfig config_;
  PeerId remote_;
  Digest link_secret_;
  Rng rng_;
  State state_ = State::kHandshake;
  bool remote_observer_ = false;
  std::uint64_t remote_incarnation_ = 0;
  Instant handshake_deadline_ = Instant::max();
  Instant ping_at_ = Instant::max();
  Instant last_received_;
  std::deque<BondEffect> effects_;
};

}  // namespace smalti::groups
