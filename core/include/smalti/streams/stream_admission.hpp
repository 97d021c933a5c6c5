// StreamAdmission: who may subscribe to this node's streams, decided per accepted link, as a
// pure state machine (DESIGN.md section 3; the contract in runtime/machine.hpp).
//
// Every link accepted on /smalti/streams/1 goes through it. Its first frame must be a Subscribe
// (else ProtocolViolation), sent within subscribe_timeout (else the link is closed); then, in
// this order: a Subscribe for another network is refused with DifferentNetwork, one for a stream
// this node does not produce with StreamNotFound, one from a peer the catalog does not know with
// UnknownPeer (the consumer exchanges catalogs with us and tries again). An admitted
// subscription is handed to the stream's producer (Deliver<Admitted>), which applies its own
// rules (capacity, require, tickets). After that only Credit frames may come, each handed on
// (Deliver<Credited>); anything else, or a frame that does not decode, is ProtocolViolation. A
// subscribed link that ends is reported to its producer (Deliver<Released>).
//
// Inputs (each takes `now` first; `now` never decreases):
//   handle_stream_added / handle_stream_removed(now, stream)   the streams produced here
//   handle_accepted(now, peer, link_rtt) -> the link's token
//   handle_frame(now, link, frame, lookup)  lookup: what the catalog knows of a peer
//   handle_link_closed(now, link)           the remote ended it, or it reset
//   handle_producer_closed(now, link)       its producer closed it (nothing is reported)
//   handle_timeout(now)                     links that did not subscribe in time are closed
// Outputs: effect::Close and Deliver<Admitted / Credited / Released>, pulled with poll_effect();
// next_deadline() is the earliest subscribe timeout (or a deferred credit). Accepted links and
// frames are peer input: at the effect queue's input mark a Subscribe is dropped (the link then
// times out) and a Credit is kept and handed on at the next timeout, so none is lost.
// Not synchronised: owned by one driver on one executor.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <variant>

#include "smalti/base/buggify.hpp"
#include "smalti/base/bytes.hpp"
#include "smalti/base/time.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"
#include "smalti/streams/channels.hpp"
#include "smalti/streams/messages.hpp"

namespace smalti::streams {

// A deferred credit (one that came while the effect queue was at its input mark) is handed on
// after this.
inline constexpr Duration kDeferredCreditDelay = 1ms;

struct AdmissionConfig {
  NetworkId network;
  // An accepted link must subscribe within this.
  Duration subscribe_timeout = 10s;
  // Accepted links waiting for their Subscribe at once; more are refused with NoCapacity.
  std::size_t max_pending_links = 1024;
  // Subscribed links at once; more are refused with NoCapacity (each producer has its own
  // max_consumers below this).
  std::size_t max_subscribed_links = 1u << 16;
  // Effects waiting to be pulled; 0: effect_limit_for(config). A smaller value is refused.
  std::size_t max_pending_effects = 0;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none. The driver fills it.
  Buggify buggify;
};

// kInvalidArgument for a configuration out of its bounds.
Status validate(const AdmissionConfig& config);
// Twice the most one input can produce.
std::size_t effect_limit_for(const AdmissionConfig& config);

// A subscription admitted on `link`, for the producer of `subscribe.stream`.
struct Admitted {
  LinkToken link = 0;
  PeerFacts peer;
  Subscribe subscribe;
};
// `n` more credits for the subscription on `link`.
struct Credited {
  LinkToken link = 0;
  StreamId stream;
  std::uint32_t n = 0;
};
// The subscription on `link` ended; its producer forgets it.
struct Released {
  LinkToken link = 0;
  StreamId stream;
};
using AdmissionEffect = std::variant<effect::Close, effect::Deliver<Admitted>,
                                     effect::Deliver<Credited>, effect::Deliver<Released>>;

struct AdmissionStats {
  std::uint64_t accepted = 0;
  std::uint64_t admitted = 0;
  std::map<std::uint32_t, std::uint64_t> refused;  // by close code
};

class StreamAdmission : public MachineBase<AdmissionEffect> {
 public:
  // Requires validate(config) to pass.
  explicit StreamAdmission(AdmissionConfig config, Instant start = Instant{});

  void handle_stream_added(Instant now, const StreamId& stream);
  void handle_stream_removed(Instant now, const StreamId& stream);
  // A link accepted from `peer`; `link_rtt` is what its transport measured (zero: nothing yet).
  // The returned token names the link from now on.
  LinkToken handle_accepted(Instant now, const PeerId& peer, Duration link_rtt);
  // `lookup` is asked only for a Subscribe that passed the network and stream checks.
  void handle_frame(Instant now, LinkToken link, ByteView frame, const PeerLookup& lookup);
  void handle_link_closed(Instant now, LinkToken link);
  void handle_producer_closed(Instant now, LinkToken link);
  void handle_timeout(Instant now);

  // The earliest instant at which handle_timeout has work; Instant::max() when none.
  Instant next_deadline() const;
  void invariants() const;

  std::size_t pending() const { return pending_.size(); }
  std::size_t subscribed() const { return subscribed_.size(); }
  bool produces(const StreamId& stream) const { return streams_.count(stream) != 0; }
  const AdmissionStats& stats() const { return stats_; }
  const AdmissionConfig& config() const { return config_; }

 private:
  struct Pending {
    PeerId peer;
    Instant deadline;  // closed unless subscribed by then
    Duration link_rtt{0};
  };
  struct Subscribed {
    PeerId peer;
    StreamId stream;
    std::uint64_t deferred = 0;  // credits kept back at the input mark
  };
  void refuse(LinkToken link, std::uint32_t code, const char* reason);
  void deliver_deferred(Subscribed& sub, LinkToken link);

  AdmissionConfig config_;
  std::set<StreamId> streams_;
  std::map<LinkToken, Pending> pending_;  // by token, so by accept time
  std::map<LinkToken, Subscribed> subscribed_;
  Instant deferred_at_ = Instant::max();  // deferred credits are handed on then
  LinkToken next_link_ = 1;
  AdmissionStats stats_;
};

}  // namespace smalti::streams
