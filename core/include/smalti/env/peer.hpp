// PeerAddr: a PeerId plus the backend addresses where it can be reached.
//
// Addresses are "host:port" strings on the real backend and "sim:<host>" in the simulator.
// Value type.
#pragma once

#include <string>
#include <vector>

#include "smalti/base/codec.hpp"
#include "smalti/base/identity.hpp"

namespace smalti {

struct PeerAddr {
  PeerId id;
  std::vector<std::string> addresses;

  friend bool operator==(const PeerAddr&, const PeerAddr&) = default;
};
SMALTI_FIELDS(PeerAddr, id, addresses)

}  // namespace smalti
