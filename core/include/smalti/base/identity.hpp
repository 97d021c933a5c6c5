// Node identity: PeerId (an Ed25519 public key) and SecretKey (signs with it), via OpenSSL.
//
// A SecretKey is made from 32 seed bytes (RFC 8032 private key), so a node keeps its identity
// across restarts by keeping those bytes. Signatures are 64 bytes. Value types; SecretKey copies
// share one immutable OpenSSL key and may be used from several threads.
#pragma once

#include <array>
#include <compare>
#include <memory>
#include <string>

#include "smalti/base/bytes.hpp"
#include "smalti/base/codec.hpp"
#include "smalti/base/digest.hpp"
#include "smalti/base/status.hpp"

namespace smalti {

struct PeerId {
  Digest key;  // the raw 32-byte Ed25519 public key

  std::string to_hex() const { return key.to_hex(); }
  std::string short_hex() const { return key.short_hex(); }
  friend auto operator<=>(const PeerId&, const PeerId&) = default;
};
SMALTI_FIELDS(PeerId, key)

using Signature = std::array<std::uint8_t, 64>;

class SecretKey {
 public:
  // Fails only if OpenSSL cannot build the key (kInternal).
  static Result<SecretKey> from_seed(const std::array<std::uint8_t, 32>& seed);

  const PeerId& peer_id() const { return peer_id_; }
  const std::array<std::uint8_t, 32>& seed() const { return seed_; }
  Signature sign(ByteView message) const;

 private:
  SecretKey() = default;
  std::array<std::uint8_t, 32> seed_{};
  PeerId peer_id_;
  std::shared_ptr<void> pkey_;  // EVP_PKEY, kept opaque so OpenSSL headers stay out of here
};

// True when `signature` is a valid Ed25519 signature of `message` by `signer`.
bool verify_signature(const PeerId& signer, ByteView message, const Signature& signature);

}  // namespace smalti

template <>
struct std::hash<smalti::PeerId> {
  std::size_t operator()(const smalti::PeerId& p) const noexcept { return p.key.prefix64(); }
};
