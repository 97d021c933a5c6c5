// Tests for smalti::to_hex / from_hex.
#include "smalti/base/hex.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

namespace smalti {
namespace {

TEST(HexTest, EncodesLowercase) {
  EXPECT_EQ(to_hex({}), "");
  const Bytes bytes = {0x00, 0x0f, 0xf0, 0xff, 0xab, 0x5a};
  EXPECT_EQ(to_hex(bytes), "000ff0ffab5a");
}

TEST(HexTest, EveryByteValueRoundTrips) {
  Bytes all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  const std::string hex = to_hex(all);
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(504), "fcfdfeff");
  auto back = from_hex(hex);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back.value(), all);
}

TEST(HexTest, DecodesUpperLowerAndMixedCase) {
  const Bytes expected = {0xde, 0xad, 0xbe, 0xef};
  for (const char* text : {"deadbeef", "DEADBEEF", "DeAdBeEf"}) {
    auto r = from_hex(text);
    ASSERT_TRUE(r.is_ok()) << text;
    EXPECT_EQ(r.value(), expected) << text;
  }
}

TEST(HexTest, EmptyStringDecodesToNothing) {
  auto r = from_hex("");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->empty());
}

TEST(HexTest, OddLengthIsMalformed) {
  for (const char* text : {"0", "abc", "00112"}) {
    auto r = from_hex(text);
    ASSERT_FALSE(r.is_ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kMalformed);
    EXPECT_NE(r.status().message().find("odd"), std::string::npos);
  }
}

TEST(HexTest, NonHexDigitIsMalformedAndNamesTheOffset) {
  struct Case {
    std::string text;
    std::string offset;
  };
  const Case cases[] = {{"0g", "offset 0"},
                        {"g0", "offset 0"},
                        {"00zz", "offset 2"},
                        {"0x00", "offset 0"},
                        {"00 1", "offset 2"},
                        {"abcd-e", "offset 4"},
                        {std::string("00\0"
                                     "0",
                                     4),
                         "offset 2"},
                        {"\xff\xff", "offset 0"},
                        {"::", "offset 0"},
                        {"@A", "offset 0"},
                        {"`a", "offset 0"},
                        {"/0", "offset 0"},
                        {"G0", "offset 0"}};
  for (const Case& c : cases) {
    auto r = from_hex(c.text);
    ASSERT_FALSE(r.is_ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kMalformed) << c.text;
    EXPECT_NE(r.status().message().find(c.offset), std::string::npos)
        << c.text << ": " << r.status().message();
  }
}

RC_GTEST_PROP(HexProp, RoundTrip, (const std::vector<std::uint8_t>& bytes)) {
  const std::string hex = to_hex(bytes);
  RC_ASSERT(hex.size() == 2 * bytes.size());
  RC_ASSERT(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  auto back = from_hex(hex);
  RC_ASSERT(back.is_ok());
  RC_ASSERT(back.value() == bytes);
}

RC_GTEST_PROP(HexProp, ArbitraryTextEitherDecodesExactlyOrFails, (const std::string& text)) {
  auto r = from_hex(text);
  const bool valid =
      text.size() % 2 == 0 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  RC_ASSERT(r.is_ok() == valid);
  if (valid) {
    std::string lower = text;
    for (char& c : lower) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    RC_ASSERT(to_hex(r.value()) == lower);
  } else {
    RC_ASSERT(r.status().code() == StatusCode::kMalformed);
  }
}

}  // namespace
}  // namespace smalti
