// Wire messages of streams (ALPN /smalti/streams/1), one per frame, as a codec variant.
//
//   consumer -> producer: Subscribe{network, stream, credits}     (first frame)
//   producer -> consumer: Start{network, stream}                   (subscription accepted)
//   producer -> consumer: Datum{payload}...                        (at most `credits` in flight)
//   consumer -> producer: Credit{n}...                             (n more datums may come)
// Credits are smalti's back-pressure (mosaik has none): a producer never has more datums in
// flight to a consumer than the consumer granted, so a consumer's queue is bounded; a consumer
// that stops granting lets the producer's per-consumer queue fill, and the producer then cuts it
// with TooSlow (or drops datums for it). Refusals are link close codes (mosaik's numbers).
#pragma once

#include <cstdint>
#include <variant>

#include "smalti/base/codec.hpp"
#include "smalti/base/digest.hpp"

namespace smalti::streams {

using StreamId = Digest;

inline constexpr const char* kAlpn = "/smalti/streams/1";
inline constexpr std::size_t kMaxMessageSize = 16u << 20;
// The largest datum payload: its frame (a variant index and a length before it) stays within
// kMaxMessageSize.
inline constexpr std::size_t kMaxPayloadSize = kMaxMessageSize - 16;

namespace stream_close {
inline constexpr std::uint32_t kDifferentNetwork = 101;
inline constexpr std::uint32_t kUnknownPeer = 401;
inline constexpr std::uint32_t kStreamNotFound = 10'404;
inline constexpr std::uint32_t kNotAllowed = 10'403;
inline constexpr std::uint32_t kNoCapacity = 10'509;
inline constexpr std::uint32_t kTooSlow = 10'413;
}  // namespace stream_close

struct Subscribe {
  NetworkId network;
  StreamId stream;
  std::uint32_t credits = 0;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};
SMALTI_FIELDS(Subscribe, network, stream, credits)

struct Start {
  NetworkId network;
  StreamId stream;
  friend bool operator==(const Start&, const Start&) = default;
};
SMALTI_FIELDS(Start, network, stream)

struct Datum {
  Bytes payload;
  friend bool operator==(const Datum&, const Datum&) = default;
};
SMALTI_FIELDS(Datum, payload)

struct Credit {
  std::uint32_t n = 0;
  friend bool operator==(const Credit&, const Credit&) = default;
};
SMALTI_FIELDS(Credit, n)

using Message = std::variant<Subscribe, Start, Datum, Credit>;

// Decodes one streams frame: kLimitExceeded when oversized, kMalformed otherwise.
Result<Message> decode_message(ByteView frame);

}  // namespace smalti::streams
