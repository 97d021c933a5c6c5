// ProducerMachine: the producing side of one stream on one node, as a pure state machine.
//
// It holds the subscriptions (one per consumer link) and fans every published datum out to each
// of them through its own bounded queue (buffer_size), so a slow consumer never slows the others:
// a queue that is full when a datum arrives means that consumer is lagging, and it is cut with
// TooSlow (disconnect_lagging) or misses that datum. A queue drains only as far as the
// consumer's credits allow. Subscriptions beyond max_consumers are refused with NoCapacity, and
// consumers the `require` predicate rejects with NotAllowed.
//
// Inputs: handle_subscribe / handle_credit / handle_closed for links (tokens chosen by the
// driver), publish() for datums, reevaluate() when the catalog changed. Outputs: Send and Close
// effects, pulled with poll_effect(). Not synchronised.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/time.hpp"
#include "smalti/discovery/peer_entry.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/streams/messages.hpp"
#include "smalti/tickets/ticket_validator.hpp"

namespace smalti::streams {

using smalti::LinkToken;
// A peer as the predicates see it: its entry (when the catalog knows it) and its RTT.
struct PeerInfo {
  PeerId id;
  const discovery::PeerEntry* entry = nullptr;
  std::optional<Duration> rtt;
  bool has_tag(const Tag& t) const { return entry && entry->tags.count(t); }
};
using PeerPredicate = std::function<bool(const PeerInfo&)>;

struct ProducerConfig {
  StreamId stream;
  std::size_t buffer_size = 1024;
  std::size_t max_consumers = SIZE_MAX;
  bool disconnect_lagging = true;
  PeerPredicate require;  // empty: everyone
  // Consumers must hold a valid ticket for each; a subscription ends when its tickets expire.
  tickets::Validators tickets;
};

using ProducerEffect = std::variant<effect::Send, effect::Close>;

struct SubscriptionStats {
  std::uint64_t datums = 0;
  std::uint64_t bytes = 0;
  std::uint64_t dropped = 0;
  Instant since;
};

struct SubscriptionInfo {
  LinkToken link = 0;
  PeerId peer;
  SubscriptionStats stats;
  std::size_t queued = 0;
  std::uint64_t credits = 0;
};

class ProducerMachine {
 public:
  explicit ProducerMachine(ProducerConfig config) : config_(std::move(config)) {}

  // A consumer's Subscribe on `link` (already checked for network and stream by the driver).
  void handle_subscribe(Instant now, WallTime wall, LinkToken link, const PeerInfo& peer,
                        const Subscribe& subscribe);
  // Ends subscriptions whose tickets expired by `wall` (NotAllowed).
  void handle_wall_time(WallTime wall);
  // When the next ticket expires (WallTime::max() when none does).
  WallTime next_expiry() const;
  void handle_credit(LinkToken link, std::uint32_t n);
  void handle_closed(LinkToken link);
  // Fans `payload` (an encoded datum) out. Returns the number of subscriptions it was queued for.
  std::size_t publish(const Bytes& payload);
  // Drops subscriptions whose peer `still_allowed` rejects now (catalog changed).
  void reevaluate(const std::function<bool(const PeerId&)>& still_allowed);
  // Closes every subscription (the producer goes away).
  void close_all(std::uint32_t code, const std::string& reason);

  std::optional<ProducerEffect> poll_effect();
  void invariants() const;

  std::size_t subscribers() const { return subs_.size(); }
  std::vector<SubscriptionInfo> subscriptions() const;
  const ProducerConfig& config() const { return config_; }
  std::uint64_t dropped() const { return dropped_; }

 private:
  struct Subscription {
    PeerId peer;
    std::deque<std::shared_ptr<const Bytes>> queue;
    std::uint64_t credits = 0;
    SubscriptionStats stats;
    WallTime expires = WallTime::max();
  };
  void drain(LinkToken link, Subscription& sub);
  void cut(LinkToken link, std::uint32_t code, std::string reason);

  ProducerConfig config_;
  std::map<LinkToken, Subscription> subs_;
  std::deque<ProducerEffect> effects_;
  std::uint64_t dropped_ = 0;
};

}  // namespace smalti::streams
