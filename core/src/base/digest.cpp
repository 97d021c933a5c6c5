#include "smalti/base/digest.hpp"

#include <cstring>

#include "smalti/base/blake3.hpp"
#include "smalti/base/hex.hpp"

namespace smalti {

Digest Digest::hash(ByteView data) {
  return Digest(Blake3::hash(data));
}

Digest Digest::from_string(std::string_view s) {
  return from_bytes_or_hash(as_bytes(s));
}

Digest Digest::from_bytes_or_hash(ByteView data) {
  if (data.size() == 2 * kSize) {
    std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    auto decoded = from_hex(text);
    if (decoded.is_ok()) {
      std::array<std::uint8_t, kSize> bytes{};
      std::memcpy(bytes.data(), decoded->data(), kSize);
      return Digest(bytes);
    }
  }
  return hash(data);
}

Digest Digest::from_parts(std::initializer_list<ByteView> parts) {
  Blake3 hasher;
  for (ByteView part : parts) hasher.update(part);
  return Digest(hasher.finalize());
}

Digest Digest::from_u64(std::uint64_t value) {
  std::array<std::uint8_t, kSize> bytes{};
  for (std::size_t i = 0; i < 8; ++i)
    bytes[kSize - 8 + i] = static_cast<std::uint8_t>(value >> (8 * i));
  return Digest(bytes);
}

Digest Digest::derive(ByteView info) const {
  return from_parts({view(), info});
}

Digest Digest::hashed() const {
  return hash(view());
}

bool Digest::is_zero() const {
  for (std::uint8_t b : bytes_) {
    if (b != 0) return false;
  }
  return true;
}

std::string Digest::to_hex() const {
  return smalti::to_hex(view());
}

std::string Digest::short_hex() const {
  return smalti::to_hex(view().first(5));
}

std::uint64_t Digest::prefix64() const {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes_[i]) << (8 * i);
  return v;
}

}  // namespace smalti
