// Helpers shared by the libFuzzer targets: a reader over the fuzzer's input, and the check that
// a decoder is canonical and bounded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "smalti/base/assert.hpp"
#include "smalti/base/bytes.hpp"
#include "smalti/base/codec.hpp"
#include "smalti/base/status.hpp"

namespace smalti::fuzz {

// Reads the input front to back; past its end every read yields zeros or nothing.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | byte();
    return v;
  }
  // Up to n bytes (fewer at the end of the input).
  ByteView take(std::size_t n) {
    const std::size_t k = std::min(n, size_ - std::min(pos_, size_));
    ByteView out(data_ + pos_, k);
    pos_ += k;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// `decode(raw)` either yields a message that re-encodes to exactly `raw` and decodes again to
// an equal message, or fails with kMalformed, or kLimitExceeded (always when raw is larger
// than max_size).
template <typename Decode>
void check_canonical_decode(ByteView raw, Decode&& decode, std::size_t max_size) {
  auto message = decode(raw);
  if (message.is_ok()) {
    SMALTI_ASSERT(raw.size() <= max_size, "accepted an oversized frame");
    const Bytes again = encode(*message);
    SMALTI_ASSERT(again.size() == raw.size() && std::equal(again.begin(), again.end(), raw.begin()),
                  "a decoded frame does not re-encode to the same bytes");
    auto twice = decode(ByteView(again.data(), again.size()));
    SMALTI_ASSERT(twice.is_ok() && *twice == *message, "decode(encode(m)) != m");
    return;
  }
  const StatusCode code = message.status().code();
  SMALTI_ASSERT(code == StatusCode::kMalformed || code == StatusCode::kLimitExceeded,
                "unexpected decode error code");
  if (raw.size() > max_size) SMALTI_ASSERT(code == StatusCode::kLimitExceeded);
}

}  // namespace smalti::fuzz
