// ConsumerMachine: the consuming side of one stream for one Consumer, as a pure state machine.
//
// It subscribes to every eligible producer of the stream (the driver reports them from the
// catalog with handle_producers), one link each, and grants each link a window of buffer_size
// credits; a producer never has more in flight, so the queue of received datums is bounded by
// buffer_size per producer. pop() hands datums to the application and returns credits to their
// link in batches. A link that ends is re-opened after an exponential backoff (initial, x
// multiplier, up to max; reset once data flows), unless the producer refused for good
// (NotAllowed, StreamNotFound, DifferentNetwork, GracefulShutdown): then only a later catalog
// change brings it back. Not synchronised.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/env/peer.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/streams/producer_machine.hpp"

namespace smalti::streams {

struct Backoff {
  Duration initial = 500ms;
  double multiplier = 1.5;
  Duration max = 60s;
};

struct ConsumerConfig {
  NetworkId network;
  StreamId stream;
  std::size_t buffer_size = 1024;
  PeerPredicate require;
  // Producers must hold a valid ticket for each.
  tickets::Validators tickets;
  Backoff backoff;
};

using ConsumerEffect = std::variant<effect::Connect, effect::Send, effect::Close>;

struct ProducerCandidate {
  PeerAddr addr;
  PeerInfo info;
};

enum class ChannelState : std::uint8_t { kConnecting, kConnected, kWaiting, kTerminated };

struct ChannelInfo {
  PeerId producer;
  ChannelState state = ChannelState::kConnecting;
  SubscriptionStats stats;
};

class ConsumerMachine {
 public:
  // Producers subscribed to at once; more candidates wait.
  static constexpr std::size_t kMaxProducers = 256;

  ConsumerMachine(ConsumerConfig config, std::uint64_t seed)
      : config_(std::move(config)), rng_(seed) {}

  // The producers the catalog offers now (already filtered by stream id).
  // Returns when the earliest ticket among the eligible producers expires (then call again).
  WallTime handle_producers(Instant now, WallTime wall,
                            const std::vector<ProducerCandidate>& candidates);
  void handle_connected(Instant now, LinkToken link);
  void handle_frame(Instant now, LinkToken link, ByteView frame);
  // The link ended (or could not be opened); `info.code` decides between retry and giving up.
  void handle_closed(Instant now, LinkToken link, const env::CloseInfo& info);
  void handle_timeout(Instant now);
  // The next received datum's payload, if any; returns credits to its producer.
  std::optional<Bytes> pop();
  void close_all();

  std::optional<ConsumerEffect> poll_effect();
  Instant next_deadline() const;
  void invariants() const;

  std::size_t connected() const;
  // The producer a link leads to (for the driver's catalog sync on UnknownPeer).
  std::optional<PeerAddr> producer_of(LinkToken link) const;
  std::size_t queued() const { return queue_.size(); }
  std::vector<ChannelInfo> channels() const;
  const ConsumerConfig& config() const { return config_; }

 private:
  struct Channel {
    PeerAddr addr;
    ChannelState state = ChannelState::kConnecting;
    LinkToken link = 0;
    Duration delay{0};  // current backoff
    Instant retry_at = Instant::max();
    std::uint64_t outstanding = 0;  // credits granted and not yet used
    std::uint64_t to_return = 0;    // consumed since the last Credit
    SubscriptionStats stats;
  };
  void open(Instant now, const PeerId& producer, Channel& channel);
  void fail(Instant now, Channel& channel, bool retry);
  Channel* by_link(LinkToken link);

  ConsumerConfig config_;
  Rng rng_;
  std::map<PeerId, Channel> channels_;
  std::map<LinkToken, PeerId> links_;
  struct Queued {
    PeerId producer;
    LinkToken link = 0;  // the link it came on: only that link gets its credit back
    Bytes payload;
  };
  std::deque<Queued> queue_;
  LinkToken next_link_ = 1;
  std::deque<ConsumerEffect> effects_;
  Instant last_now_;
};

}  // namespace smalti::streams
