// PingMachine: the ping protocol as a pure state machine (no I/O, no clock, no threads).
//
// Inputs (each takes `now` first; `now` never decreases):
//   start(now, peer)                  -> a PingId; emits SendRequest
//   handle_frame(now, peer, link, b)  -> requests are answered with Reply on the same link,
//                                        responses complete their ping and feed the RTT estimate
//   handle_link_closed(now, peer)     -> pings in flight to that peer fail (kUnavailable)
//   handle_timeout(now)               -> pings older than the timeout fail (kTimeout)
// Outputs are pulled with poll_effect(); next_deadline() says when handle_timeout is due.
// RTT per peer is smoothed as in RFC 6298. Malformed frames produce a Violation effect (the
// driver closes that link with ProtocolViolation); they never crash the machine.
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

namespace smalti::ping {

using PingId = std::uint64_t;
// Identifies an incoming link within the driver, so replies go back where requests came from.
using LinkToken = std::uint64_t;

struct Config {
  Duration timeout = 5s;
  // Pings in flight at once, over all peers; start() beyond it fails with kLimitExceeded.
  std::size_t max_outstanding = 4096;
  // Effects waiting to be pulled; beyond it requests from peers are dropped (and counted).
  std::size_t max_pending_effects = 8192;
};

struct SendRequest {
  PeerId to;
  Bytes frame;
};
struct Reply {
  LinkToken link;
  Bytes frame;
};
struct Completed {
  PingId id;
  PeerId peer;
  Result<Duration> rtt;  // the measured round trip, or why the ping failed
};
struct Violation {
  LinkToken link;
  Status reason;
};
using Effect = std::variant<SendRequest, Reply, Completed, Violation>;

struct Stats {
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t failed = 0;
  std::uint64_t requests_answered = 0;
  std::uint64_t unexpected_responses = 0;
  std::uint64_t malformed_frames = 0;
  std::uint64_t dropped_requests = 0;
};

class PingMachine {
 public:
  explicit PingMachine(Config config = {}) : config_(config) {}

  Result<PingId> start(Instant now, const PeerId& peer);
  void handle_frame(Instant now, const PeerId& from, LinkToken link, ByteView frame);
  void handle_link_closed(Instant now, const PeerId& peer);
  void handle_timeout(Instant now);

  std::optional<Effect> poll_effect();
  // The earliest instant at which handle_timeout has work; Instant::max() when none.
  Instant next_deadline() const;

  std::optional<RttEstimator> rtt(const PeerId& peer) const;
  const Stats& stats() const { return stats_; }
  std::size_t outstanding() const { return outstanding_.size(); }
  // Checks internal consistency; aborts on a violation (debug and simulation builds call it).
  void invariants() const;

 private:
  struct Outstanding {
    PeerId peer;
    Instant sent_at;
  };
  void advance(Instant now);
  // Fails every ping older than the timeout (also on inputs other than handle_timeout, since a
  // timer may fire late).
  void expire(Instant now);
  void finish(PingId id, Result<Duration> result);

  Config config_;
  Instant last_now_;
  PingId next_id_ = 1;
  std::map<PingId, Outstanding> outstanding_;  // ordered by id, i.e. by start time
  std::map<PeerId, RttEstimator> rtt_;
  std::deque<Effect> effects_;
  Stats stats_;
};

}  // namespace smalti::ping
