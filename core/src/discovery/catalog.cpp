#include "smalti/discovery/catalog.hpp"

namespace smalti::discovery {

Result<Upsert> Catalog::upsert(WallTime now, const SignedPeerEntry& signed_entry) {
  const PeerEntry& e = signed_entry.entry;
  if (e.network != config_.network) {
    return error(StatusCode::kInvalidArgument, "entry of another network");
  }
  if (e.id() == local_) return error(StatusCode::kFailedPrecondition, "entry of the local peer");
  const WallTime updated = e.updated_at();
  if (updated < now - config_.purge_after) {
    return error(StatusCode::kFailedPrecondition, "outdated entry");
  }
  if (updated > now + config_.max_time_drift) {
    return error(StatusCode::kFailedPrecondition, "entry timestamp beyond the allowed clock drift");
  }
  if (departed(e.id(), e.version)) {
    return error(StatusCode::kFailedPrecondition, "entry of a peer that departed");
  }
  auto it = signed_.find(e.id());
  // Not newer than what we hold: nothing changes, whoever signed it, so no need to verify.
  if (it != signed_.end() && !(e.version > it->second.entry.version)) return Upsert::kNotNewer;
  // Verify last: it is the expensive check.
  SMALTI_RETURN_IF_ERROR(signed_entry.verify());
  if (it == signed_.end()) {
    if (size() >= config_.max_entries && unsigned_.count(e.id()) == 0) {
      return error(StatusCode::kLimitExceeded, "catalog full");
    }
    unsigned_.erase(e.id());
    signed_.emplace(e.id(), signed_entry);
    return Upsert::kNew;
  }
  it->second = signed_entry;
  return Upsert::kUpdated;
}

bool Catalog::insert_unsigned(const PeerEntry& entry) {
  if (entry.id() == local_ || entry.network != config_.network || signed_.count(entry.id()) != 0) {
    return false;
  }
  if (size() >= config_.max_entries && unsigned_.count(entry.id()) == 0) return false;
  unsigned_[entry.id()] = entry;
  return true;
}

bool Catalog::remove_unsigned(const PeerId& id) {
  return unsigned_.erase(id) != 0;
}

void Catalog::clear_unsigned() {
  unsigned_.clear();
}

std::vector<PeerId> Catalog::purge(WallTime now) {
  std::vector<PeerId> purged;
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    it = it->second.recorded < now - config_.purge_after ? tombstones_.erase(it) : std::next(it);
  }
  for (auto it = signed_.begin(); it != signed_.end();) {
    if (is_stale(now, it->second.entry)) {
      purged.push_back(it->first);
      it = signed_.erase(it);
    } else {
      ++it;
    }
  }
  return purged;
}

bool Catalog::depart(WallTime now, const PeerId& peer, EntryVersion last_version) {
  auto tomb = tombstones_.find(peer);
  if (tomb != tombstones_.end()) {
    tomb->second = Tombstone{std::max(tomb->second.version, last_version), now};
  } else if (tombstones_.size() < config_.max_entries) {
    tombstones_.emplace(peer, Tombstone{last_version, now});
  }
  auto it = signed_.find(peer);
  if (it == signed_.end() || it->second.entry.version > last_version) return false;
  signed_.erase(it);
  return true;
}

bool Catalog::departed(const PeerId& peer, EntryVersion version) const {
  auto it = tombstones_.find(peer);
  return it != tombstones_.end() && version <= it->second.version;
}

const SignedPeerEntry* Catalog::get_signed(const PeerId& id) const {
  auto it = signed_.find(id);
  return it == signed_.end() ? nullptr : &it->second;
}

}  // namespace smalti::discovery
