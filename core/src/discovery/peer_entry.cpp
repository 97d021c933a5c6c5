#include "smalti/discovery/peer_entry.hpp"

namespace smalti::discovery {

PeerEntry make_entry(const NetworkId& network, const PeerAddr& address, WallTime now) {
  PeerEntry e;
  e.network = network;
  e.address = address;
  e.version = EntryVersion{now.unix_millis(), now.unix_millis()};
  return e;
}

Result<SignedPeerEntry> SignedPeerEntry::sign(PeerEntry entry, const SecretKey& key) {
  if (key.peer_id() != entry.id()) {
    return error(StatusCode::kInvalidArgument, "signing key is not the entry's peer");
  }
  SignedPeerEntry signed_entry;
  const Digest digest = entry.digest();
  signed_entry.signature = key.sign(digest.view());
  signed_entry.entry = std::move(entry);
  return signed_entry;
}

Status SignedPeerEntry::verify() const {
  if (!verify_signature(entry.id(), entry.digest().view(), signature)) {
    return error(StatusCode::kPermissionDenied,
                 "invalid signature on the entry of " + entry.id().short_hex());
  }
  return Status::ok();
}

Result<SignedPeerEntry> decode_signed_entry(ByteView bytes) {
  if (bytes.size() > kMaxEntrySize) {
    return error(StatusCode::kLimitExceeded, "signed entry of " + std::to_string(bytes.size()) +
                                                 " bytes exceeds " + std::to_string(kMaxEntrySize));
  }
  auto decoded =
      decode<SignedPeerEntry>(bytes, DecodeLimits{.max_length = kMaxEntrySize, .max_depth = 8});
  if (!decoded.is_ok()) return decoded.status();
  SMALTI_RETURN_IF_ERROR(decoded->verify());
  return decoded;
}

}  // namespace smalti::discovery
