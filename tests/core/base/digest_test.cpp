// Tests for smalti::Digest / UniqueId: the mosaik construction rules and the interop vectors of
// reference/mosaik-behaviour.md section 1.4.
#include "smalti/base/digest.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "smalti/base/blake3.hpp"
#include "smalti/base/hex.hpp"

namespace smalti {
namespace {

std::string hash_hex(std::string_view s) {
  return to_hex(Blake3::hash(as_bytes(s)));
}

// ---- mosaik interop vectors (mosaik-behaviour.md 1.4) -------------------------------------

TEST(DigestVectors, NetworkIdFromName) {
  EXPECT_EQ(NetworkId::from_string("my-app").to_hex(),
            "e03989181c8f0a8f6d7dd41c2780886a44dce46ee9419d91d2c2b99851afd811");
}

TEST(DigestVectors, DeriveSub) {
  EXPECT_EQ(NetworkId::from_string("my-app").derive("sub").to_hex(),
            "74b2ef57c222a7c102877ab69c5541f7597f29a83758acecd7cfa935b4b8471d");
}

TEST(DigestVectors, TicketClasses) {
  EXPECT_EQ(UniqueId::from_string("mosaik.tickets.jwt.v1").to_hex(),
            "4586eafab50d29f2ad5212e08f84d0a789cd6a565ce8d344652b1b7b60973d8c");
  EXPECT_EQ(UniqueId::from_string("mosaik.tee.tdx.ticket.v1").to_hex(),
            "0df6ed8500424a32854ef0a1b86ea7d41ef1a929b55e26023b045c91a38c44d0");
}

TEST(DigestVectors, NoopStateMachineSignature) {
  EXPECT_EQ(Digest::from_string("mosaik_noop_state_machine").to_hex(),
            "8149f518646f75ad984e3d0256bff30e9256ec4659057f2bfe8f57282bb0cf61");
}

TEST(DigestVectors, DefaultStreamIdOfString) {
  EXPECT_EQ(Digest::hash(as_bytes("alloc::string::String")).to_hex(),
            "3b5a1dd4d2c82bee28a22e983905ce688284518535f3a15c8bb1c4d2bc476908");
}

TEST(DigestVectors, DhtSlotOneSecret) {
  const Digest slot0 = Digest::from_string("my-app");
  const Digest slot1 = slot0.derive(slot0);
  EXPECT_EQ(slot1.to_hex(), "130d2e82fc3b7c75a9c7d712d8ab36542c61ea20eface7141cd5427b70166e38");
  // Explicitly not blake3(slot0), which the mosaik docs wrongly claim.
  EXPECT_NE(slot1, slot0.hashed());
}

TEST(DigestVectors, TicketId) {
  const UniqueId jwt_class = UniqueId::from_string("mosaik.tickets.jwt.v1");
  EXPECT_EQ(jwt_class.derive("abc").to_hex(),
            "64d60144722a7586c65f51de4af0dbb1f9189e6cea1266a0bd416d85709d1518");
}

TEST(DigestVectors, DefaultConsensusDigestFromParts) {
  // blake3(u128_le(500) || u128_le(150) || u128_le(10)).
  auto u128_le = [](std::uint64_t v) {
    Bytes b(16, 0);
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    return b;
  };
  const Bytes a = u128_le(500), b = u128_le(150), c = u128_le(10);
  EXPECT_EQ(Digest::from_parts({a, b, c}).to_hex(),
            "adfe74a86dd01a601b37bf2fa5b6bb292ac49656393b7e0ad47f7766c5bb8022");
}

TEST(DigestVectors, FromU64Layout) {
  EXPECT_EQ(Digest::from_u64(42).to_hex(), std::string(48, '0') + "2a00000000000000");
  EXPECT_EQ(Digest::from_u64(0x0102030405060708ull).to_hex(),
            std::string(48, '0') + "0807060504030201");
  EXPECT_EQ(Digest::from_u64(UINT64_MAX).to_hex(), std::string(48, '0') + std::string(16, 'f'));
  EXPECT_TRUE(Digest::from_u64(0).is_zero());
  EXPECT_EQ(Digest::from_u64(0), Digest::zero());
}

// ---- from_string / from_bytes_or_hash ----------------------------------------------------

constexpr std::string_view kHex64 =
    "00112233445566778899aabbccddeeff0123456789abcdef0f1e2d3c4b5a6978";

TEST(DigestFromString, SixtyFourHexCharsAreDecodedVerbatim) {
  const Digest d = Digest::from_string(kHex64);
  EXPECT_EQ(d.to_hex(), kHex64);
  EXPECT_EQ(d.bytes()[0], 0x00);
  EXPECT_EQ(d.bytes()[1], 0x11);
  EXPECT_EQ(d.bytes()[31], 0x78);
  EXPECT_NE(d, Digest::hash(as_bytes(kHex64)));
}

TEST(DigestFromString, UppercaseAndMixedCaseHexAreDecodedToo) {
  std::string upper(kHex64);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string mixed(kHex64);
  for (std::size_t i = 0; i < mixed.size(); i += 3) {
    mixed[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[i])));
  }
  EXPECT_EQ(Digest::from_string(upper).to_hex(), kHex64);
  EXPECT_EQ(Digest::from_string(mixed).to_hex(), kHex64);
}

TEST(DigestFromString, AnythingElseIsHashed) {
  const std::string shorter(kHex64.substr(0, 63));
  const std::string longer = std::string(kHex64) + "0";
  std::string bad_digit(kHex64);
  bad_digit[17] = 'g';
  const std::string prefixed = "0x" + std::string(kHex64.substr(0, 62));
  std::string with_space(kHex64);
  with_space[0] = ' ';
  for (const std::string& s : {shorter, longer, bad_digit, prefixed, with_space, std::string(),
                               std::string("abc"), std::string(kHex64.substr(0, 32))}) {
    EXPECT_EQ(Digest::from_string(s).to_hex(), hash_hex(s)) << "input '" << s << "'";
  }
}

TEST(DigestFromBytes, ThirtyTwoRawBytesAreHashedNotCopied) {
  std::array<std::uint8_t, 32> raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 7);
  const Digest d = Digest::from_bytes_or_hash(raw);
  EXPECT_EQ(d, Digest::hash(raw));
  EXPECT_NE(d, Digest(raw));
  EXPECT_EQ(Digest::from_bytes_or_hash(as_bytes(kHex64)).to_hex(), kHex64);
}

TEST(DigestHash, NeverSniffsHex) {
  EXPECT_EQ(Digest::hash(as_bytes(kHex64)).to_hex(), hash_hex(kHex64));
  EXPECT_EQ(Digest::hash({}).to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

// ---- derive, hashed, from_parts -----------------------------------------------------------

TEST(DigestDerive, IsBlake3OfSelfThenInfo) {
  const Digest base = Digest::from_string("base");
  Bytes concat(base.view().begin(), base.view().end());
  const std::string info = "some info";
  concat.insert(concat.end(), info.begin(), info.end());
  EXPECT_EQ(base.derive(info), Digest::hash(concat));
  EXPECT_EQ(base.derive(as_bytes(info)), Digest::hash(concat));
  EXPECT_EQ(base.derive(""), base.hashed());
  const Digest other = Digest::from_string("other");
  EXPECT_EQ(base.derive(other), base.derive(other.view()));
  EXPECT_NE(base.derive(other), other.derive(base));
}

TEST(DigestDerive, HashedIsBlake3OfTheBytes) {
  const Digest d = Digest::from_u64(7);
  EXPECT_EQ(d.hashed(), Digest::hash(d.view()));
  EXPECT_NE(d.hashed(), d);
}

TEST(DigestFromParts, IsPlainConcatenation) {
  const Digest joined = Digest::hash(as_bytes("abcdef"));
  EXPECT_EQ(Digest::from_parts({as_bytes("abc"), as_bytes("def")}), joined);
  EXPECT_EQ(Digest::from_parts({as_bytes("a"), as_bytes(""), as_bytes("bcdef")}), joined);
  EXPECT_EQ(Digest::from_parts({as_bytes("abcdef")}), joined);
  EXPECT_EQ(Digest::from_parts({}), Digest::hash({}));
}

// ---- ordering, accessors ------------------------------------------------------------------

TEST(DigestOrdering, IsBytewiseLexicographicNotNumeric) {
  // from_u64 puts the integer little-endian in the last bytes, so 256 sorts before 1.
  EXPECT_LT(Digest::from_u64(256), Digest::from_u64(1));
  EXPECT_LT(Digest::zero(), Digest::from_u64(1));
  std::array<std::uint8_t, 32> first{};
  first[0] = 1;
  std::array<std::uint8_t, 32> last{};
  last.fill(0xff);
  last[0] = 0;
  EXPECT_LT(Digest(last), Digest(first));
  EXPECT_GT(Digest(first), Digest(last));
  EXPECT_EQ(Digest(first), Digest(first));
  EXPECT_NE(Digest(first), Digest(last));
}

RC_GTEST_PROP(DigestOrderingProp, AgreesWithHexStringOrder,
              (const std::array<std::uint8_t, 32>& a, const std::array<std::uint8_t, 32>& b)) {
  const Digest da(a), db(b);
  RC_ASSERT((da < db) == (da.to_hex() < db.to_hex()));
  RC_ASSERT((da == db) == (a == b));
  RC_ASSERT((da < db) == std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()));
}

RC_GTEST_PROP(DigestFromStringProp, HexOfAnyDigestRoundTrips,
              (const std::array<std::uint8_t, 32>& raw)) {
  const Digest d(raw);
  RC_ASSERT(Digest::from_string(d.to_hex()) == d);
  RC_ASSERT(d.to_hex().size() == 64u);
}

TEST(DigestAccessors, ShortHexPrefixAndHash) {
  const Digest d = Digest::from_string(kHex64);
  EXPECT_EQ(d.short_hex(), "0011223344");
  EXPECT_EQ(d.prefix64(), 0x7766554433221100ull);
  EXPECT_EQ(std::hash<Digest>{}(d), static_cast<std::size_t>(d.prefix64()));
  EXPECT_FALSE(d.is_zero());
  EXPECT_TRUE(Digest().is_zero());
  EXPECT_EQ(Digest().to_hex(), std::string(64, '0'));
  std::unordered_set<Digest> set = {d, Digest::zero(), d};
  EXPECT_EQ(set.size(), 2u);
}

TEST(DigestAccessors, SortedSetFollowsHexOrder) {
  std::set<Digest> sorted;
  std::vector<std::string> hexes;
  for (const char* name : {"a", "b", "c", "d", "e", "f", "g", "h"}) {
    sorted.insert(Digest::from_string(name));
    hexes.push_back(Digest::from_string(name).to_hex());
  }
  std::sort(hexes.begin(), hexes.end());
  std::vector<std::string> from_set;
  for (const Digest& d : sorted) from_set.push_back(d.to_hex());
  EXPECT_EQ(from_set, hexes);
}

}  // namespace
}  // namespace smalti
