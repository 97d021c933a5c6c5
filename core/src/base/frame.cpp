#include "smalti/base/frame.hpp"

#include <string>

namespace smalti {

Status append_frame(Bytes& out, ByteView payload, std::size_t max_frame_size) {
  if (payload.size() > max_frame_size) {
    return error(StatusCode::kLimitExceeded, "frame of " + std::to_string(payload.size()) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(max_frame_size));
  }
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<std::uint8_t>(n >> 24));
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
  return Status::ok();
}

void FrameReader::feed(ByteView bytes) {
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Bytes>> FrameReader::next() {
  if (!failed_.is_ok()) return failed_;
  const std::size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderSize) return std::optional<Bytes>();
  const std::uint8_t* p = buffer_.data() + consumed_;
  const std::size_t n = static_cast<std::size_t>(p[0]) << 24 |
                        static_cast<std::size_t>(p[1]) << 16 | static_cast<std::size_t>(p[2]) << 8 |
                        static_cast<std::size_t>(p[3]);
  if (n > max_frame_size_) {
    failed_ = error(StatusCode::kLimitExceeded, "incoming frame of " + std::to_string(n) +
                                                    " bytes exceeds the limit of " +
                                                    std::to_string(max_frame_size_));
    return failed_;
  }
  if (available < kFrameHeaderSize + n) return std::optional<Bytes>();
  Bytes frame(p + kFrameHeaderSize, p + kFrameHeaderSize + n);
  consumed_ += kFrameHeaderSize + n;
  if (consumed_ > (64u << 10) && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  return std::optional<Bytes>(std::move(frame));
}

}  // namespace smalti
