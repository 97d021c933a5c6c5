// The binary codec's exact wire format for a few values, integer and float extremes, and rejection
// of malformed input with the right StatusCode.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <limits>
#include <string>

#include "core/base/codec_test_support.hpp"
#include "smalti/base/codec.hpp"

namespace smalti::codec_test {
namespace {

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

}  // namespace
}  // namespace smalti::codec_test

namespace smalti {
namespace {

struct NoFields {};
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
