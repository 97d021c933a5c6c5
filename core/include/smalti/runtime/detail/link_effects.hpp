// The driver side of the shared link effects (effects.hpp): one place that carries a machine's
// Connect, Send and Close out on a LinkTable, and reports a send the link refused back to the
// machine (handle_send_refused), so a refused frame is never lost without the machine knowing.
// Executor thread only.
#pragma once

#include <utility>

#include "smalti/runtime/detail/link_table.hpp"
#include "smalti/runtime/effects.hpp"

namespace smalti {

// A machine that can be told that one of its sends was refused.
template <typename M>
concept RefusedSendAware = requires(M& machine, Instant now, LinkToken link, Bytes frame,
                                    Status why) {
  machine.handle_send_refused(now, link, frame, why);
};

template <RefusedSendAware Machine>
void execute_link_effect(LinkTable& links, Machine& machine, Instant now, effect::Send send) {
  Status sent = links.send(send.link, send.frame);
  if (!sent.is_ok()) machine.handle_send_refused(now, send.link, send.frame, sent);
}

inline void execute_link_effect(LinkTable& links, const effect::Connect& connect) {
  links.connect(connect.link, connect.addr, connect.alpn);
}

inline void execute_link_effect(LinkTable& links, effect::Close close) {
  links.close(close.link, close.code, std::move(close.reason));
}

}  // namespace smalti
