// libFuzzer target for the binary codec.
//
// The first input byte picks one of several nested types (and whether tight DecodeLimits apply);
// the rest is decoded as that type. Decoding must end in a value or an error, never a crash, a
// sanitizer report or a huge allocation; when it yields a value, re-encoding that value must give
// back exactly the decoded bytes, because the encoding is canonical.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/base/codec.hpp"

namespace smalti::fuzz {

enum class Kind : std::uint8_t { kAlpha, kBeta, kGamma, kDelta };
SMALTI_ENUM(Kind, Kind::kDelta)

struct Leaf {
  std::int64_t number = 0;
  std::string name;
  std::optional<Kind> kind;
  bool flag = false;
};
SMALTI_FIELDS(Leaf, number, name, kind, flag)

struct Record {
  std::vector<Leaf> leaves;
  std::map<std::string, std::optional<std::vector<std::int32_t>>> index;
  std::variant<std::monostate, std::uint16_t, Leaf, std::string> choice;
  std::set<std::pair<std::uint32_t, std::string>> tags;
  Digest id;
  Duration ttl{};
  WallTime at;
  std::array<std::uint8_t, 3> rgb{};
  double weight = 0;
  Bytes blob;
};
SMALTI_FIELDS(Record, leaves, index, choice, tags, id, ttl, at, rgb, weight, blob)

struct Node {
  std::uint8_t label = 0;
  std::vector<Node> children;
  std::optional<std::string> note;
};
SMALTI_FIELDS(Node, label, children, note)

struct Nothing {};
SMALTI_EMPTY_FIELDS(Nothing)

using Mixed = std::vector<std::variant<std::monostate, bool, std::int8_t, std::uint64_t, float,
                                       std::string, Nothing, std::vector<Kind>>>;
using Nested = std::map<std::int16_t, std::vector<std::optional<std::set<std::string>>>>;
using Pairs = std::vector<std::pair<std::optional<Leaf>, std::map<std::uint32_t, Bytes>>>;

template <typename T>
void check(ByteView input, DecodeLimits limits) {
  Result<T> decoded = decode<T>(input, limits);
  if (!decoded.is_ok()) {
    const StatusCode code = decoded.status().code();
    SMALTI_ASSERT(code == StatusCode::kMalformed || code == StatusCode::kLimitExceeded,
                  "decode failed with an unexpected status code");
    SMALTI_ASSERT(!decoded.status().message().empty(), "decode error without a message");
    return;
  }
  const Bytes again = encode(decoded.value());
  SMALTI_ASSERT(
      again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()),
      "re-encoding a decoded value did not reproduce the input");
}

}  // namespace smalti::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace smalti::fuzz;
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const smalti::ByteView input(data + 1, size - 1);
  // Bit 7 selects tight limits so that the limit paths are exercised with short inputs.
  const smalti::DecodeLimits limits = (selector & 0x80) != 0
                                          ? smalti::DecodeLimits{.max_length = 16, .max_depth = 6}
                                          : smalti::DecodeLimits{};
  switch (selector & 0x07) {
    case 0:
      check<Record>(input, limits);
      break;
    case 1:
      check<Node>(input, limits);
      break;
    case 2:
      check<Mixed>(input, limits);
      break;
    case 3:
      check<Nested>(input, limits);
      break;
    case 4:
      check<Pairs>(input, limits);
      break;
    case 5:
      check<std::vector<Record>>(input, limits);
      break;
    case 6:
      check<std::optional<std::variant<Leaf, Node, std::string>>>(input, limits);
      break;
    default:
      check<Leaf>(input, limits);
      break;
  }
  return 0;
}
