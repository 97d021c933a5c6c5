// libFuzzer target for FrameReader.
//
// Input layout: byte 0 sets a small max frame size (0..64); then repeatedly one byte gives the
// size of the next piece (0..31) followed by that many stream bytes. Each piece is fed to a
// FrameReader, which is then drained. A straightforward reference parser over the concatenated
// stream says what the reader must produce. Checked invariants:
//   - every frame matches the reference, in order, and is never larger than the maximum;
//   - the reader fails (kLimitExceeded) exactly when the reference reaches an oversized header;
//   - once failed it stays failed, with the same Status, even when more bytes arrive;
//   - buffered() counts exactly the unconsumed bytes and stays below one header plus one frame.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "smalti/base/assert.hpp"
#include "smalti/base/frame.hpp"

namespace {

using smalti::Bytes;
using smalti::ByteView;
using smalti::kFrameHeaderSize;

class ReferenceParser {
 public:
  explicit ReferenceParser(std::size_t max) : max_(max) {}

  void feed(ByteView bytes) { stream_.insert(stream_.end(), bytes.begin(), bytes.end()); }
  bool failed() const { return failed_; }
  std::size_t unconsumed() const { return stream_.size() - pos_; }

  // The next whole frame, or nothing (more bytes needed, or failed: see failed()).
  std::optional<Bytes> next() {
    if (failed_ || unconsumed() < kFrameHeaderSize) return std::nullopt;
    const std::uint8_t* p = stream_.data() + pos_;
    const std::size_t n = std::size_t{p[0]} << 24 | std::size_t{p[1]} << 16 |
                          std::size_t{p[2]} << 8 | std::size_t{p[3]};
    if (n > max_) {
      failed_ = true;
      return std::nullopt;
    }
    if (unconsumed() < kFrameHeaderSize + n) return std::nullopt;
    Bytes frame(p + kFrameHeaderSize, p + kFrameHeaderSize + n);
    pos_ += kFrameHeaderSize + n;
    return frame;
  }

 private:
  std::size_t max_;
  Bytes stream_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max = data[0] % 65;
  smalti::FrameReader reader(max);
  ReferenceParser reference(max);
  std::optional<smalti::Status> failure;

  std::size_t pos = 1;
  while (pos < size) {
    const std::size_t want = data[pos++] % 32;
    const std::size_t take = want < size - pos ? want : size - pos;
    const ByteView piece(data + pos, take);
    pos += take;
    reader.feed(piece);
    reference.feed(piece);

    for (;;) {
      auto next = reader.next();
      if (failure.has_value()) {
        SMALTI_ASSERT(!next.is_ok() && next.status() == *failure, "a failed reader recovered");
        break;
      }
      const std::optional<Bytes> expected = reference.next();
      if (!next.is_ok()) {
        SMALTI_ASSERT(next.status().code() == smalti::StatusCode::kLimitExceeded);
        SMALTI_ASSERT(reference.failed(), "the reader failed on a valid stream");
        failure = next.status();
        continue;  // check that the very next call fails the same way
      }
      SMALTI_ASSERT(!reference.failed(), "the reader accepted an oversized frame header");
      if (!next->has_value()) {
        SMALTI_ASSERT(!expected.has_value(), "the reader missed a complete frame");
        break;
      }
      SMALTI_ASSERT(expected.has_value(), "the reader produced a frame the stream lacks");
      SMALTI_ASSERT((*next)->size() <= max, "a frame exceeds the maximum");
      SMALTI_ASSERT(**next == *expected, "the reader produced different frame bytes");
    }
    if (!failure.has_value()) {
      SMALTI_ASSERT(reader.buffered() == reference.unconsumed(), "buffered() is wrong");
      SMALTI_ASSERT(reader.buffered() < kFrameHeaderSize + max, "the reader hoards bytes");
    }
  }
  return 0;
}
