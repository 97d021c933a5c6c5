// PeerEntry and SignedPeerEntry: what a peer says about itself, signed with its identity key.
//
// An entry names the peer (its PeerAddr), the network, a version (the process's start time and an
// update counter, both in wall-clock milliseconds, compared lexicographically), and what the peer
// offers: tags, streams, groups and tickets. Sets and maps are ordered, so the encoding (and so
// the digest and signature) is canonical. The signature is Ed25519 over BLAKE3(encoded entry).
// Decoding a signed entry verifies its signature and bounds its size. Value types.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "smalti/base/codec.hpp"
#include "smalti/base/digest.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/base/time.hpp"
#include "smalti/env/peer.hpp"

namespace smalti::discovery {

// The largest encoded signed entry accepted from a peer.
inline constexpr std::size_t kMaxEntrySize = 64u << 10;

struct EntryVersion {
  std::int64_t start_ms = 0;   // when the peer's process started
  std::int64_t update_ms = 0;  // strictly increasing within one start
  friend auto operator<=>(const EntryVersion&, const EntryVersion&) = default;
};
SMALTI_FIELDS(EntryVersion, start_ms, update_ms)

struct Ticket {
  UniqueId ticket_class;
  Bytes data;
  // The ticket's key in an entry: BLAKE3(class || data), as mosaik derives it.
  UniqueId id() const { return ticket_class.derive(data); }
  friend bool operator==(const Ticket&, const Ticket&) = default;
};
SMALTI_FIELDS(Ticket, ticket_class, data)

struct PeerEntry {
  std::string protocol = "smalti/0.1";
  NetworkId network;
  EntryVersion version;
  PeerAddr address;
  std::set<Tag> tags;
  std::set<Digest> streams;
  std::set<Digest> groups;
  std::map<UniqueId, Ticket> tickets;

  const PeerId& id() const { return address.id; }
  WallTime updated_at() const { return WallTime::from_unix_nanos(version.update_ms * 1'000'000); }
  Digest digest() const { return Digest::hash(encode(*this)); }
  // A new version at `now`: same start, an update strictly after the previous one.
  void bump_version(WallTime now) {
    version.update_ms = std::max(version.update_ms + 1, now.unix_millis());
  }
  friend bool operator==(const PeerEntry&, const PeerEntry&) = default;
};
SMALTI_FIELDS(PeerEntry, protocol, network, version, address, tags, streams, groups, tickets)

// A fresh entry for a process that starts at `now`.
PeerEntry make_entry(const NetworkId& network, const PeerAddr& address, WallTime now);

struct SignedPeerEntry {
  PeerEntry entry;
  Signature signature{};

  // Fails with kInvalidArgument when `key` is not the entry's peer.
  static Result<SignedPeerEntry> sign(PeerEntry entry, const SecretKey& key);
  // kPermissionDenied when the signature is not the entry's peer's over the entry's digest.
  Status verify() const;
  friend bool operator==(const SignedPeerEntry&, const SignedPeerEntry&) = default;
};
SMALTI_FIELDS(SignedPeerEntry, entry, signature)

// Decodes a signed entry from a peer: bounded by kMaxEntrySize, signature verified.
Result<SignedPeerEntry> decode_signed_entry(ByteView bytes);

}  // namespace smalti::discovery
