// PingMachine: the ping protocol as a pure state machine (no I/O, no clock, no threads).
//
// It owns the protocol's link policy: one outbound link per pinged peer, opened on the first
// ping (effect::Connect) and reused while it lives, requests queued (bounded) while it connects;
// inbound links (bounded) are answered on the link the request came on.
//
// Inputs (each takes `now` first; `now` never decreases):
//   start(now, addr)                          -> a PingId; Connect and/or Send
//   handle_accepted(now, peer)                -> a token for an inbound link, or none (refuse it)
//   handle_connected(now, link)               -> the queued requests go out
//   handle_frame(now, link, bytes)            -> requests are answered on the same link,
//                                                responses complete their ping (RTT per peer
//                                                smoothed as in RFC 6298)
//   handle_link_closed(now, link)             -> pings in flight on that link fail (kUnavailable)
//   handle_send_refused(now, link, frame, why)-> the refused request's ping fails with `why`;
//                                                on a link that ended unreported, it goes out
//                                                again on a new link
//   handle_timeout(now)                       -> pings older than the timeout fail (kTimeout)
// Outputs: effect::Connect / Send / Close and Completed, pulled with poll_effect();
// next_deadline() says when handle_timeout is due. Malformed frames close their link with
// ProtocolViolation; they never crash the machine.
// Not synchronised: owned by one driver on one executor.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <variant>

#include "smalti/base/bytes.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/base/rtt_estimator.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::ping {

using PingId = std::uint64_t;

struct Config {
  Duration timeout = 5s;
  // Pings in flight at once, over all peers; start() beyond it fails with kLimitExceeded.
  std::size_t max_outstanding = 4096;
  // Effects waiting to be pulled (the machine contract's bound, machine.hpp); at least
  // 4 * max_outstanding + 8. Pings start, and a refused send re-dials, only below half of it;
  // above that every ping in flight may still emit its request (when its link connects) and its
  // completion, no more. (2 * max_outstanding + 4 was found too small by ping_fuzz: queued
  // requests are sent when the link connects, with no room check.)
  std::size_t max_pending_effects = 4 * 4096 + 8;
  // Requests queued for a peer whose link is still connecting; start() beyond it fails.
  std::size_t max_queued_per_peer = 256;
  // Inbound links served at once; handle_accepted() refuses more.
  std::size_t max_inbound_links = 4096;
};

// A ping finished: the measured round trip, or why it failed.
struct Completed {
  PingId id;
  PeerId peer;
  Result<Duration> rtt;
};
using Effect = std::variant<effect::Connect, effect::Send, effect::Close, Completed>;

struct Stats {
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t failed = 0;
  std::uint64_t requests_answered = 0;
  std::uint64_t unexpected_responses = 0;
  std::uint64_t malformed_frames = 0;
  std::uint64_t dropped_requests = 0;
  std::uint64_t refused_links = 0;
};

class PingMachine : public MachineBase<Effect> {
 public:
  explicit PingMachine(Config config = {})
      : MachineBase(Instant{}, config.max_pending_effects), config_(config) {
    SMALTI_ASSERT(config.max_pending_effects >= 4 * config.max_outstanding + 8,
                  "ping effect limit too small for its outstanding pings");
  }

  Result<PingId> start(Instant now, const PeerAddr& peer);
  std::optional<LinkToken> handle_accepted(Instant now, const PeerId& from);
  void handle_connected(Instant now, LinkToken link);
  void handle_frame(Instant now, LinkToken link, ByteView frame);
  void handle_link_closed(Instant now, LinkToken link);
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  void handle_timeout(Instant now);

  // The earliest instant at which handle_timeout has work; Instant::max() when none.
  Instant next_deadline() const;

  std::optional<RttEstimator> rtt(const PeerId& peer) const;
  const Stats& stats() const { return stats_; }
  std::size_t outstanding() const { return outstanding_.size(); }
  std::size_t links() const { return links_.size(); }
  // The current outbound link to `peer`, if one is open or opening.
  std::optional<LinkToken> outbound_link(const PeerId& peer) const;
  // Checks internal consistency; aborts on a violation.
  void invariants() const;

 private:
  struct Outstanding {
    PeerId peer;
    Instant sent_at;
  };
  struct LinkState {
    PeerId peer;
    PeerAddr addr;  // where an outbound link was opened to
    bool outbound = false;
    bool connected = false;
    std::deque<Bytes> queued;  // outbound requests waiting for the connect
  };
  // Fails every ping older than the timeout (also on inputs other than handle_timeout, since a
  // timer may fire late).
  void expire(Instant now);
  void finish(PingId id, Result<Duration> result);
  // Forgets `link`; pings to its peer (but `except`) fail with `why` when it was the peer's
  // outbound link.
  void forget_link(LinkToken link, const Status& why, std::optional<PingId> except = {});
  void complete(Instant now, const LinkState& state, std::uint64_t nonce);

  Config config_;
  PingId next_id_ = 1;
  LinkToken next_link_ = 1;
  std::map<PingId, Outstanding> outstanding_;  // ordered by id, i.e. by start time
  std::map<PeerId, RttEstimator> rtt_;
  std::map<LinkToken, LinkState> links_;
  std::map<PeerId, LinkToken> outbound_;  // the current outbound link of each pinged peer
  std::size_t inbound_ = 0;
  Stats stats_;
};

}  // namespace smalti::ping
