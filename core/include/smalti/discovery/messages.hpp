// Wire messages of discovery: the announce overlay (/smalti/discovery/announce/1) and catalog
// sync (/smalti/discovery/sync/1).
//
// One message per frame, encoded with the smalti codec as a variant (the index is the tag).
//
// Announce link, opened by a node that wants a neighbour:
//   initiator: Join            acceptor: JoinReply (accepted or not)
//   both:      Summary... Entries...   (the catalog exchange below)
//   neighbours then push entries eagerly (Gossip) or lazily (IHave), repair the broadcast tree
//   (Graft, Prune), spread signed departures (Departure) and leave the view (Disconnect).
// Sync link (sync_with, or a refused join): both sides send Summary chunks (what they know, as
// peer and version) and, once the other's last Summary chunk is in, Entries chunks with every
// entry the other lacks or has older. Each side is done when it has sent and received the last
// Entries chunk. Both are bounded per frame and in total; a peer exceeding a bound is cut.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/discovery/peer_entry.hpp"

namespace smalti::discovery {

inline constexpr const char* kAnnounceAlpn = "/smalti/discovery/announce/1";
inline constexpr const char* kSyncAlpn = "/smalti/discovery/sync/1";

// The largest discovery frame accepted.
inline constexpr std::size_t kMaxMessageSize = 1u << 20;
// Items in one Summary or IHave frame.
inline constexpr std::size_t kMaxStampsPerFrame = 4096;
// Bytes of entries packed into one Entries frame (one entry may exceed it alone, up to
// kMaxEntrySize).
inline constexpr std::size_t kEntriesFrameBudget = 256u << 10;

// Close codes of discovery links.
namespace discovery_close {
inline constexpr std::uint32_t kViewFull = 300;   // join refused or neighbour evicted
inline constexpr std::uint32_t kDuplicate = 301;  // a second neighbour link to the same peer
}  // namespace discovery_close

// "Peer P's entry at version V": the unit of summaries, lazy pushes and grafts.
struct Stamp {
  PeerId peer;
  EntryVersion version;
  friend auto operator<=>(const Stamp&, const Stamp&) = default;
};
SMALTI_FIELDS(Stamp, peer, version)

struct Join {
  SignedPeerEntry entry;
  bool urgent = false;  // the sender has no neighbour: refuse only if nothing else works
  friend bool operator==(const Join&, const Join&) = default;
};
SMALTI_FIELDS(Join, entry, urgent)

struct JoinReply {
  SignedPeerEntry entry;
  bool accepted = false;
  friend bool operator==(const JoinReply&, const JoinReply&) = default;
};
SMALTI_FIELDS(JoinReply, entry, accepted)

struct Summary {
  std::vector<Stamp> stamps;
  bool last = false;
  friend bool operator==(const Summary&, const Summary&) = default;
};
SMALTI_FIELDS(Summary, stamps, last)

struct Entries {
  std::vector<SignedPeerEntry> entries;
  bool last = false;
  friend bool operator==(const Entries&, const Entries&) = default;
};
SMALTI_FIELDS(Entries, entries, last)

struct Gossip {
  SignedPeerEntry entry;
  friend bool operator==(const Gossip&, const Gossip&) = default;
};
SMALTI_FIELDS(Gossip, entry)

struct IHave {
  std::vector<Stamp> stamps;
  friend bool operator==(const IHave&, const IHave&) = default;
};
SMALTI_FIELDS(IHave, stamps)

struct Graft {
  Stamp stamp;
  friend bool operator==(const Graft&, const Graft&) = default;
};
SMALTI_FIELDS(Graft, stamp)

struct Prune {
  friend bool operator==(const Prune&, const Prune&) = default;
};
SMALTI_EMPTY_FIELDS(Prune)

// A peer's signed statement that it leaves: entries up to `last_version` are void.
struct Departure {
  PeerId peer;
  EntryVersion last_version;
  std::int64_t at_ms = 0;  // the leaver's wall clock, checked against max_time_drift
  Signature signature{};

  static Departure sign(const SecretKey& key, EntryVersion last_version, std::int64_t at_ms);
  // kPermissionDenied when the signature is not the peer's.
  Status verify() const;
  friend bool operator==(const Departure&, const Departure&) = default;
};
SMALTI_FIELDS(Departure, peer, last_version, at_ms, signature)

struct Disconnect {
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};
SMALTI_EMPTY_FIELDS(Disconnect)

using Message = std::variant<Join, JoinReply, Summary, Entries, Gossip, IHave, Graft, Prune,
                             Departure, Disconnect>;

// Decodes one discovery frame. kLimitExceeded for an oversized frame, list or entry, kMalformed for
// anything else bad. Entry signatures are checked by the catalog, not here.
Result<Message> decode_message(ByteView frame);

}  // namespace smalti::discovery
