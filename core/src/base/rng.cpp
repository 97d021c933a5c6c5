#include "smalti/base/rng.hpp"

#include "smalti/base/assert.hpp"
#include "smalti/base/blake3.hpp"

namespace smalti {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

Rng::Rng(std::uint64_t seed) : seed_(seed) {
  std::uint64_t x = seed;
  for (auto& word : s_) word = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::below(std::uint64_t bound) {
  SMALTI_ASSERT(bound > 0);
  const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const std::uint64_t r = next_u64();
    if (r >= threshold) return r % bound;
  }
}

std::int64_t Rng::between(std::int64_t lo, std::int64_t hi) {
  SMALTI_ASSERT(lo <= hi);
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<std::int64_t>(next_u64());
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + below(span + 1));
}

double Rng::unit() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

std::uint64_t Rng::derive_seed(std::string_view label, std::uint64_t index) const {
  Blake3 hasher;
  std::uint8_t buf[16];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<std::uint8_t>(seed_ >> (8 * i));
  for (int i = 0; i < 8; ++i) buf[8 + i] = static_cast<std::uint8_t>(index >> (8 * i));
  hasher.update(ByteView(buf, sizeof buf));
  hasher.update(as_bytes(label));
  const auto h = hasher.finalize();
  std::uint64_t out = 0;
  for (int i = 0; i < 8; ++i)
    out |= static_cast<std::uint64_t>(h[static_cast<std::size_t>(i)]) << (8 * i);
  return out;
}

Rng Rng::derive(std::string_view label, std::uint64_t index) const {
  return Rng(derive_seed(label, index));
}

}  // namespace smalti
