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
  // Verify last: it is the expensive check.
  SMALTI_RETURN_IF_ERROR(signed_entry.verify());
  auto it = signed_.find(e.id());
  if (it == signed_.end()) {
    if (size() >= config_.max_entries && unsigned_.count(e.id()) == 0) {
      return error(StatusCode::kLimitExceeded, "catalog full");
    }
    unsigned_.erase(e.id());
    signed_.emplace(e.id(), signed_entry);
    return Upsert::kNew;
  }
  if (!(e.version > it->second.entry.version)) return Upsert::kNotNewer;
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
  for (auto it = signed_.begin(); it != signed_.end();) {
    if (it->second.entry.updated_at() < now - config_.purge_after) {
      purged.push_back(it->first);
      it = signed_.erase(it);
    } else {
      ++it;
    }
  }
  return purged;
}

const SignedPeerEntry* Catalog::get_signed(const PeerId& id) const {
  auto it = signed_.find(id);
  return it == signed_.end() ? nullptr : &it->second;
}

}  // namespace smalti::discovery
