// Wire messages of groups (ALPN /smalti/groups/1): one link per bond, one message per frame.
//
//   initiator -> acceptor: Hello{network, group, proof, observer, bonds}     (first frame)
//   acceptor -> initiator: Welcome{proof, observer, bonds}                   (bond formed)
//   then either way:       Ping / Pong (liveness), Departure, BondFormed (topology), Raft,
//                          forwarded commands and queries with their answers.
// A proof shows knowledge of the group key bound to this very connection (bond_proof()), so it
// cannot be replayed on another. Refusals are link close codes.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/groups/raft_messages.hpp"

namespace smalti::groups {

inline constexpr const char* kAlpn = "/smalti/groups/1";
inline constexpr std::size_t kMaxMessageSize = kMaxAppendBytes + (4u << 20);
inline constexpr std::size_t kMaxAdvertisedBonds = 256;

namespace bond_close {
inline constexpr std::uint32_t kDifferentNetwork = 101;
inline constexpr std::uint32_t kUnknownPeer = 401;
inline constexpr std::uint32_t kInvalidProof = 30'401;
inline constexpr std::uint32_t kNotAllowed = 30'403;
inline constexpr std::uint32_t kGroupNotFound = 30'404;
inline constexpr std::uint32_t kAlreadyBonded = 30'409;
inline constexpr std::uint32_t kTimeout = 30'408;
inline constexpr std::uint32_t kProtocolViolation = 30'400;
inline constexpr std::uint32_t kDeparted = 30'410;
}  // namespace bond_close

struct Hello {
  NetworkId network;
  GroupId group;
  Digest proof;
  bool observer = false;
  std::uint64_t incarnation = 0;  // the sender's member incarnation (see raft_messages.hpp)
  std::vector<PeerId> bonds;
  friend bool operator==(const Hello&, const Hello&) = default;
};
SMALTI_FIELDS(Hello, network, group, proof, observer, incarnation, bonds)

struct Welcome {
  Digest proof;
  bool observer = false;
  std::uint64_t incarnation = 0;
  std::vector<PeerId> bonds;
  friend bool operator==(const Welcome&, const Welcome&) = default;
};
SMALTI_FIELDS(Welcome, proof, observer, incarnation, bonds)

struct Ping {
  friend bool operator==(const Ping&, const Ping&) = default;
};
SMALTI_EMPTY_FIELDS(Ping)
struct Pong {
  friend bool operator==(const Pong&, const Pong&) = default;
};
SMALTI_EMPTY_FIELDS(Pong)
struct Departure {
  friend bool operator==(const Departure&, const Departure&) = default;
};
SMALTI_EMPTY_FIELDS(Departure)

// "I bonded with this peer": receivers that are not bonded with it try to.
struct BondFormed {
  PeerId peer;
  friend bool operator==(const BondFormed&, const BondFormed&) = default;
};
SMALTI_FIELDS(BondFormed, peer)

struct RaftFrame {
  RaftMessage message;
  friend bool operator==(const RaftFrame&, const RaftFrame&) = default;
};
SMALTI_FIELDS(RaftFrame, message)

// A follower hands commands to the leader; the leader answers with where it put them.
struct ForwardCommands {
  std::uint64_t request = 0;
  std::vector<SharedBytes> commands;
  friend bool operator==(const ForwardCommands&, const ForwardCommands&) = default;
};
SMALTI_FIELDS(ForwardCommands, request, commands)

struct CommandsAccepted {
  std::uint64_t request = 0;
  bool accepted = false;  // false: the receiver is not the leader (any more)
  Cursor first;           // the first command's position; the rest follow it in one term
  friend bool operator==(const CommandsAccepted&, const CommandsAccepted&) = default;
};
SMALTI_FIELDS(CommandsAccepted, request, accepted, first)

// A strong query run by the leader after confirming its leadership (read-index).
struct ForwardQuery {
  std::uint64_t request = 0;
  Bytes query;
  friend bool operator==(const ForwardQuery&, const ForwardQuery&) = default;
};
SMALTI_FIELDS(ForwardQuery, request, query)

struct QueryAnswer {
  std::uint64_t request = 0;
  bool answered = false;
  Bytes result;
  Index index = 0;  // the state the result reflects
  friend bool operator==(const QueryAnswer&, const QueryAnswer&) = default;
};
SMALTI_FIELDS(QueryAnswer, request, answered, result, index)

using GroupMessage = std::variant<Hello, Welcome, Ping, Pong, Departure, BondFormed, RaftFrame,
                                  ForwardCommands, CommandsAccepted, ForwardQuery, QueryAnswer>;

// Decodes one groups frame: kLimitExceeded when oversized, kMalformed otherwise.
Result<GroupMessage> decode_group_message(ByteView frame);
// The same without copying: entry payloads and commands view (and keep alive) `frame`.
Result<GroupMessage> decode_group_message(std::shared_ptr<const Bytes> frame);
// The frame of GroupMessage(RaftFrame{message}), byte for byte, without copying the message.
Bytes encode_raft_frame(const RaftMessage& message);

// proof(sender) = BLAKE3(BLAKE3(key secret || link secret) || sender id), where the link secret
// is the connection's own exporter secret for the group (env::Link::secret).
Digest bond_proof(const Digest& key_secret, const Digest& link_secret, const PeerId& sender);
// The label under which both ends derive the link secret of a bond of `group`.
std::string bond_secret_label(const GroupId& group);

}  // namespace smalti::groups
