// Frames: a 4-byte big-endian length, then the payload (DESIGN.md section 6).
//
// FrameReader reassembles frames from a byte stream (a QUIC stream delivers arbitrary pieces).
// Every frame is bounded by max_frame_size; a larger announced length is an error, and the
// reader then stays failed. Not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "smalti/base/bytes.hpp"
#include "smalti/base/status.hpp"

namespace smalti {

inline constexpr std::size_t kFrameHeaderSize = 4;
// The default bound on one frame's payload.
inline constexpr std::size_t kDefaultMaxFrameSize = 16u << 20;

// Appends header and payload to `out`. Fails with kLimitExceeded when the payload is too large.
Status append_frame(Bytes& out, ByteView payload,
                    std::size_t max_frame_size = kDefaultMaxFrameSize);

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_size = kDefaultMaxFrameSize)
      : max_frame_size_(max_frame_size) {}

  // Buffers more stream bytes. A caller that drains next() after each feed() keeps the buffer
  // below one frame plus one header plus the bytes fed.
  void feed(ByteView bytes);
  // The next whole frame, nothing when more bytes are needed, or an error for an oversized frame.
  Result<std::optional<Bytes>> next();
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::size_t max_frame_size_;
  Bytes buffer_;
  std::size_t consumed_ = 0;
  Status failed_;
};

}  // namespace smalti
