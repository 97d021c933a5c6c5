// The effect vocabulary shared by every protocol machine that speaks over links (DESIGN.md
// section 3): open a link, send a frame on it, close it, and hand something to the layer above.
// A machine names its links by LinkTokens it chooses (or is handed for accepted links); its
// driver maps them to the environment's links (LinkTable). Protocol-specific outcomes (a ping's
// completion, Raft's Persist, a discovery sync's end) keep names of their own next to these.
// Plain value types.
#pragma once

#include <cstdint>
#include <string>

#include "smalti/base/bytes.hpp"
#include "smalti/env/peer.hpp"

namespace smalti {

using LinkToken = std::uint64_t;

namespace effect {

// Open a link to `addr` for `alpn`, named `link`. The driver reports handle_connected(link) or
// handle_link_closed(link) for a connect that failed.
struct Connect {
  LinkToken link = 0;
  PeerAddr addr;
  std::string alpn;
};

// Send one frame on `link`. A send the link refuses goes back to the machine with
// handle_send_refused(now, link, frame, why), so nothing is lost without the machine knowing.
struct Send {
  LinkToken link = 0;
  Bytes frame;
};

// Close `link` with an application code the remote sees; nothing is reported back.
struct Close {
  LinkToken link = 0;
  std::uint32_t code = 0;
  std::string reason;
};

// Hand `value` to the layer above the machine (an event, a message for the group worker).
template <typename T>
struct Deliver {
  T value;
};

}  // namespace effect
}  // namespace smalti
