// The binary codec on arbitrary input: random and mutated bytes either decode to a value that
// encodes back to the same bytes, or fail with kMalformed or kLimitExceeded.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/base/codec_test_support.hpp"
#include "smalti/base/codec.hpp"

namespace smalti::codec_test {
namespace {

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
