// ProducerMachine: the producing side of one stream on one node, as a pure state machine
// (DESIGN.md section 3; the contract in runtime/machine.hpp).
//
// It holds the subscriptions (one per consumer link, handed over by StreamAdmission) and fans
// every published datum out to each of them through its own bounded queue (buffer_size), so a
// slow consumer never slows the others: a queue that is full when a datum arrives means that
// consumer is lagging, and it is cut with TooSlow (disconnect_lagging) or misses that datum. A
// queue drains only as far as the consumer's credits allow. Subscriptions beyond max_consumers
// are refused with NoCapacity, consumers `require` rejects or without valid tickets with
// NotAllowed; a subscription ends with NotAllowed when its tickets expire.
//
// A send the link refused (back-pressure) loses nothing: the frame and the ones queued behind it
// on that link go back to the head of the subscription's queue, their credits are restored, and
// they go out again on the next credit or after a short backoff (SendBackoff: kSendRetryMin,
// doubling per refusal in a row to kSendRetryMax; a send the link accepted, or a credit, ends the
// run); a consumer whose link refuses kMaxSendRefusals times in a row is cut (TooSlow). A refusal
// is taken to be reported as its send is executed, before the next effect is pulled.
//
// Inputs (each takes `now` first; `now` never decreases; `wall` is the wall clock then):
//   handle_subscribe(now, wall, link, peer, subscribe)  -> Start, or a refusal Close
//   handle_credit(now, link, n)                          -> queued datums go out
//   handle_link_closed(now, link)                        -> the subscription ends
//   handle_send_refused(now, link, frame, why)           -> see above
//   handle_catalog(now, lookup)                          -> subscribers `require` now rejects
//                                                           are cut (NotAllowed)
//   handle_timeout(now, wall)                            -> expired tickets, send retries
//   publish(now, payload) (command)                      -> queued for every subscription;
//                                                           kUnavailable offline,
//                                                           kLimitExceeded effects not pulled
//   close_all(now, code, reason)                         -> every subscription ends
// Outputs: effect::Send / effect::Close, pulled with poll_effect(); next_deadline() says when
// handle_timeout is due (ticket expiry, computed from the wall clock, and send retries).
// Subscriptions and credits from a peer are peer input: at the effect queue's input mark a
// Subscribe is dropped (the consumer's Start timeout recovers) and a Credit is kept but acted on
// at the next retry. Not synchronised: owned by one driver on one executor.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"
#include "smalti/streams/channels.hpp"
#include "smalti/streams/messages.hpp"
#include "smalti/tickets/ticket_validator.hpp"

namespace smalti::streams {

using smalti::LinkToken;

// Subscriptions one producer serves at once; max_consumers is at most this.
inline constexpr std::size_t kMaxSubscriptions = 4096;
// Credits a consumer may hold at once: bounds what a bogus Credit can make a producer promise.
inline constexpr std::uint64_t kMaxCredits = 1u << 20;

struct ProducerConfig {
  StreamId stream;
  // Each subscription's queue; [1, kMaxBufferSize].
  std::size_t buffer_size = 1024;
  // [0, kMaxSubscriptions]; mosaik's unbounded default is bounded here.
  std::size_t max_consumers = kMaxSubscriptions;
  bool disconnect_lagging = true;
  PeerPredicate require;  // empty: everyone
  // Consumers must hold a valid ticket for each; a subscription ends when its tickets expire.
  tickets::Validators tickets;
  // Online (publish accepted) while this holds over the subscriptions; default: one or more.
  ChannelConditions online_when;
  // Effects waiting to be pulled (the machine contract's bound); 0: effect_limit_for(config),
  // which fits the most one input can produce. A smaller value than that is refused.
  std::size_t max_pending_effects = 0;
  // Fault points (base/buggify.hpp, docs/buggify.md); empty: none. Not a setting: the driver
  // fills it, and same_settings() ignores it.
  Buggify buggify;
};

// kInvalidArgument for a configuration out of its bounds.
Status validate(const ProducerConfig& config);
// The effect limit a configuration needs: twice the most one input can produce.
std::size_t effect_limit_for(const ProducerConfig& config);
// Whether `b` asks for the producer `a` already is: equal sizes, flags, tickets (the same
// validators) and online_when, and no `require` predicate on either (functions do not compare).
bool same_settings(const ProducerConfig& a, const ProducerConfig& b);

using ProducerEffect = std::variant<effect::Send, effect::Close>;

struct SubscriptionInfo {
  LinkToken link = 0;
  PeerId peer;
  Stats stats;
  std::size_t queued = 0;
  std::uint64_t credits = 0;
  std::uint64_t dropped = 0;  // datums it missed because its queue was full
};

class ProducerMachine : public MachineBase<ProducerEffect> {
 public:
  // Requires validate(config) to pass.
  explicit ProducerMachine(ProducerConfig config, Instant start = Instant{});

  // A consumer's Subscribe on `link`, admitted by StreamAdmission (network and stream checked).
  void handle_subscribe(Instant now, WallTime wall, LinkToken link, const PeerFacts& peer,
                        const Subscribe& subscribe);
  void handle_credit(Instant now, LinkToken link, std::uint32_t n);
  // The link ended (the remote closed it, it reset, or admission closed it).
  void handle_link_closed(Instant now, LinkToken link);
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  // The catalog changed: re-checks `require` against what `lookup` says of each subscriber.
  void handle_catalog(Instant now, const PeerLookup& lookup);
  void handle_timeout(Instant now, WallTime wall);
  // Fans `payload` (an encoded datum) out; the number of subscriptions it was queued for.
  // kUnavailable when offline, kLimitExceeded for a payload over kMaxPayloadSize or while the
  // effect queue is at its input mark.
  Result<std::size_t> publish(Instant now, const Bytes& payload);
  // Closes every subscription (the producer goes away).
  void close_all(Instant now, std::uint32_t code, const std::string& reason);

  // The earliest instant at which handle_timeout has work; Instant::max() when none.
  Instant next_deadline() const;
  void invariants() const;

  bool is_online() const { return holds(config_.online_when); }
  // Whether `conditions` hold over the subscriptions (every subscription is connected).
  bool holds(const ChannelConditions& conditions) const;
  std::size_t subscribers() const { return subs_.size(); }
  std::vector<SubscriptionInfo> subscriptions(Instant now) const;
  const ProducerConfig& config() const { return config_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t refused_sends() const { return refused_sends_; }

 private:
  struct Outgoing {
    std::shared_ptr<const Bytes> frame;  // an encoded Datum, shared by every queue
    std::uint32_t payload = 0;           // its payload's size
  };
  struct Subscription {
    PeerFacts peer;
    std::deque<Outgoing> queue;
    std::uint64_t credits = 0;
    std::optional<Bytes> start_pending;  // the Start, refused: it goes first
    Instant retry_at = Instant::max();   // sending is held until then (or the next credit)
    SendBackoff backoff;
    WallTime expires = WallTime::max();
    Instant expires_at = Instant::max();  // `expires` on the monotonic clock
    Instant since;
    std::uint64_t datums = 0;
    std::uint64_t bytes = 0;
    std::uint64_t dropped = 0;
    bool held() const { return retry_at != Instant::max(); }
  };
  // Sends what the credits allow unless held; returns the number of effects.
  std::size_t drain(LinkToken link, Subscription& sub);
  void cut(LinkToken link, std::uint32_t code, std::string reason);
  void send(LinkToken link, Subscription& sub, Bytes frame);
  // Takes the refused frame and the Sends behind it on `link` back into the subscription; the
  // number of those behind it.
  std::size_t hold(Subscription& sub, const Bytes& frame, LinkToken link);
  void refresh_expiry();
  void retry_due(Instant now);

  ProducerConfig config_;
  std::map<LinkToken, Subscription> subs_;
  std::uint64_t dropped_ = 0;
  std::uint64_t refused_sends_ = 0;
};

}  // namespace smalti::streams
