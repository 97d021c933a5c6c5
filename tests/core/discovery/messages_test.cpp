// Discovery wire messages (every alternative round-trips, departures are signed, decoding is
// bounded and never crashes) and the EventLog that fans events out to subscribers.
#include "smalti/discovery/messages.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/discovery/events.hpp"
#include "support/test_keys.hpp"

namespace smalti::discovery {
namespace {

const NetworkId kNetwork = Digest::from_string("smalti-test-net");
const WallTime kNow = WallTime::from_unix_nanos(1'767'225'600'000'000'000);

SecretKey key(std::uint8_t n) {
  return test_support::test_key(n, 0x6d);
}

SignedPeerEntry signed_entry(std::uint8_t peer, std::int64_t bump = 0) {
  PeerEntry e =
      make_entry(kNetwork, PeerAddr{key(peer).peer_id(), {"sim:" + std::to_string(peer)}}, kNow);
  e.version.update_ms += bump;
  e.tags.insert(Tag::from_string("tag-" + std::to_string(peer)));
  e.streams.insert(Digest::from_string("stream"));
  return SignedPeerEntry::sign(e, key(peer)).value();
}

Stamp stamp(std::uint64_t peer, std::int64_t update_ms) {
  return Stamp{PeerId{Digest::from_u64(peer)}, EntryVersion{1'000, update_ms}};
}

std::vector<Message> every_message() {
  return {
      Join{signed_entry(1), true},
      JoinReply{signed_entry(2), true},
      JoinReply{signed_entry(2), false},
      Summary{{stamp(1, 5), stamp(2, 7), stamp(3, 1'767'225'600'000)}, true},
      Summary{{}, false},
      Entries{{signed_entry(1), signed_entry(2, 3)}, true},
      Entries{{}, false},
      Gossip{signed_entry(3, 9)},
      IHave{{stamp(9, 1), stamp(8, 2)}},
      Graft{stamp(4, 44)},
      Prune{},
      Departure::sign(key(5), EntryVersion{10, 20}, kNow.unix_millis()),
      Disconnect{},
  };
}

TEST(DiscoveryMessages, EveryAlternativeRoundTrips) {
  std::vector<bool> seen(std::variant_size_v<Message>, false);
  for (const Message& m : every_message()) {
    seen[m.index()] = true;
    const Bytes frame = encode(m);
    auto decoded = decode_message(frame);
    ASSERT_TRUE(decoded.is_ok()) << m.index() << ": " << decoded.status().to_string();
    EXPECT_EQ(decoded->index(), m.index());
    EXPECT_EQ(*decoded, m) << "alternative " << m.index();
    EXPECT_EQ(encode(*decoded), frame);  // canonical
  }
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "alternative " << i;
}

TEST(DiscoveryMessages, DepartureSignatureCoversEveryField) {
  const Departure d = Departure::sign(key(1), EntryVersion{100, 200}, kNow.unix_millis());
  EXPECT_EQ(d.peer, key(1).peer_id());
  EXPECT_TRUE(d.verify().is_ok());

  Departure other_peer = d;
  other_peer.peer = key(2).peer_id();
  Departure other_version = d;
  other_version.last_version.update_ms += 1;
  Departure other_start = d;
  other_start.last_version.start_ms -= 1;
  Departure other_time = d;
  other_time.at_ms += 1;
  Departure other_signature = d;
  other_signature.signature[7] ^= 0x01;
  // Peer 2 signs a departure that claims to be peer 1's.
  Departure forged = Departure::sign(key(2), EntryVersion{100, 200}, kNow.unix_millis());
  forged.peer = key(1).peer_id();
  for (const Departure* bad :
       {&other_peer, &other_version, &other_start, &other_time, &other_signature, &forged}) {
    EXPECT_EQ(bad->verify().code(), StatusCode::kPermissionDenied);
  }
  // A departure survives the wire with its signature intact.
  auto decoded = decode_message(encode(Message{d}));
  ASSERT_TRUE(decoded.is_ok());
  EXPECT_TRUE(std::get<Departure>(*decoded).verify().is_ok());
}

TEST(DiscoveryMessages, OversizedFrameIsRefused) {
  const Bytes big(kMaxMessageSize + 1, 0);
  EXPECT_EQ(decode_message(big).status().code(), StatusCode::kLimitExceeded);
  // A frame of a legal message padded past the limit is refused for its size first.
  Bytes padded = encode(Message{Prune{}});
  padded.resize(kMaxMessageSize + 1, 0);
  EXPECT_EQ(decode_message(padded).status().code(), StatusCode::kLimitExceeded);
}

TEST(DiscoveryMessages, StampListsAreBoundedPerFrame) {
  std::vector<Stamp> stamps;
  for (std::uint64_t i = 0; i < kMaxStampsPerFrame; ++i) stamps.push_back(stamp(i, 1));
  // Exactly at the bound: accepted.
  EXPECT_TRUE(decode_message(encode(Message{Summary{stamps, true}})).is_ok());
  EXPECT_TRUE(decode_message(encode(Message{IHave{stamps}})).is_ok());
  stamps.push_back(stamp(kMaxStampsPerFrame, 1));
  const Bytes summary = encode(Message{Summary{stamps, false}});
  const Bytes ihave = encode(Message{IHave{stamps}});
  ASSERT_LE(summary.size(), kMaxMessageSize);
  EXPECT_EQ(decode_message(summary).status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(decode_message(ihave).status().code(), StatusCode::kLimitExceeded);
}

TEST(DiscoveryMessages, EntriesLargerThanMaxEntrySizeAreRefused) {
  // Every message carrying a signed entry applies kMaxEntrySize to it, as decode_signed_entry does.
  PeerEntry e = signed_entry(1).entry;
  Ticket t{UniqueId::from_string("big"), Bytes(kMaxEntrySize, 0xab)};
  e.tickets.emplace(t.id(), t);
  const SignedPeerEntry big = SignedPeerEntry::sign(e, key(1)).value();
  ASSERT_GT(encode(big).size(), kMaxEntrySize);
  for (const Message& m :
       std::vector<Message>{Join{big, false}, JoinReply{big, true},
                            Entries{{signed_entry(2), big}, true}, Gossip{big}}) {
    const Bytes frame = encode(m);
    ASSERT_LE(frame.size(), kMaxMessageSize);
    EXPECT_EQ(decode_message(frame).status().code(), StatusCode::kLimitExceeded)
        << "alternative " << m.index();
  }
  // Exactly at the bound is fine.
  PeerEntry fits = signed_entry(1).entry;
  Ticket small{UniqueId::from_string("big"), Bytes(kMaxEntrySize - 512, 0xab)};
  fits.tickets.emplace(small.id(), small);
  SignedPeerEntry at_bound = SignedPeerEntry::sign(fits, key(1)).value();
  while (encode(at_bound).size() < kMaxEntrySize) {
    small.data.push_back(0xab);
    fits.tickets.clear();
    fits.tickets.emplace(small.id(), small);
    at_bound = SignedPeerEntry::sign(fits, key(1)).value();
  }
  ASSERT_EQ(encode(at_bound).size(), kMaxEntrySize);
  EXPECT_TRUE(decode_message(encode(Message{Gossip{at_bound}})).is_ok());
}

TEST(DiscoveryMessages, GarbageIsAnErrorNotACrash) {
  EXPECT_FALSE(decode_message(Bytes{}).is_ok());
  // An index past the last alternative.
  EXPECT_EQ(decode_message(Bytes{static_cast<std::uint8_t>(std::variant_size_v<Message>)})
                .status()
                .code(),
            StatusCode::kMalformed);
  EXPECT_FALSE(
      decode_message(Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
          .is_ok());
  // A vector that claims far more stamps than the frame holds.
  EXPECT_FALSE(decode_message(Bytes{2, 0xff, 0xff, 0xff, 0x0f}).is_ok());
  for (const Message& m : every_message()) {
    const Bytes frame = encode(m);
    // Every strict prefix is refused (the codec has no optional tail).
    for (std::size_t n = 0; n < frame.size(); ++n) {
      auto r = decode_message(ByteView(frame.data(), n));
      EXPECT_FALSE(r.is_ok()) << "alternative " << m.index() << " prefix " << n;
      if (!r.is_ok()) {
        EXPECT_TRUE(r.status().code() == StatusCode::kMalformed ||
                    r.status().code() == StatusCode::kLimitExceeded);
      }
    }
    // A trailing byte is refused.
    Bytes longer = frame;
    longer.push_back(0);
    EXPECT_EQ(decode_message(longer).status().code(), StatusCode::kMalformed);
  }
  // Random bytes and random flips of valid frames: a value or a clear error, never a crash.
  Rng rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(rng.below(200));
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng.next_u64());
    if (!junk.empty()) junk[0] = static_cast<std::uint8_t>(rng.below(12));
    auto r = decode_message(junk);
    if (r.is_ok()) {
      EXPECT_EQ(encode(*r), junk);
    } else {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  for (const Message& m : every_message()) {
    for (int i = 0; i < 100; ++i) {
      Bytes frame = encode(m);
      frame[rng.below(frame.size())] ^= static_cast<std::uint8_t>(1 + rng.below(255));
      auto r = decode_message(frame);
      if (r.is_ok()) {
        EXPECT_EQ(encode(*r), frame);
      }
    }
  }
}

Event discovered(std::uint8_t peer) {
  return PeerDiscovered{signed_entry(peer).entry};
}

// The peer an event names, to compare events.
PeerId peer_of(const Event& e) {
  return std::visit(
      [](const auto& v) -> PeerId {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, PeerDeparted>) {
          return v.peer;
        } else {
          return v.entry.id();
        }
      },
      e);
}

TEST(EventLog, ReadsEventsInOrder) {
  EventLog log(8);
  std::uint64_t cursor = log.end();
  EXPECT_EQ(cursor, 0u);
  EXPECT_FALSE(log.read(cursor).has_value());
  log.push(discovered(1));
  log.push(PeerUpdated{signed_entry(2).entry});
  log.push(PeerDeparted{key(3).peer_id()});
  EXPECT_EQ(log.end(), 3u);
  std::vector<EventOrLag> got;
  while (auto e = log.read(cursor)) got.push_back(*e);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<PeerDiscovered>(std::get<Event>(got[0])));
  EXPECT_TRUE(std::holds_alternative<PeerUpdated>(std::get<Event>(got[1])));
  EXPECT_TRUE(std::holds_alternative<PeerDeparted>(std::get<Event>(got[2])));
  for (std::uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(peer_of(std::get<Event>(got[i])), key(i + 1).peer_id());
  }
  EXPECT_EQ(cursor, 3u);
  // A subscriber that joins now sees only what comes next.
  std::uint64_t late = log.end();
  log.push(discovered(4));
  auto next = log.read(late);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(peer_of(std::get<Event>(*next)), key(4).peer_id());
  EXPECT_FALSE(log.read(late).has_value());
}

TEST(EventLog, SlowReaderGetsLaggedThenResumesWithTheOldestHeld) {
  EventLog log(3);
  std::uint64_t slow = log.end();
  for (std::uint8_t i = 1; i <= 5; ++i) log.push(discovered(i));  // 1 and 2 fall out
  EXPECT_EQ(log.end(), 5u);
  auto first = log.read(slow);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(std::holds_alternative<Lagged>(*first));
  EXPECT_EQ(std::get<Lagged>(*first).missed, 2u);
  EXPECT_EQ(slow, 2u);
  for (std::uint8_t i = 3; i <= 5; ++i) {
    auto e = log.read(slow);
    ASSERT_TRUE(e.has_value() && std::holds_alternative<Event>(*e));
    EXPECT_EQ(peer_of(std::get<Event>(*e)), key(i).peer_id());
  }
  EXPECT_FALSE(log.read(slow).has_value());
  // Falling behind again reports only the new gap.
  for (std::uint8_t i = 6; i <= 10; ++i) log.push(discovered(i));
  auto lag = log.read(slow);
  ASSERT_TRUE(lag.has_value() && std::holds_alternative<Lagged>(*lag));
  EXPECT_EQ(std::get<Lagged>(*lag).missed, 2u);  // 6 and 7 fell out; 8, 9, 10 are held
  auto e = log.read(slow);
  ASSERT_TRUE(e.has_value() && std::holds_alternative<Event>(*e));
  EXPECT_EQ(peer_of(std::get<Event>(*e)), key(8).peer_id());
}

TEST(EventLog, ZeroCapacityKeepsOneEvent) {
  EventLog log(0);
  std::uint64_t cursor = 0;
  log.push(discovered(1));
  log.push(discovered(2));
  auto lag = log.read(cursor);
  ASSERT_TRUE(lag.has_value() && std::holds_alternative<Lagged>(*lag));
  EXPECT_EQ(std::get<Lagged>(*lag).missed, 1u);
  auto e = log.read(cursor);
  ASSERT_TRUE(e.has_value() && std::holds_alternative<Event>(*e));
  EXPECT_EQ(peer_of(std::get<Event>(*e)), key(2).peer_id());
}

}  // namespace
}  // namespace smalti::discovery
