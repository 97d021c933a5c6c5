#include "smalti/base/codec.hpp"

namespace smalti {

void Encoder::put_long_varint(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<std::uint8_t>(v));
}

Status Decoder::fail(StatusCode code, const std::string& what) const {
  return {code, "decode: " + what + " at byte " + std::to_string(pos_)};
}

Status Decoder::get_long_varint(std::uint64_t& v) {
  // Two bytes (values below 16,384: indexes, terms, lengths) without the loop.
  if (remaining() >= 2 && (in_[pos_] & 0x80) != 0 && in_[pos_ + 1] < 0x80 && in_[pos_ + 1] != 0) {
    v = (in_[pos_] & 0x7fu) | (static_cast<std::uint64_t>(in_[pos_ + 1]) << 7);
    pos_ += 2;
    return Status::ok();
  }
  std::uint64_t result = 0;
  for (int i = 0; i < 10; ++i) {
    if (remaining() < 1) return fail(StatusCode::kMalformed, "unexpected end of input in varint");
    const std::uint8_t byte = in_[pos_++];
    if (i == 9 && byte > 1) return fail(StatusCode::kMalformed, "varint overflows 64 bits");
    result |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return fail(StatusCode::kMalformed, "non-canonical varint");
      v = result;
      return Status::ok();
    }
  }
  return fail(StatusCode::kMalformed, "varint longer than 10 bytes");
}

SharedBytes Decoder::copy_of(ByteView part) {
  if (part.empty()) return {};
  auto copy = std::make_shared<const Bytes>(part.begin(), part.end());
  return {copy, ByteView(*copy)};
}

Status Decoder::get_fixed_le(int width, std::uint64_t& v) {
  const std::uint8_t* data = nullptr;
  SMALTI_RETURN_IF_ERROR(get_raw(static_cast<std::size_t>(width), data));
  v = 0;
  for (int i = 0; i < width; ++i) v |= static_cast<std::uint64_t>(data[i]) << (8 * i);
  return Status::ok();
}

Status Decoder::length_error(std::uint64_t n, std::size_t min_element_size,
                             const char* what) const {
  if (n > limits_.max_length) {
    return fail(StatusCode::kLimitExceeded, std::string(what) + " length " + std::to_string(n) +
                                                " exceeds the limit " +
                                                std::to_string(limits_.max_length));
  }
  SMALTI_ASSERT(min_element_size > 0 && n > remaining() / min_element_size);
  return fail(StatusCode::kMalformed,
              std::string(what) + " length " + std::to_string(n) + " exceeds the remaining input");
}

Status Decoder::take_zero_size_element() {
  if (++zero_size_elements_ > kMaxZeroSizeElements) {
    return fail(StatusCode::kLimitExceeded,
                "more than " + std::to_string(kMaxZeroSizeElements) + " zero-size elements");
  }
  return Status::ok();
}

Status Decoder::too_deep() const {
  return fail(StatusCode::kLimitExceeded,
              "nesting deeper than " + std::to_string(limits_.max_depth));
}

}  // namespace smalti
