#include "smalti/discovery/messages.hpp"

#include <string>

namespace smalti::discovery {
namespace {

// What a departure's signature covers: a domain label, then the canonical encoding.
Digest departure_digest(const PeerId& peer, EntryVersion last_version, std::int64_t at_ms) {
  Bytes out;
  Encoder e(out);
  e.put_raw(as_bytes(std::string_view("smalti.discovery.departure.v1")));
  Codec<PeerId>::encode(e, peer);
  Codec<EntryVersion>::encode(e, last_version);
  Codec<std::int64_t>::encode(e, at_ms);
  return Digest::hash(out);
}

template <typename T>
Status check_stamps(const T& message) {
  if (message.stamps.size() > kMaxStampsPerFrame) {
    return error(StatusCode::kLimitExceeded, std::to_string(message.stamps.size()) +
                                                 " stamps in one frame exceed " +
                                                 std::to_string(kMaxStampsPerFrame));
  }
  return Status::ok();
}

// Entries inside a message get the bound decode_signed_entry applies: a larger one fits in a
// Gossip frame but not in the Entries frame that would relay it.
Status check_entry(const SignedPeerEntry& entry) {
  const std::size_t size = encode(entry).size();
  if (size > kMaxEntrySize) {
    return error(StatusCode::kLimitExceeded, "signed entry of " + std::to_string(size) +
                                                 " bytes exceeds " + std::to_string(kMaxEntrySize));
  }
  return Status::ok();
}

Status check_entries(const Message& message) {
  if (const auto* join = std::get_if<Join>(&message)) return check_entry(join->entry);
  if (const auto* reply = std::get_if<JoinReply>(&message)) return check_entry(reply->entry);
  if (const auto* gossip = std::get_if<Gossip>(&message)) return check_entry(gossip->entry);
  if (const auto* entries = std::get_if<Entries>(&message)) {
    for (const SignedPeerEntry& e : entries->entries) SMALTI_RETURN_IF_ERROR(check_entry(e));
  }
  return Status::ok();
}

}  // namespace

Departure Departure::sign(const SecretKey& key, EntryVersion last_version, std::int64_t at_ms) {
  Departure d;
  d.peer = key.peer_id();
  d.last_version = last_version;
  d.at_ms = at_ms;
  d.signature = key.sign(departure_digest(d.peer, last_version, at_ms).view());
  return d;
}

Status Departure::verify() const {
  if (!verify_signature(peer, departure_digest(peer, last_version, at_ms).view(), signature)) {
    return error(StatusCode::kPermissionDenied,
                 "invalid signature on the departure of " + peer.short_hex());
  }
  return Status::ok();
}

Result<Message> decode_message(ByteView frame) {
  if (frame.size() > kMaxMessageSize) {
    return error(StatusCode::kLimitExceeded, "discovery frame of " + std::to_string(frame.size()) +
                                                 " bytes exceeds " +
                                                 std::to_string(kMaxMessageSize));
  }
  auto message =
      decode<Message>(frame, DecodeLimits{.max_length = kMaxMessageSize, .max_depth = 10});
  if (!message.is_ok()) return message;
  if (auto* summary = std::get_if<Summary>(&*message))
    SMALTI_RETURN_IF_ERROR(check_stamps(*summary));
  if (auto* ihave = std::get_if<IHave>(&*message)) SMALTI_RETURN_IF_ERROR(check_stamps(*ihave));
  SMALTI_RETURN_IF_ERROR(check_entries(*message));
  return message;
}

}  // namespace smalti::discovery
