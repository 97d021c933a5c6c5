// Digest: a 32-byte BLAKE3 value, and UniqueId, the identifier type built on it.
//
// The construction rules follow mosaik so ids agree across implementations:
//   - from_string(s): a 64-character hex string is decoded verbatim, any other string is hashed;
//   - derive(x) = BLAKE3(self || x); hashed() = BLAKE3(self); from_parts(p...) = BLAKE3(p0 ||
//   p1...);
//   - from_u64(n): 24 zero bytes followed by n in little-endian (not hashed).
// Ordering is byte-wise lexicographic. Value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "smalti/base/bytes.hpp"

namespace smalti {

class Digest {
 public:
  static constexpr std::size_t kSize = 32;

  constexpr Digest() = default;  // all zero
  explicit constexpr Digest(const std::array<std::uint8_t, kSize>& bytes) : bytes_(bytes) {}

  static Digest zero() { return {}; }
  static Digest hash(ByteView data);
  static Digest from_string(std::string_view s);
  static Digest from_bytes_or_hash(ByteView data);
  static Digest from_parts(std::initializer_list<ByteView> parts);
  static Digest from_u64(std::uint64_t value);

  Digest derive(ByteView info) const;
  Digest derive(std::string_view info) const { return derive(as_bytes(info)); }
  Digest derive(const Digest& other) const { return derive(other.view()); }
  Digest hashed() const;

  const std::array<std::uint8_t, kSize>& bytes() const { return bytes_; }
  ByteView view() const { return {bytes_.data(), bytes_.size()}; }
  bool is_zero() const;

  std::string to_hex() const;
  // The first five bytes in hex: for logs.
  std::string short_hex() const;

  // The first eight bytes as a little-endian integer: a well-mixed hash-table key.
  std::uint64_t prefix64() const;

  // Lexicographic byte order. The first eight bytes are compared as one big-endian word, which
  // gives the same order and settles almost every comparison of random digests without memcmp
  // (maps keyed by PeerId are on every hot path).
  friend std::strong_ordering operator<=>(const Digest& a, const Digest& b) {
    const std::uint64_t x = a.leading_word();
    const std::uint64_t y = b.leading_word();
    if (x != y) return x <=> y;
    const int rest = std::memcmp(a.bytes_.data() + 8, b.bytes_.data() + 8, kSize - 8);
    return rest <=> 0;
  }
  friend bool operator==(const Digest& a, const Digest& b) { return a.bytes_ == b.bytes_; }

 private:
  std::uint64_t leading_word() const {
    std::uint64_t w = 0;
    for (int i = 0; i < 8; ++i) w = (w << 8) | bytes_[static_cast<std::size_t>(i)];
    return w;
  }
  std::array<std::uint8_t, kSize> bytes_{};
};

using UniqueId = Digest;
using Tag = UniqueId;
using NetworkId = Digest;

}  // namespace smalti

template <>
struct std::hash<smalti::Digest> {
  std::size_t operator()(const smalti::Digest& d) const noexcept { return d.prefix64(); }
};
