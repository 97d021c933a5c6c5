// Catalog: the signed entries a node knows, merged by version; a pure data structure.
//
// Signed entries are accepted only from this network, with a valid signature, not older than
// purge_after and not further in the future than max_time_drift (both on the given wall time).
// An accepted entry replaces the known one only if its version is strictly newer, so merging is
// order-independent and idempotent: any order of the same entries gives the same catalog.
// Unsigned entries (added locally, never gossiped) give way to signed ones. purge() removes
// signed entries whose last update is older than purge_after; until then such entries are
// "stale" and views hide them. depart() removes a peer on its signed departure and keeps a
// tombstone (for purge_after), so an older entry still in flight cannot bring it back; a newer
// version (a restart) can. Not synchronised.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "smalti/discovery/peer_entry.hpp"

namespace smalti::discovery {

struct CatalogConfig {
  NetworkId network;
  Duration max_time_drift = 50s;
  Duration purge_after = 300s;
  // Entries held at once (signed and unsigned); beyond it new peers are refused.
  std::size_t max_entries = 100'000;
};

enum class Upsert : std::uint8_t { kNew, kUpdated, kNotNewer };

class Catalog {
 public:
  Catalog(CatalogConfig config, PeerId local) : config_(config), local_(local) {}

  // Errors: kInvalidArgument (other network), kPermissionDenied (bad signature),
  // kFailedPrecondition (outdated or from the future beyond max_time_drift, or the local id),
  // kLimitExceeded (catalog full).
  Result<Upsert> upsert(WallTime now, const SignedPeerEntry& entry);
  // Locally known peer, not gossiped; refused for the local id, another network, a peer with a
  // signed entry, or a full catalog.
  bool insert_unsigned(const PeerEntry& entry);
  bool remove_unsigned(const PeerId& id);
  void clear_unsigned();
  // Removes signed entries not updated within purge_after (and tombstones older than that);
  // returns the removed entries' ids in order.
  std::vector<PeerId> purge(WallTime now);
  // Records that `peer` left with `last_version`: removes its signed entry if that is not newer,
  // keeps a tombstone. Returns true when an entry was removed.
  bool depart(WallTime now, const PeerId& peer, EntryVersion last_version);
  // True when the peer left with a version at least `version`.
  bool departed(const PeerId& peer, EntryVersion version) const;

  bool is_stale(WallTime now, const PeerEntry& entry) const {
    return entry.updated_at() < now - config_.purge_after;
  }
  const CatalogConfig& config() const { return config_; }

  const SignedPeerEntry* get_signed(const PeerId& id) const;
  const std::map<PeerId, SignedPeerEntry>& signed_entries() const { return signed_; }
  const std::map<PeerId, PeerEntry>& unsigned_entries() const { return unsigned_; }
  std::size_t size() const { return signed_.size() + unsigned_.size(); }

 private:
  CatalogConfig config_;
  PeerId local_;
  std::map<PeerId, SignedPeerEntry> signed_;
  std::map<PeerId, PeerEntry> unsigned_;
  struct Tombstone {
    EntryVersion version;
    WallTime recorded;
  };
  std::map<PeerId, Tombstone> tombstones_;
};

}  // namespace smalti::discovery
