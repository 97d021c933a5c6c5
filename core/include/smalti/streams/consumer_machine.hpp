// ConsumerMachine: the consuming side of one stream for one Consumer, as a pure state machine
// (DESIGN.md section 3; the contract in runtime/machine.hpp).
//
// It subscribes to every eligible producer of the stream (handle_producers, from the catalog),
// one link each, and grants each link a window of buffer_size credits; a producer never has more
// in flight, so what waits for the application is bounded by buffer_size per producer. Each
// datum is handed up as effect::Deliver<Received>; handle_consumed() says the application took
// it, and credits go back to its link in batches of half a window. A link that ends is opened
// again after a jittered exponential backoff (reset once data flows), unless the producer refused
// for good (NotAllowed, StreamNotFound, DifferentNetwork, GracefulShutdown, ProtocolViolation):
// then only a later catalog change brings it back. UnknownPeer asks the driver to exchange
// catalogs with the producer (SyncCatalog) before the retry. A producer whose ticket expires is
// dropped. A Subscribe or Credit the link refused is sent again after a short backoff (no credit
// is lost); a producer that sends no Start within kStartTimeout is given up on and retried.
//
// Inputs (each takes `now` first; `now` never decreases; `wall` is the wall clock then):
//   handle_producers(now, wall, candidates)     -> Connect / Close as producers come and go
//   handle_connected(now, link)                 -> Subscribe
//   handle_frame(now, link, frame)              -> Deliver<Received>, or Close on a violation
//   handle_link_closed(now, link, info)         -> retry later, or give up; maybe SyncCatalog
//   handle_send_refused(now, link, frame, why)  -> the Subscribe or Credit goes again later
//   handle_consumed(now, link)                  -> maybe a Credit
//   handle_timeout(now, wall)                   -> reconnects, resends, ticket expiry
//   close_all(now)                              -> every link closes
// Outputs: effect::Connect / Send / Close / Deliver<Received> and SyncCatalog, pulled with
// poll_effect(); one next_deadline() for all of it (backoffs, resends, Start timeouts and the
// producers' ticket expiry, computed from the wall clock). Frames are peer input: at the effect
// queue's input mark a datum is lost (its credit still comes back) and other frames are dropped.
// Not synchronised: owned by one driver on one executor.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/env/peer.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"
#include "smalti/streams/channels.hpp"
#include "smalti/streams/messages.hpp"
#include "smalti/tickets/ticket_validator.hpp"

namespace smalti::streams {

// Producers one consumer subscribes to at once (max_producers is at most this); more wait.
inline constexpr std::size_t kMaxProducers = 256;
// A producer must answer a Subscribe with Start within this, or the link is given up on.
inline constexpr Duration kStartTimeout = 10s;

struct ConsumerConfig {
  NetworkId network;
  StreamId stream;
  // The credit window granted to each producer; [1, kMaxBufferSize].
  std::size_t buffer_size = 1024;
  PeerPredicate require;
  // Producers must hold a valid ticket for each.
  tickets::Validators tickets;
  Backoff backoff;
  // Online while this holds over the connected channels; default: at once (minimum_of(0)).
  ChannelConditions online_when = ChannelConditions().minimum_of(0);
  std::size_t max_producers = kMaxProducers;
  // Effects waiting to be pulled; 0: effect_limit_for(config). A smaller value is refused.
  std::size_t max_pending_effects = 0;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none. The driver fills it.
  Buggify buggify;
};

// kInvalidArgument for a configuration out of its bounds.
Status validate(const ConsumerConfig& config);
// Twice the most one input can produce.
std::size_t effect_limit_for(const ConsumerConfig& config);

// A datum from `producer` that came on `link`: hand it to the application, then report
// handle_consumed(now, link).
struct Received {
  LinkToken link = 0;
  PeerId producer;
  Bytes payload;
};
// The producer does not know this node (UnknownPeer): exchange catalogs with it.
struct SyncCatalog {
  PeerAddr producer;
};
using ConsumerEffect = std::variant<effect::Connect, effect::Send, effect::Close,
                                    effect::Deliver<Received>, SyncCatalog>;

struct ProducerCandidate {
  PeerAddr addr;
  PeerFacts peer;
};

struct ChannelInfo {
  PeerId producer;
  ChannelState state = ChannelState::kConnecting;
  Stats stats;
};

class ConsumerMachine : public MachineBase<ConsumerEffect> {
 public:
  // Requires validate(config) to pass.
  ConsumerMachine(ConsumerConfig config, std::uint64_t seed, Instant start = Instant{});

  // The producers the catalog offers now (already filtered by stream id).
  void handle_producers(Instant now, WallTime wall,
                        const std::vector<ProducerCandidate>& candidates);
  void handle_connected(Instant now, LinkToken link);
  void handle_frame(Instant now, LinkToken link, ByteView frame);
  // The link ended (or could not be opened); `info.code` decides between retry and giving up.
  void handle_link_closed(Instant now, LinkToken link, const env::CloseInfo& info);
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  // The application took a datum that came on `link`.
  void handle_consumed(Instant now, LinkToken link);
  void handle_timeout(Instant now, WallTime wall);
  void close_all(Instant now);

  // The earliest instant at which handle_timeout has work; Instant::max() when none.
  Instant next_deadline() const;
  void invariants() const;

  bool is_online() const { return holds(config_.online_when); }
  // Whether `conditions` hold over the connected channels.
  bool holds(const ChannelConditions& conditions) const;
  std::size_t connected() const;
  std::vector<ChannelInfo> channels(Instant now) const;
  // Over every channel this consumer ever had; uptime since a channel last became connected
  // while none was, none while none is.
  Stats stats(Instant now) const;
  const ConsumerConfig& config() const { return config_; }

 private:
  struct Channel {
    PeerAddr addr;
    PeerFacts peer;  // as the catalog showed it when the channel was (re)opened
    ChannelState state = ChannelState::kConnecting;
    LinkToken link = 0;
    Duration delay{0};                  // the current reconnection backoff
    Instant retry_at = Instant::max();  // reconnect then (kWaiting)
    // Credits: granted = outstanding (not yet arrived) + held (with the application) +
    // to_return (taken, not yet granted again); all zero before the Subscribe.
    bool subscribed = false;
    bool subscribe_pending = false;      // the Subscribe was refused: sent again at resend_at
    Instant resend_at = Instant::max();  // resend the Subscribe or the credits owed then
    SendBackoff resend;                  // the wait after a refused Subscribe or Credit
    Instant start_by = Instant::max();   // the Start must come before then
    std::uint64_t outstanding = 0;
    std::uint64_t held = 0;
    std::uint64_t to_return = 0;
    WallTime expires = WallTime::max();  // the producer's tickets
    Instant expires_at = Instant::max();
    Instant connected_since;
    std::uint64_t datums = 0;
    std::uint64_t bytes = 0;
  };
  std::uint64_t window() const;
  void open(Instant now, const PeerId& producer, Channel& channel);
  // Whether `candidate` is a later process of the channel's producer while the channel is not
  // subscribed (backing off, or its connect not yet through).
  static bool restarted_while_away(const Channel& channel, const ProducerCandidate& candidate);
  void fail(Instant now, Channel& channel, bool retry);
  void drop(const PeerId& producer, Channel& channel, std::uint32_t code, const char* reason);
  void subscribe(Channel& channel);
  void return_credits(Channel& channel);
  void refused(Instant now, Channel& channel);
  void violation(Instant now, Channel& channel, const char* why);
  void note_connected(Instant now);
  Channel* by_link(LinkToken link);

  ConsumerConfig config_;
  Rng rng_;
  std::map<PeerId, Channel> channels_;
  std::map<LinkToken, PeerId> links_;
  LinkToken next_link_ = 1;
  std::uint64_t datums_ = 0;  // over every channel, ever
  std::uint64_t bytes_ = 0;
  std::optional<Instant> online_since_;  // since when some channel has been connected
};

}  // namespace smalti::streams
