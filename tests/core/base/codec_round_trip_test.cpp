// Round-trip properties of the binary codec: every supported type decodes to the value it was
// encoded from, and encodes again to the same bytes.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <string>

#include "core/base/codec_test_support.hpp"
#include "smalti/base/codec.hpp"

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

}  // namespace
}  // namespace smalti::codec_test
