#include "smalti/groups/group_messages.hpp"

#include <string>

namespace smalti::groups {

Result<GroupMessage> decode_group_message(ByteView frame) {
  return decode_group_message(std::make_shared<const Bytes>(frame.begin(), frame.end()));
}

Result<GroupMessage> decode_group_message(std::shared_ptr<const Bytes> frame) {
  if (frame->size() > kMaxMessageSize) {
    return error(StatusCode::kLimitExceeded,
                 "groups frame of " + std::to_string(frame->size()) + " bytes is too large");
  }
  auto decoded = decode_shared<GroupMessage>(
      std::move(frame), DecodeLimits{.max_length = kMaxMessageSize, .max_depth = 8});
  if (!decoded.is_ok()) return decoded;
  if (auto* ae = std::get_if<RaftFrame>(&*decoded)) {
    if (auto* m = std::get_if<AppendEntries>(&ae->message);
        m && m->entries.size() > kMaxEntriesPerAppend) {
      return error(StatusCode::kLimitExceeded, "AppendEntries with too many entries");
    }
    if (auto* m = std::get_if<SyncEntries>(&ae->message);
        m && m->entries.size() > kMaxEntriesPerAppend) {
      return error(StatusCode::kLimitExceeded, "SyncEntries with too many entries");
    }
  }
  if (auto* h = std::get_if<Hello>(&*decoded); h && h->bonds.size() > kMaxAdvertisedBonds) {
    return error(StatusCode::kLimitExceeded, "Hello lists too many bonds");
  }
  if (auto* w = std::get_if<Welcome>(&*decoded); w && w->bonds.size() > kMaxAdvertisedBonds) {
    return error(StatusCode::kLimitExceeded, "Welcome lists too many bonds");
  }
  return decoded;
}

Digest bond_proof(const Digest& key_secret, const Digest& link_secret, const PeerId& sender) {
  const Digest bound = Digest::from_parts({key_secret.view(), link_secret.view()});
  return Digest::from_parts({bound.view(), sender.key.view()});
}

std::string bond_secret_label(const GroupId& group) {
  return "smalti/groups/bond/" + group.to_hex();
}

}  // namespace smalti::groups
