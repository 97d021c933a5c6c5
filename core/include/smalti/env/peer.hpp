// PeerId and PeerAddr: who a peer is and where to reach it.
//
// A PeerId is an Ed25519 public key (32 bytes). A PeerAddr adds the backend addresses: host:port
// strings on the real backend, "sim:<host>" in the simulator. Value types.
#pragma once

#include <compare>
#include <string>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/base/digest.hpp"

namespace smalti {

struct PeerId {
  Digest key;  // the raw Ed25519 public key

  std::string to_hex() const { return key.to_hex(); }
  std::string short_hex() const { return key.short_hex(); }
  friend auto operator<=>(const PeerId&, const PeerId&) = default;
};
SMALTI_FIELDS(PeerId, key)

struct PeerAddr {
  PeerId id;
  std::vector<std::string> addresses;

  friend bool operator==(const PeerAddr&, const PeerAddr&) = default;
};
SMALTI_FIELDS(PeerAddr, id, addresses)

}  // namespace smalti

template <>
struct std::hash<smalti::PeerId> {
  std::size_t operator()(const smalti::PeerId& p) const noexcept { return p.key.prefix64(); }
};
