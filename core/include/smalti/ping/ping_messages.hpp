// Wire messages of the ping protocol (ALPN /smalti/discovery/ping/1).
//
// A request carries a nonce chosen by the pinger; the response echoes it. Both are encoded with
// the smalti codec as a variant: index 0 request, 1 response.
#pragma once

#include <cstdint>
#include <variant>

#include "smalti/base/codec.hpp"

namespace smalti::ping {

inline constexpr const char* kAlpn = "/smalti/discovery/ping/1";
// Largest ping frame accepted; real ones are a few bytes.
inline constexpr std::size_t kMaxFrameSize = 64;

struct Request {
  std::uint64_t nonce = 0;
  friend bool operator==(const Request&, const Request&) = default;
};
SMALTI_FIELDS(Request, nonce)

struct Response {
  std::uint64_t nonce = 0;
  friend bool operator==(const Response&, const Response&) = default;
};
SMALTI_FIELDS(Response, nonce)

using Message = std::variant<Request, Response>;

// Decodes one ping frame; kLimitExceeded for oversized frames, kMalformed for anything else bad.
Result<Message> decode_message(ByteView frame);

}  // namespace smalti::ping
