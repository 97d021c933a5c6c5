// Helpers for the streams machine tests: fixed ids, peers with catalog entries, a test ticket
// and pulling effects. Test code only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"
#include "smalti/streams/stream_admission.hpp"

namespace smalti::streams::test {

inline const NetworkId kNet = NetworkId::from_string("net");
inline const StreamId kStream = StreamId::from_string("s");
inline const PeerId kPeer{Digest::from_string("peer")};
inline const PeerId kOther{Digest::from_string("other")};
inline const Instant kStart = Instant::from_nanos(1'000'000'000);
inline const WallTime kWall = WallTime::from_unix_nanos(1'767'225'600'000'000'000);

// The wall clock moving with `now` from kStart.
inline WallTime wall_at(Instant now) {
  return kWall + (now - kStart);
}

// What the catalog would say of `peer`: an entry with `tags` (and `tickets`), an RTT.
inline PeerFacts facts(const PeerId& peer, std::set<Tag> tags = {},
                       std::optional<Duration> rtt = std::nullopt,
                       std::vector<discovery::Ticket> tickets = {}) {
  auto entry = std::make_shared<discovery::PeerEntry>(
      discovery::make_entry(kNet, PeerAddr{peer, {"sim:9"}}, kWall));
  entry->tags = std::move(tags);
  for (auto& t : tickets) entry->tickets.emplace(t.id(), std::move(t));
  return PeerFacts{peer, std::move(entry), rtt};
}
// A peer the catalog does not know.
inline PeerFacts unknown(const PeerId& peer) {
  return PeerFacts{peer, nullptr, std::nullopt};
}

// A test ticket: 8 bytes of expiry (unix milliseconds, little endian), valid until then.
class ExpiringTicket final : public tickets::TicketValidator {
 public:
  static UniqueId klass() { return UniqueId::from_string("test.expiring-ticket"); }
  static discovery::Ticket make(WallTime expiry) {
    Bytes data(8);
    const auto ms = static_cast<std::uint64_t>(expiry.unix_millis());
    for (int i = 0; i < 8; ++i) data[i] = static_cast<std::uint8_t>(ms >> (8 * i));
    return discovery::Ticket{klass(), data};
  }
  UniqueId ticket_class() const override { return klass(); }
  Result<WallTime> validate(ByteView data, const PeerId&, WallTime now) const override {
    if (data.size() != 8) return error(StatusCode::kInvalidArgument, "not a test ticket");
    std::uint64_t ms = 0;
    for (int i = 0; i < 8; ++i) ms |= static_cast<std::uint64_t>(data[i]) << (8 * i);
    const WallTime expiry = WallTime::from_unix_nanos(static_cast<std::int64_t>(ms) * 1'000'000);
    if (expiry <= now) return error(StatusCode::kPermissionDenied, "expired");
    return expiry;
  }
};

template <typename Machine>
auto drain(Machine& m) {
  std::vector<typename Machine::EffectType> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

// The effects of one kind, in order.
template <typename T, typename Effects>
std::vector<T> only(const Effects& effects) {
  std::vector<T> out;
  for (const auto& e : effects) {
    if (const auto* x = std::get_if<T>(&e)) out.push_back(*x);
  }
  return out;
}

// The messages of the Sends among `effects`, in order.
template <typename Effects>
std::vector<Message> sent(const Effects& effects) {
  std::vector<Message> out;
  for (const auto& s : only<effect::Send>(effects)) {
    auto m = decode_message(s.frame);
    EXPECT_TRUE(m.is_ok());
    if (m.is_ok()) out.push_back(*m);
  }
  return out;
}

// The payloads of the Datums among the Sends of `effects`.
template <typename Effects>
std::vector<Bytes> datums(const Effects& effects) {
  std::vector<Bytes> out;
  for (const Message& m : sent(effects)) {
    if (const auto* d = std::get_if<Datum>(&m)) out.push_back(d->payload);
  }
  return out;
}

inline Bytes frame(const Message& m) {
  return encode(m);
}

}  // namespace smalti::streams::test
