// Tests for the binary codec: round-trip properties for every supported type, the exact wire
// format of a few values, and rejection of malformed input with the right StatusCode.
#include "smalti/base/codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>
#include <string>

namespace smalti {
namespace codec_test {

enum class Color : std::uint8_t { kRed, kGreen, kBlue };
SMALTI_ENUM(Color, Color::kBlue)

struct Empty {
  friend bool operator==(const Empty&, const Empty&) = default;
};
SMALTI_EMPTY_FIELDS(Empty)

struct Inner {
  std::int32_t a = 0;
  std::string b;
  std::optional<Color> c;
  friend bool operator==(const Inner&, const Inner&) = default;
};
SMALTI_FIELDS(Inner, a, b, c)

struct Outer {
  std::vector<Inner> items;
  std::map<std::string, std::vector<std::uint16_t>> index;
  std::set<std::int64_t> keys;
  Empty empty;
  std::variant<std::monostate, std::uint64_t, Inner> choice;
  Digest id;
  Duration timeout{};
  WallTime at;
  std::pair<bool, std::int8_t> flag;
  std::array<std::uint16_t, 3> triple{};
  Bytes blob;
  friend bool operator==(const Outer&, const Outer&) = default;
};
SMALTI_FIELDS(Outer, items, index, keys, empty, choice, id, timeout, at, flag, triple, blob)

// A recursive type: each level of the tree is two levels of codec nesting (struct + vector).
struct Tree {
  std::vector<Tree> children;
  friend bool operator==(const Tree&, const Tree&) = default;
};
SMALTI_FIELDS(Tree, children)

// Builds a tree of depth <= 12 from a byte string: `b % 3 == 0` closes the current node.
Tree tree_from_shape(const std::vector<std::uint8_t>& shape, std::size_t& pos, int depth) {
  Tree t;
  while (pos < shape.size()) {
    const std::uint8_t b = shape[pos++];
    if (b % 3 == 0) break;
    if (depth < 12) t.children.push_back(tree_from_shape(shape, pos, depth + 1));
  }
  return t;
}

Tree chain(int levels) {
  Tree t;
  for (int i = 1; i < levels; ++i) t = Tree{{std::move(t)}};
  return t;
}

}  // namespace codec_test
}  // namespace smalti

// RapidCheck generators for the types it does not know.
namespace rc {
namespace ct = smalti::codec_test;

template <typename T>
struct Arbitrary<std::optional<T>> {
  static Gen<std::optional<T>> arbitrary() {
    return gen::oneOf(gen::just(std::optional<T>()),
                      gen::map(gen::arbitrary<T>(), [](T v) { return std::optional<T>(v); }));
  }
};

template <typename... Ts>
struct Arbitrary<std::variant<Ts...>> {
  static Gen<std::variant<Ts...>> arbitrary() {
    return gen::oneOf(gen::map(gen::arbitrary<Ts>(), [](Ts v) {
      return std::variant<Ts...>(std::in_place_type<Ts>, std::move(v));
    })...);
  }
};

template <>
struct Arbitrary<std::monostate> {
  static Gen<std::monostate> arbitrary() { return gen::just(std::monostate{}); }
};

template <>
struct Arbitrary<smalti::Digest> {
  static Gen<smalti::Digest> arbitrary() {
    return gen::construct<smalti::Digest>(gen::arbitrary<std::array<std::uint8_t, 32>>());
  }
};

template <>
struct Arbitrary<smalti::WallTime> {
  static Gen<smalti::WallTime> arbitrary() {
    return gen::map(gen::arbitrary<std::int64_t>(), &smalti::WallTime::from_unix_nanos);
  }
};

template <>
struct Arbitrary<ct::Color> {
  static Gen<ct::Color> arbitrary() {
    return gen::element(ct::Color::kRed, ct::Color::kGreen, ct::Color::kBlue);
  }
};

template <>
struct Arbitrary<ct::Empty> {
  static Gen<ct::Empty> arbitrary() { return gen::just(ct::Empty{}); }
};

template <>
struct Arbitrary<ct::Inner> {
  static Gen<ct::Inner> arbitrary() {
    return gen::build<ct::Inner>(gen::set(&ct::Inner::a), gen::set(&ct::Inner::b),
                                 gen::set(&ct::Inner::c));
  }
};

template <>
struct Arbitrary<ct::Outer> {
  static Gen<ct::Outer> arbitrary() {
    using O = ct::Outer;
    return gen::build<O>(gen::set(&O::items), gen::set(&O::index), gen::set(&O::keys),
                         gen::set(&O::choice), gen::set(&O::id), gen::set(&O::timeout),
                         gen::set(&O::at), gen::set(&O::flag), gen::set(&O::triple),
                         gen::set(&O::blob));
  }
};

template <>
struct Arbitrary<ct::Tree> {
  static Gen<ct::Tree> arbitrary() {
    return gen::map(gen::arbitrary<std::vector<std::uint8_t>>(), [](const auto& shape) {
      std::size_t pos = 0;
      return ct::tree_from_shape(shape, pos, 0);
    });
  }
};

}  // namespace rc

namespace smalti::codec_test {
namespace {

template <typename T>
void check_round_trip(const T& value) {
  const Bytes bytes = encode(value);
  Result<T> decoded = decode<T>(bytes);
  RC_ASSERT(decoded.is_ok());
  RC_ASSERT(decoded.value() == value);
  RC_ASSERT(encode(decoded.value()) == bytes);
}

template <typename... Ts>
void check_round_trips(const Ts&... values) {
  (check_round_trip(values), ...);
}

// ---- round-trip properties ---------------------------------------------------------------

RC_GTEST_PROP(CodecRoundTrip, BoolAndIntegers,
              (bool b, std::uint8_t u8, std::uint16_t u16, std::uint32_t u32, std::uint64_t u64,
               std::int8_t i8, std::int16_t i16, std::int32_t i32, std::int64_t i64)) {
  check_round_trips(b, u8, u16, u32, u64, i8, i16, i32, i64);
}

RC_GTEST_PROP(CodecRoundTrip, FloatsAreBitwiseIdenticalIncludingNaNPayloads,
              (std::uint32_t fbits, std::uint64_t dbits)) {
  const float f = std::bit_cast<float>(fbits);
  const double d = std::bit_cast<double>(dbits);
  const auto f2 = decode<float>(encode(f));
  const auto d2 = decode<double>(encode(d));
  RC_ASSERT(f2.is_ok() && d2.is_ok());
  RC_ASSERT(std::bit_cast<std::uint32_t>(f2.value()) == fbits);
  RC_ASSERT(std::bit_cast<std::uint64_t>(d2.value()) == dbits);
}

RC_GTEST_PROP(CodecRoundTrip, StringsAndBytes, (const std::string& s, const Bytes& b)) {
  check_round_trips(s, b);
}

RC_GTEST_PROP(CodecRoundTrip, NestedVectors,
              (const std::vector<std::vector<std::string>>& a,
               const std::vector<std::vector<std::vector<std::int16_t>>>& b,
               const std::vector<Bytes>& c, const std::vector<bool>& d)) {
  check_round_trips(a, b, c, d);
}

RC_GTEST_PROP(CodecRoundTrip, MapsAndSets,
              (const std::map<std::string, std::vector<std::uint32_t>>& a,
               const std::map<std::int32_t, std::optional<std::string>>& b,
               const std::set<std::string>& c, const std::set<std::int64_t>& d,
               const std::set<Digest>& e, const std::map<Digest, std::set<std::uint8_t>>& f)) {
  check_round_trips(a, b, c, d, e, f);
}

RC_GTEST_PROP(CodecRoundTrip, OptionalsVariantsPairsArrays,
              (const std::optional<std::optional<std::int32_t>>& a,
               const std::optional<std::string>& b,
               const std::variant<std::monostate, bool, std::uint64_t, std::string,
                                  std::vector<std::int8_t>>& c,
               const std::pair<std::string, std::int64_t>& d, const std::array<std::uint64_t, 4>& e,
               const std::array<std::string, 2>& f)) {
  check_round_trips(a, b, c, d, e, f);
}

RC_GTEST_PROP(CodecRoundTrip, DigestDurationWallTimeEnum,
              (const Digest& a, Duration b, WallTime c, Color d, const std::vector<Color>& e)) {
  check_round_trips(a, b, c, d, e);
}

RC_GTEST_PROP(CodecRoundTrip, Structs,
              (const Inner& a, const Outer& b, const Empty& c, const Tree& d)) {
  check_round_trips(a, b, c, d);
}

template <typename T>
void check_extremes() {
  for (T v : {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), T(0), T(1)}) {
    auto r = decode<T>(encode(v));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r.value(), v);
  }
}

TEST(CodecTest, IntegerExtremesRoundTrip) {
  check_extremes<std::uint8_t>();
  check_extremes<std::uint16_t>();
  check_extremes<std::uint32_t>();
  check_extremes<std::uint64_t>();
  check_extremes<std::int8_t>();
  check_extremes<std::int16_t>();
  check_extremes<std::int32_t>();
  check_extremes<std::int64_t>();
  check_extremes<long long>();
  check_extremes<unsigned long long>();
}

TEST(CodecTest, FloatSpecialValuesKeepTheirBits) {
  // Quiet and signalling NaNs with payloads, a negative NaN, -0.0, infinity, the smallest
  // denormal.
  for (std::uint64_t bits : {0x7ff8000000000001ull, 0x7ff0000000000001ull, 0xfff8dead0000beefull,
                             0x8000000000000000ull, 0x7ff0000000000000ull, 0x1ull}) {
    auto r = decode<double>(encode(std::bit_cast<double>(bits)));
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(std::bit_cast<std::uint64_t>(r.value()), bits);
  }
  for (std::uint32_t bits : {0x7fc00001u, 0x7f800001u, 0xffc0beefu, 0x80000000u, 0x1u}) {
    auto r = decode<float>(encode(std::bit_cast<float>(bits)));
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(std::bit_cast<std::uint32_t>(r.value()), bits);
  }
}

TEST(CodecTest, WireFormat) {
  EXPECT_EQ(encode(true), (Bytes{1}));
  EXPECT_EQ(encode<std::uint8_t>(200), (Bytes{200}));
  EXPECT_EQ(encode<std::uint16_t>(300), (Bytes{0xac, 0x02}));
  EXPECT_EQ(encode<std::uint64_t>(UINT64_MAX),
            (Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(encode<std::int32_t>(-1), (Bytes{0x01}));
  EXPECT_EQ(encode<std::int32_t>(1), (Bytes{0x02}));
  EXPECT_EQ(encode<std::int8_t>(-128), (Bytes{0xff, 0x01}));
  EXPECT_EQ(encode(1.0), (Bytes{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}));
  EXPECT_EQ(encode(std::string("hi")), (Bytes{2, 'h', 'i'}));
  EXPECT_EQ(encode(std::optional<std::uint16_t>()), (Bytes{0}));
  EXPECT_EQ(encode(std::optional<std::uint16_t>(5)), (Bytes{1, 5}));
  EXPECT_EQ(encode(std::variant<std::monostate, std::string>("a")), (Bytes{1, 1, 'a'}));
  EXPECT_EQ(encode(std::map<std::uint8_t, bool>{{9, true}, {3, false}}), (Bytes{2, 3, 0, 9, 1}));
  EXPECT_EQ(encode(Color::kBlue), (Bytes{2}));
  EXPECT_EQ(encode(Empty{}), Bytes{});
  EXPECT_EQ(encode(Duration(-1)), (Bytes{1}));
  EXPECT_EQ(encode(Inner{-2, "x", Color::kGreen}), (Bytes{3, 1, 'x', 1, 1}));
  const Bytes digest = encode(Digest::from_u64(1));
  ASSERT_EQ(digest.size(), 32u);
  EXPECT_EQ(digest[24], 1);
}

// ---- malformed input ------------------------------------------------------------------------

template <typename T>
void expect_failure(const Bytes& input, StatusCode code, std::string_view fragment,
                    DecodeLimits limits = {}) {
  auto r = decode<T>(input, limits);
  ASSERT_FALSE(r.is_ok()) << "decoded although malformed";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().to_string();
}

TEST(CodecMalformed, TruncatedInputAtEveryLength) {
  Outer outer;
  outer.items = {Inner{7, "seven", Color::kRed}, Inner{-1, "", std::nullopt}};
  outer.index = {{"a", {1, 500}}, {"b", {}}};
  outer.keys = {-5, 9};
  outer.choice = Inner{3, "c", Color::kBlue};
  outer.id = Digest::from_u64(99);
  outer.timeout = 250ms;
  outer.flag = {true, -3};
  outer.blob = {1, 2, 3};
  const Bytes full = encode(outer);
  ASSERT_TRUE(decode<Outer>(full).is_ok());
  for (std::size_t len = 0; len < full.size(); ++len) {
    auto r = decode<Outer>(ByteView(full).first(len));
    ASSERT_FALSE(r.is_ok()) << "prefix of " << len << " bytes decoded";
    EXPECT_EQ(r.status().code(), StatusCode::kMalformed) << r.status().to_string();
  }
  expect_failure<std::uint32_t>({}, StatusCode::kMalformed, "unexpected end of input");
  expect_failure<double>({1, 2, 3}, StatusCode::kMalformed, "unexpected end of input");
  expect_failure<Digest>(Bytes(31, 0), StatusCode::kMalformed, "unexpected end of input");
}

TEST(CodecMalformed, TrailingBytes) {
  expect_failure<std::uint16_t>({5, 0}, StatusCode::kMalformed, "1 trailing bytes");
  expect_failure<Empty>({0}, StatusCode::kMalformed, "trailing bytes");
  expect_failure<std::string>({1, 'a', 'b', 'c'}, StatusCode::kMalformed, "2 trailing bytes");
}

TEST(CodecMalformed, NonCanonicalVarint) {
  expect_failure<std::uint64_t>({0x80, 0x00}, StatusCode::kMalformed, "non-canonical");
  expect_failure<std::uint32_t>({0x81, 0x80, 0x00}, StatusCode::kMalformed, "non-canonical");
  expect_failure<std::string>({0x80, 0x00}, StatusCode::kMalformed, "non-canonical");
  expect_failure<std::uint64_t>({0x80}, StatusCode::kMalformed, "end of input in varint");
}

TEST(CodecMalformed, VarintOverflow) {
  Bytes eleven(10, 0x80);
  eleven.push_back(0x01);
  expect_failure<std::uint64_t>(eleven, StatusCode::kMalformed, "overflows");
  Bytes tenth_two(9, 0xff);
  tenth_two.push_back(0x02);
  expect_failure<std::uint64_t>(tenth_two, StatusCode::kMalformed, "overflows");
  expect_failure<std::int64_t>(tenth_two, StatusCode::kMalformed, "overflows");
  Bytes max(9, 0xff);
  max.push_back(0x01);
  EXPECT_EQ(decode<std::uint64_t>(max).value_or(0), UINT64_MAX);
}

TEST(CodecMalformed, BoolByteTwo) {
  expect_failure<bool>({2}, StatusCode::kMalformed, "bool byte is 2");
  expect_failure<std::optional<std::uint8_t>>({2, 0}, StatusCode::kMalformed, "bool byte");
}

TEST(CodecMalformed, IntegerOutOfRange) {
  expect_failure<std::uint16_t>({0x80, 0x80, 0x04}, StatusCode::kMalformed, "out of range");
  expect_failure<std::uint32_t>({0x80, 0x80, 0x80, 0x80, 0x10}, StatusCode::kMalformed,
                                "out of range");
  expect_failure<std::int8_t>({0x80, 0x02}, StatusCode::kMalformed, "out of range");  // 128
  expect_failure<std::int8_t>({0x81, 0x02}, StatusCode::kMalformed, "out of range");  // -129
  EXPECT_EQ(decode<std::int8_t>(Bytes{0xfe, 0x01}).value_or(0), 127);
}

TEST(CodecMalformed, UnknownEnumValue) {
  expect_failure<Color>({3}, StatusCode::kMalformed, "unknown enum value 3");
  expect_failure<Color>({0x80, 0x01}, StatusCode::kMalformed, "unknown enum value 128");
}

TEST(CodecMalformed, VariantIndexOutOfRange) {
  using V = std::variant<std::monostate, std::uint64_t, Inner>;
  expect_failure<V>({3}, StatusCode::kMalformed, "variant index 3 out of range");
  expect_failure<V>({0xff, 0x01}, StatusCode::kMalformed, "out of range");
}

TEST(CodecMalformed, MapKeysUnsortedOrDuplicate) {
  using M = std::map<std::uint16_t, bool>;
  expect_failure<M>({2, 5, 1, 3, 0}, StatusCode::kMalformed, "not strictly increasing");
  expect_failure<M>({2, 5, 1, 5, 0}, StatusCode::kMalformed, "not strictly increasing");
  EXPECT_TRUE(decode<M>(Bytes{2, 3, 0, 5, 1}).is_ok());
}

TEST(CodecMalformed, SetUnsortedOrDuplicate) {
  expect_failure<std::set<std::uint8_t>>({2, 7, 7}, StatusCode::kMalformed, "not strictly");
  expect_failure<std::set<std::string>>({2, 1, 'b', 1, 'a'}, StatusCode::kMalformed,
                                        "not strictly");
}

TEST(CodecMalformed, LengthLargerThanInput) {
  expect_failure<std::string>({5, 'a', 'b'}, StatusCode::kMalformed, "exceeds the remaining");
  expect_failure<Bytes>({0xff, 0xff, 0x03, 1}, StatusCode::kMalformed, "exceeds the remaining");
  expect_failure<std::vector<std::uint32_t>>({3, 1, 2}, StatusCode::kMalformed, "end of input");
}

TEST(CodecMalformed, LengthOverTheLimit) {
  const DecodeLimits limits{.max_length = 4, .max_depth = 32};
  EXPECT_TRUE(decode<std::string>(Bytes{4, 'a', 'b', 'c', 'd'}, limits).is_ok());
  expect_failure<std::string>({5, 'a', 'b', 'c', 'd', 'e'}, StatusCode::kLimitExceeded,
                              "exceeds the limit", limits);
  expect_failure<Bytes>({5, 1, 2, 3, 4, 5}, StatusCode::kLimitExceeded, "limit", limits);
  expect_failure<std::vector<bool>>({5, 1, 1, 1, 1, 1}, StatusCode::kLimitExceeded, "limit",
                                    limits);
  expect_failure<std::set<std::uint8_t>>({5, 1, 2, 3, 4, 5}, StatusCode::kLimitExceeded, "limit",
                                         limits);
  expect_failure<std::map<std::uint8_t, Empty>>({5, 1, 2, 3, 4, 5}, StatusCode::kLimitExceeded,
                                                "limit", limits);
  // The default limit is 16 MiB; a 2^40 length is rejected before any allocation.
  expect_failure<Bytes>({0x80, 0x80, 0x80, 0x80, 0x80, 0x20}, StatusCode::kLimitExceeded, "limit");
}

TEST(CodecMalformed, NestingDeeperThanTheLimit) {
  // A chain of n trees is 2n levels deep; the default limit is 32 levels.
  EXPECT_TRUE(decode<Tree>(encode(chain(16))).is_ok());
  expect_failure<Tree>(encode(chain(17)), StatusCode::kLimitExceeded, "nesting deeper than 32");
  // A long run of "one child" never overflows the stack.
  expect_failure<Tree>(Bytes(100000, 0x01), StatusCode::kLimitExceeded, "nesting");
  const DecodeLimits shallow{.max_length = 100, .max_depth = 2};
  using Two = std::vector<std::vector<std::uint16_t>>;
  EXPECT_TRUE(decode<Two>(Bytes{1, 1, 5}, shallow).is_ok());
  expect_failure<std::vector<Two>>({1, 1, 1, 5}, StatusCode::kLimitExceeded, "nesting", shallow);
  expect_failure<std::optional<std::optional<std::optional<bool>>>>(
      {1, 1, 1, 0}, StatusCode::kLimitExceeded, "nesting", shallow);
}

// ---- arbitrary input ------------------------------------------------------------------------

using Loose = std::vector<std::variant<std::monostate, std::uint16_t, std::string, bool,
                                       std::map<std::uint8_t, std::optional<std::int32_t>>>>;

template <typename T>
void check_decodes_canonically_or_fails(const Bytes& input) {
  auto r = decode<T>(input);
  if (r.is_ok()) {
    RC_ASSERT(encode(r.value()) == input);
  } else {
    RC_ASSERT(r.status().code() == StatusCode::kMalformed ||
              r.status().code() == StatusCode::kLimitExceeded);
    RC_ASSERT(!r.status().message().empty());
  }
}

RC_GTEST_PROP(CodecArbitraryInput, RandomBytesDecodeCanonicallyOrFail, (const Bytes& input)) {
  check_decodes_canonically_or_fails<Outer>(input);
  check_decodes_canonically_or_fails<Tree>(input);
  check_decodes_canonically_or_fails<Loose>(input);
  check_decodes_canonically_or_fails<std::map<std::string, std::set<std::int16_t>>>(input);
}

RC_GTEST_PROP(CodecArbitraryInput, MutatedEncodingsDecodeCanonicallyOrFail,
              (const Outer& value, const Loose& loose, std::uint32_t where, std::uint8_t what)) {
  for (Bytes bytes : {encode(value), encode(loose)}) {
    RC_ASSERT(!bytes.empty());
    bytes[where % bytes.size()] ^= static_cast<std::uint8_t>(what | 1);
    check_decodes_canonically_or_fails<Outer>(bytes);
    check_decodes_canonically_or_fails<Loose>(bytes);
  }
}

}  // namespace
}  // namespace smalti::codec_test

namespace smalti {
namespace {

struct NoFields {
  friend bool operator==(const NoFields&, const NoFields&) = default;
};
SMALTI_EMPTY_FIELDS(NoFields)

// Regression: four bytes announcing 16 million zero-size elements took seconds and hundreds of
// megabytes to decode.
TEST(CodecLimits, ZeroSizeVectorElementsAreCapped) {
  const Bytes huge = {0x80, 0x80, 0x80, 0x08};  // a count of 16,777,216 and nothing else
  auto monostates = decode<std::vector<std::monostate>>(huge);
  ASSERT_FALSE(monostates.is_ok());
  EXPECT_EQ(monostates.status().code(), StatusCode::kLimitExceeded);
  auto empties = decode<std::vector<std::array<NoFields, 64>>>(huge);
  ASSERT_FALSE(empties.is_ok());
  EXPECT_EQ(empties.status().code(), StatusCode::kLimitExceeded);
  // The budget is per decode, not per vector: nesting does not multiply it.
  std::vector<std::vector<NoFields>> nested(4, std::vector<NoFields>(kMaxZeroSizeElements / 2));
  auto too_many = decode<std::vector<std::vector<NoFields>>>(encode(nested));
  ASSERT_FALSE(too_many.is_ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kLimitExceeded);
  // Up to the cap they still round-trip.
  const std::vector<NoFields> ok(kMaxZeroSizeElements);
  auto back = decode<std::vector<NoFields>>(encode(ok));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->size(), ok.size());
}

}  // namespace
}  // namespace smalti
