// PeerEntry signing and the Catalog merge: unit cases and RapidCheck properties (order does not
// matter, applying twice changes nothing, newer versions win, forged, tampered, replayed-old,
// wrong-network and drifting entries are rejected).
#include "smalti/discovery/catalog.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "support/test_keys.hpp"

namespace smalti::discovery {
namespace {

const NetworkId kNetwork = Digest::from_string("smalti-test-net");
const WallTime kNow = WallTime::from_unix_nanos(1'767'225'600'000'000'000);

SecretKey key(std::uint8_t n) {
  return test_support::test_key(n, 0x5a);
}

SignedPeerEntry signed_entry(std::uint8_t peer, EntryVersion version,
                             NetworkId network = kNetwork) {
  PeerEntry e;
  e.network = network;
  e.address = PeerAddr{key(peer).peer_id(), {"sim:" + std::to_string(peer)}};
  e.version = version;
  e.tags.insert(Digest::from_string("tag-" + std::to_string(version.update_ms % 3)));
  return SignedPeerEntry::sign(e, key(peer)).value();
}

EntryVersion at(Duration offset, std::int64_t bump = 0) {
  const std::int64_t ms = (kNow + offset).unix_millis();
  return EntryVersion{ms, ms + bump};
}

Catalog make_catalog() {
  return Catalog(CatalogConfig{.network = kNetwork}, key(0).peer_id());
}

TEST(PeerEntry, SignedEntryRoundTripsAndVerifies) {
  const SignedPeerEntry s = signed_entry(1, at(0s));
  auto decoded = decode_signed_entry(encode(s));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, s);
}

TEST(PeerEntry, SigningWithAnotherKeyIsRefused) {
  PeerEntry e = signed_entry(1, at(0s)).entry;
  auto s = SignedPeerEntry::sign(e, key(2));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST(PeerEntry, TamperedOrForgedEntriesFailToDecode) {
  SignedPeerEntry tampered = signed_entry(1, at(0s));
  tampered.entry.tags.insert(Digest::from_string("sneaky"));
  EXPECT_EQ(decode_signed_entry(encode(tampered)).status().code(), StatusCode::kPermissionDenied);
  // Forged: peer 2's key signs an entry claiming to be peer 1.
  SignedPeerEntry forged = signed_entry(1, at(0s));
  forged.signature = key(2).sign(forged.entry.digest().view());
  EXPECT_EQ(decode_signed_entry(encode(forged)).status().code(), StatusCode::kPermissionDenied);
  Bytes oversized(kMaxEntrySize + 1, 0);
  EXPECT_EQ(decode_signed_entry(oversized).status().code(), StatusCode::kLimitExceeded);
}

TEST(Catalog, NewerVersionsReplaceOlderOnesAndNotTheOtherWay) {
  Catalog c = make_catalog();
  EXPECT_EQ(c.upsert(kNow, signed_entry(1, at(0s, 5))).value(), Upsert::kNew);
  EXPECT_EQ(c.upsert(kNow, signed_entry(1, at(0s, 9))).value(), Upsert::kUpdated);
  EXPECT_EQ(c.upsert(kNow, signed_entry(1, at(0s, 7))).value(), Upsert::kNotNewer);  // replayed
  EXPECT_EQ(c.get_signed(key(1).peer_id())->entry.version, at(0s, 9));
}

TEST(Catalog, RejectsWrongNetworkDriftOutdatedAndSelf) {
  Catalog c = make_catalog();
  EXPECT_EQ(c.upsert(kNow, signed_entry(1, at(0s), Digest::from_string("other"))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.upsert(kNow, signed_entry(1, at(51s))).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.upsert(kNow, signed_entry(2, at(49s))).is_ok());
  EXPECT_EQ(c.upsert(kNow, signed_entry(3, at(-301s))).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.upsert(kNow, signed_entry(0, at(0s))).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.size(), 1u);
}

TEST(Catalog, SignedEntriesDisplaceUnsignedOnesAndPurgeRemovesStaleOnes) {
  Catalog c = make_catalog();
  const PeerEntry plain = signed_entry(1, at(0s)).entry;
  EXPECT_TRUE(c.insert_unsigned(plain));
  EXPECT_FALSE(c.insert_unsigned(signed_entry(0, at(0s)).entry));  // the local peer
  ASSERT_TRUE(c.upsert(kNow, signed_entry(1, at(0s, 1))).is_ok());
  EXPECT_TRUE(c.unsigned_entries().empty());
  EXPECT_FALSE(c.insert_unsigned(plain));  // a signed entry exists
  ASSERT_TRUE(c.upsert(kNow, signed_entry(2, at(-200s))).is_ok());
  EXPECT_EQ(c.purge(kNow + 150s), (std::vector<PeerId>{key(2).peer_id()}));
  EXPECT_NE(c.get_signed(key(1).peer_id()), nullptr);
  EXPECT_EQ(c.purge(kNow + 301s), (std::vector<PeerId>{key(1).peer_id()}));
}

// A catalog's observable state: every peer's version.
std::map<PeerId, EntryVersion> versions(const Catalog& c) {
  std::map<PeerId, EntryVersion> out;
  for (const auto& [id, s] : c.signed_entries()) out[id] = s.entry.version;
  return out;
}

// Random entries of up to 4 peers with random versions within the acceptable window.
std::vector<SignedPeerEntry> gen_entries() {
  const auto specs = *rc::gen::container<std::vector<std::pair<std::uint8_t, std::int64_t>>>(
      rc::gen::pair(rc::gen::inRange<std::uint8_t>(1, 5), rc::gen::inRange<std::int64_t>(0, 20)));
  std::vector<SignedPeerEntry> out;
  for (const auto& [peer, bump] : specs) out.push_back(signed_entry(peer, at(-10s, bump)));
  return out;
}

RC_GTEST_PROP(CatalogProperties, OrderDoesNotMatter, ()) {
  auto entries = gen_entries();
  Catalog a = make_catalog();
  for (const auto& e : entries) RC_ASSERT(a.upsert(kNow, e).is_ok());
  // A random permutation: sort by random keys.
  const auto keys = *rc::gen::container<std::vector<std::uint64_t>>(
      entries.size(), rc::gen::arbitrary<std::uint64_t>());
  std::vector<std::size_t> order(entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return keys[x] < keys[y]; });
  std::vector<SignedPeerEntry> shuffled;
  for (std::size_t i : order) shuffled.push_back(entries[i]);
  Catalog b = make_catalog();
  for (const auto& e : shuffled) RC_ASSERT(b.upsert(kNow, e).is_ok());
  RC_ASSERT(versions(a) == versions(b));
}

RC_GTEST_PROP(CatalogProperties, ApplyingTwiceChangesNothing, ()) {
  auto entries = gen_entries();
  Catalog c = make_catalog();
  for (const auto& e : entries) RC_ASSERT(c.upsert(kNow, e).is_ok());
  const auto once = versions(c);
  for (const auto& e : entries) RC_ASSERT(c.upsert(kNow, e).value() == Upsert::kNotNewer);
  RC_ASSERT(versions(c) == once);
}

RC_GTEST_PROP(CatalogProperties, NewestVersionWins, ()) {
  auto entries = gen_entries();
  Catalog c = make_catalog();
  std::map<PeerId, EntryVersion> newest;
  for (const auto& e : entries) {
    RC_ASSERT(c.upsert(kNow, e).is_ok());
    auto& v = newest[e.entry.id()];
    v = std::max(v, e.entry.version);
  }
  RC_ASSERT(versions(c) == newest);
}

RC_GTEST_PROP(CatalogProperties, BadEntriesNeverChangeTheCatalog, ()) {
  auto entries = gen_entries();
  Catalog c = make_catalog();
  for (const auto& e : entries) RC_ASSERT(c.upsert(kNow, e).is_ok());
  const auto before = versions(c);
  const auto peer = *rc::gen::inRange<std::uint8_t>(1, 5);
  const auto bump = *rc::gen::inRange<std::int64_t>(21, 40);  // newer than anything fed
  SignedPeerEntry tampered = signed_entry(peer, at(-10s, bump));
  tampered.entry.version.update_ms += 1;
  SignedPeerEntry forged = signed_entry(peer, at(-10s, bump));
  forged.signature = key(static_cast<std::uint8_t>(peer % 4 + 1))  // another peer of 1..4
                         .sign(forged.entry.digest().view());
  RC_ASSERT(!c.upsert(kNow, tampered).is_ok());
  RC_ASSERT(!c.upsert(kNow, forged).is_ok());
  RC_ASSERT(!c.upsert(kNow, signed_entry(peer, at(-10s, bump), Digest::from_string("x"))).is_ok());
  RC_ASSERT(!c.upsert(kNow, signed_entry(peer, at(60s, bump))).is_ok());
  RC_ASSERT(versions(c) == before);
}

RC_GTEST_PROP(CatalogProperties, DepartedPeersStayGoneUntilANewerVersion, ()) {
  auto entries = gen_entries();
  RC_PRE(!entries.empty());
  Catalog c = make_catalog();
  for (const auto& e : entries) RC_ASSERT(c.upsert(kNow, e).is_ok());
  const auto before = versions(c);
  const PeerId leaver = entries.front().entry.id();
  const EntryVersion last = before.at(leaver);
  RC_ASSERT(c.depart(kNow, leaver, last));
  RC_ASSERT(c.get_signed(leaver) == nullptr);
  // Replaying any entry fed before (in any order) never brings it back.
  for (const auto& e : entries) (void)c.upsert(kNow, e);
  RC_ASSERT(c.get_signed(leaver) == nullptr);
  RC_ASSERT(c.departed(leaver, last));
  // A newer version (a restart) is accepted.
  EntryVersion newer = last;
  newer.update_ms += 1;
  PeerEntry restarted = entries.front().entry;
  restarted.version = newer;
  const std::uint8_t n = [&] {
    for (std::uint8_t i = 1; i <= 4; ++i) {
      if (key(i).peer_id() == leaver) return i;
    }
    return std::uint8_t{0};
  }();
  RC_ASSERT(n != 0);
  RC_ASSERT(c.upsert(kNow, SignedPeerEntry::sign(restarted, key(n)).value()).is_ok());
  RC_ASSERT(c.get_signed(leaver) != nullptr);
  // Tombstones expire with purge_after.
  Catalog d = make_catalog();
  RC_ASSERT(!d.depart(kNow, leaver, last));
  (void)d.purge(kNow + 301s);
  RC_ASSERT(!d.departed(leaver, last));
}

}  // namespace
}  // namespace smalti::discovery
