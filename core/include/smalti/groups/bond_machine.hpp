// BondMachine: one bond between two members of a group, as a pure state machine that meets the
// machine contract (runtime/machine.hpp).
//
// The initiator sends Hello with its proof and waits handshake_timeout for a Welcome whose proof
// it checks; the acceptor checks the Hello's proof and answers Welcome. A proof is
// bond_proof(key, link secret, sender): it proves knowledge of the group key on this very
// connection. Once up, either side sends Ping after heartbeat_interval minus a random jitter
// without sending anything else, answers Ping with Pong, and cuts the bond (kTimeout) when it
// received nothing for (interval + jitter) x max_missed_heartbeats. Departure ends the bond at
// once. Every other message is handed up (effect::Deliver), moved, never copied.
//
// Inputs (each takes `now` first; `now` never decreases):
//   initiate(...) / accept(...)                 -> Hello, or Welcome and Up, or Close
//   handle_message(now, message)                -> peer input (dropped past the input mark)
//   handle_timeout(now)                         -> handshake timeout, Ping, missed heartbeats
//   handle_send_refused(now, link, frame, why)  -> a refused handshake frame ends the bond;
//                                                  a refused Ping, Pong or Departure is counted
//   note_sent(now)                              -> the driver sent a frame of another machine
//                                                  (Raft, the session) on this bond's link
//   depart(now)                                 -> Departure (when up), then Close
// Outputs: effect::Send (the bond's own frames, encoded), effect::Close (the bond ended: close
// the link with the code), effect::Deliver<GroupMessage> and bond_effect::Up.
//
// The deadline is lazy: note_sent and received messages only push the work that is due later,
// so next_deadline() may come before anything is due (handle_timeout then just looks again).
// A driver that sends and receives all the time re-arms its timer once per heartbeat, not once
// per frame. Not synchronised: owned by one GroupWorker on one executor.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/groups/group_messages.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::groups {

// Effects a bond may hold: no input makes more than two.
inline constexpr std::size_t kBondEffectLimit = 64;

struct BondConfig {
  NetworkId network;
  GroupId group;
  Digest key_secret;
  PeerId self;
  bool observer = false;
  std::uint64_t incarnation = 0;  // this member's, announced in the handshake
  ConsensusConfig consensus;
  Duration handshake_timeout = 2s;
  std::size_t max_pending_effects = kBondEffectLimit;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none.
  Buggify buggify;
};

namespace bond_effect {
// The bond is up; `bonds` are the remote's own bonds (topology to follow).
struct Up {
  bool observer = false;
  std::uint64_t incarnation = 0;
  std::vector<PeerId> bonds;
};
}  // namespace bond_effect

using BondEffect =
    std::variant<effect::Send, effect::Close, effect::Deliver<GroupMessage>, bond_effect::Up>;

class BondMachine : public MachineBase<BondEffect> {
 public:
  enum class State : std::uint8_t { kHandshake, kUp, kClosed };

  // The initiator on `link`: sends Hello at once.
  static BondMachine initiate(const BondConfig& config, LinkToken link, const PeerId& remote,
                              const Digest& link_secret, std::vector<PeerId> bonds, Instant now,
                              std::uint64_t seed);
  // The acceptor of `hello` (already routed to this group): checks it and answers.
  static BondMachine accept(const BondConfig& config, LinkToken link, const PeerId& remote,
                            const Digest& link_secret, Hello hello, std::vector<PeerId> bonds,
                            Instant now, std::uint64_t seed);

  void handle_message(Instant now, GroupMessage message);
  void handle_timeout(Instant now);
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  void note_sent(Instant now);
  void depart(Instant now);

  // The earliest instant handle_timeout may have work (Instant::max() once closed).
  Instant next_deadline() const { return check_at_; }
  void invariants() const;

  State state() const { return state_; }
  LinkToken link() const { return link_; }
  const PeerId& remote() const { return remote_; }
  bool remote_observer() const { return remote_observer_; }
  std::uint64_t remote_incarnation() const { return remote_incarnation_; }
  // Frames of this bond the link refused (back-pressure or a link going down).
  std::uint64_t refused_sends() const { return refused_sends_; }

 private:
  BondMachine(const BondConfig& config, LinkToken link, const PeerId& remote,
              const Digest& link_secret, Instant now, std::uint64_t seed);
  void come_up(Instant now, bool observer, std::uint64_t incarnation, std::vector<PeerId> bonds);
  void close(std::uint32_t code, std::string reason);
  void send(Instant now, const GroupMessage& message);
  // When a Ping is due, given the last send.
  Instant ping_due() const { return last_sent_ + ping_wait_; }
  Instant liveness_due() const { return last_received_ + config_.consensus.bond_timeout(); }
  Digest expected_proof() const { return bond_proof(config_.key_secret, link_secret_, remote_); }

  BondConfig config_;
  LinkToken link_;
  PeerId remote_;
  Digest link_secret_;
  Rng rng_;
  State state_ = State::kHandshake;
  bool remote_observer_ = false;
  std::uint64_t remote_incarnation_ = 0;
  Instant check_at_ = Instant::max();  // handshake deadline, or the next look at ping/liveness
  Instant last_received_;
  Instant last_sent_;
  Duration ping_wait_{};  // heartbeat_interval minus this ping's jitter
  std::uint64_t refused_sends_ = 0;
};

}  // namespace smalti::groups
