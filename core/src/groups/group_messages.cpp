#include "smalti/groups/group_messages.hpp"

#include <string>
#include <type_traits>
#include <variant>

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
      std::move(frame), DecodeLimits{.max_length = kMaxMessageSize, .max_depth = 12});
  if (!decoded.is_ok()) return decoded;
  if (auto* ae = std::get_if<RaftFrame>(&*decoded)) {
    if (auto* m = std::get_if<AppendEntries>(&ae->message);
        m && m->entries.size() > kMaxEntriesPerAppend) {
      return error(StatusCode::kLimitExceeded, "AppendEntries with too many entries");
    }
    if (auto* m = std::get_if<SyncEntries>(&ae->message);
        m && m->entries.size() > kMaxLogReplayBatch) {
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

namespace {

// The position of T among the alternatives of a variant.
template <typename T, typename Variant>
struct AlternativeIndex;
template <typename T, typename... Ts>
struct AlternativeIndex<T, std::variant<Ts...>> {
  static constexpr std::size_t kValue = [] {
    std::size_t i = 0;
    (void)((std::is_same_v<T, Ts> ? true : (++i, false)) || ...);
    return i;
  }();
};

// Enough for the whole frame, so encoding a long AppendEntries never reallocates.
std::size_t frame_size_hint(const RaftMessage& message) {
  constexpr std::size_t kFixed = 128;    // header, cursor, round, variant indexes
  constexpr std::size_t kPerEntry = 16;  // term, kind, payload length
  auto entries_size = [](const std::vector<LogEntry>& entries) {
    std::size_t n = 0;
    for (const LogEntry& e : entries) n += kPerEntry + e.payload.size();
    return n;
  };
  if (const auto* ae = std::get_if<AppendEntries>(&message))
    return kFixed + entries_size(ae->entries);
  if (const auto* se = std::get_if<SyncEntries>(&message))
    return kFixed + entries_size(se->entries);
  return kFixed;
}

}  // namespace

Bytes encode_raft_frame(const RaftMessage& message) {
  constexpr std::size_t kRaftFrameIndex = AlternativeIndex<RaftFrame, GroupMessage>::kValue;
  Bytes out;
  out.reserve(frame_size_hint(message));
  Encoder e(out);
  e.put_varint(kRaftFrameIndex);  // the GroupMessage alternative; RaftFrame's one field follows
  encode_into(e, message);
  return out;
}

Digest bond_proof(const Digest& key_secret, const Digest& link_secret, const PeerId& sender) {
  const Digest bound = Digest::from_parts({key_secret.view(), link_secret.view()});
  return Digest::from_parts({bound.view(), sender.key.view()});
}

std::string bond_secret_label(const GroupId& group) {
  return "smalti/groups/bond/" + group.to_hex();
}

}  // namespace smalti::groups
