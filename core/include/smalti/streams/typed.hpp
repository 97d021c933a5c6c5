// Typed handles of streams: Producer<T>, Consumer<T> and their builders (included by
// streams.hpp). T needs codec fields (SMALTI_FIELDS) and a stream name (SMALTI_STREAM).
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "smalti/runtime/condition.hpp"

namespace smalti::streams {

template <typename T>
class Producer {
 public:
  explicit Producer(std::shared_ptr<ProducerCore> core) : core_(std::move(core)) {}

  const StreamId& stream_id() const { return core_->machine.config().stream; }
  bool is_online() const { return core_->machine.subscribers() >= core_->online_min; }
  // Sends to every subscribed consumer. kUnavailable when offline or closed: nothing is sent.
  Status try_send(const T& datum) {
    if (!core_->streams) return error(StatusCode::kUnavailable, "network closed");
    return core_->streams->publish(*core_, encode(datum));
  }
  // Waits until online, then sends.
  Task<Status> send(T datum) {
    co_await when().online();
    co_return try_send(datum);
  }
  std::vector<SubscriptionInfo> consumers() const { return core_->machine.subscriptions(); }
  std::uint64_t dropped() const { return core_->machine.dropped(); }

  class When {
   public:
    explicit When(ProducerCore& core) : core_(core) {}
    Condition online() const { return subscribed(core_.online_min); }
    Condition offline() const {
      ProducerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(),
                       [c] { return c->machine.subscribers() < c->online_min; });
    }
    // At least `n` consumers are subscribed.
    Condition subscribed(std::size_t n = 1) const {
      ProducerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(),
                       [c, n] { return c->machine.subscribers() >= n; });
    }
    // At least `n` subscribed consumers whose discovery entries carry every tag in `tags`.
    Condition subscribed_with(std::size_t n, std::set<Tag> tags) const {
      ProducerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(), [c, n, tags] {
        std::size_t count = 0;
        for (const SubscriptionInfo& s : c->machine.subscriptions()) {
          auto entry = c->streams->discovery().get(s.peer);
          if (!entry) continue;
          count += std::includes(entry->tags.begin(), entry->tags.end(), tags.begin(), tags.end());
        }
        return count >= n;
      });
    }
    Condition unsubscribed() const {
      ProducerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(),
                       [c] { return c->machine.subscribers() == 0; });
    }

   private:
    ProducerCore& core_;
  };
  When when() const { return When(*core_); }

 private:
  std::shared_ptr<ProducerCore> core_;
};

template <typename T>
class Consumer {
 public:
  explicit Consumer(std::shared_ptr<ConsumerCore> core) : core_(std::move(core)) {}

  const StreamId& stream_id() const { return core_->machine.config().stream; }
  bool is_online() const { return core_->machine.connected() >= core_->online_min; }
  // The next datum, if one is queued. A datum that does not decode is skipped (and counted).
  std::optional<T> try_recv() {
    while (core_->streams) {
      auto payload = core_->streams->receive(*core_);
      if (!payload) return std::nullopt;
      auto datum = decode<T>(*payload);
      if (datum.is_ok()) return std::move(datum).value();
      ++undecodable_;
    }
    return std::nullopt;
  }
  // Waits for the next datum.
  Task<T> recv() {
    while (true) {
      if (auto d = try_recv()) co_return std::move(*d);
      ConsumerCore* c = core_.get();
      co_await Condition(c->streams->changed(), c->streams->node().clock(),
                         [c] { return c->machine.queued() > 0; });
    }
  }
  std::vector<ChannelInfo> producers() const { return core_->machine.channels(); }
  std::uint64_t undecodable() const { return undecodable_; }

  class When {
   public:
    explicit When(ConsumerCore& core) : core_(core) {}
    Condition online() const { return subscribed(core_.online_min); }
    // Connected to at least `n` producers.
    Condition subscribed(std::size_t n = 1) const {
      ConsumerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(),
                       [c, n] { return c->machine.connected() >= n; });
    }
    Condition unsubscribed() const {
      ConsumerCore* c = &core_;
      return Condition(c->streams->changed(), c->streams->node().clock(),
                       [c] { return c->machine.connected() == 0; });
    }

   private:
    ConsumerCore& core_;
  };
  When when() const { return When(*core_); }

 private:
  std::shared_ptr<ConsumerCore> core_;
  std::uint64_t undecodable_ = 0;
};

template <typename T>
class Streams::ProducerBuilder {
 public:
  explicit ProducerBuilder(Streams& s) : streams_(s) { config_.stream = stream_id_of<T>(); }
  ProducerBuilder& require(PeerPredicate pred) {
    auto prev = std::move(config_.require);
    config_.require =
        prev ? PeerPredicate([prev, pred](const PeerInfo& p) { return prev(p) && pred(p); })
             : std::move(pred);
    return *this;
  }
  // Consumers must hold a valid ticket of the validator's class (stackable: all must pass); a
  // subscription ends with NotAllowed when its tickets expire.
  ProducerBuilder& require_ticket(std::shared_ptr<const tickets::TicketValidator> validator) {
    config_.tickets.push_back(std::move(validator));
    return *this;
  }
  // Online once at least `n` consumers are subscribed (default 1).
  ProducerBuilder& online_when_subscribed(std::size_t n) {
    online_min_ = n;
    return *this;
  }
  ProducerBuilder& disconnect_lagging(bool yes) {
    config_.disconnect_lagging = yes;
    return *this;
  }
  ProducerBuilder& with_buffer_size(std::size_t n) {
    config_.buffer_size = n;
    return *this;
  }
  ProducerBuilder& with_max_consumers(std::size_t n) {
    config_.max_consumers = n;
    return *this;
  }
  ProducerBuilder& with_stream_id(StreamId id) {
    config_.stream = id;
    return *this;
  }
  // Receives each datum no subscription took.
  ProducerBuilder& with_undelivered_sink(std::function<void(const T&)> sink) {
    undelivered_ = [sink = std::move(sink)](const Bytes& b) {
      if (auto d = decode<T>(b); d.is_ok()) sink(*d);
    };
    return *this;
  }
  // The producer of this stream on this node (the existing one if there is one already).
  Producer<T> build() {
    bool existed = false;
    return Producer<T>(streams_.producer_core(config_, online_min_, undelivered_, &existed));
  }

 private:
  Streams& streams_;
  ProducerConfig config_;
  std::size_t online_min_ = 1;
  std::function<void(const Bytes&)> undelivered_;
};

template <typename T>
class Streams::ConsumerBuilder {
 public:
  explicit ConsumerBuilder(Streams& s) : streams_(s) {
    config_.stream = stream_id_of<T>();
    config_.network = s.discovery().config().network;
  }
  ConsumerBuilder& require(PeerPredicate pred) {
    auto prev = std::move(config_.require);
    config_.require =
        prev ? PeerPredicate([prev, pred](const PeerInfo& p) { return prev(p) && pred(p); })
             : std::move(pred);
    return *this;
  }
  // Producers must hold a valid ticket of the validator's class (stackable).
  ConsumerBuilder& require_ticket(std::shared_ptr<const tickets::TicketValidator> validator) {
    config_.tickets.push_back(std::move(validator));
    return *this;
  }
  ConsumerBuilder& with_backoff(Backoff b) {
    config_.backoff = b;
    return *this;
  }
  ConsumerBuilder& with_buffer_size(std::size_t n) {
    config_.buffer_size = n;
    return *this;
  }
  ConsumerBuilder& with_stream_id(StreamId id) {
    config_.stream = id;
    return *this;
  }
  // Online once connected to at least `n` producers (default 0: at once, as mosaik).
  ConsumerBuilder& online_when_subscribed(std::size_t n) {
    online_min_ = n;
    return *this;
  }
  Consumer<T> build() { return Consumer<T>(streams_.consumer_core(config_, online_min_)); }

 private:
  Streams& streams_;
  ConsumerConfig config_;
  std::size_t online_min_ = 0;
};

}  // namespace smalti::streams

namespace smalti::streams {

// A stream declared once, with its id and configuration, for producers and consumers alike
// (mosaik's stream! macro):
//
//   inline const streams::StreamDef<Price> kPrices{.name = "oracle.prices", .buffer_size = 256};
//   auto producer = kPrices.producer(net.streams()).build();
//   auto consumer = kPrices.consumer(net.streams()).build();
template <typename T>
struct StreamDef {
  // The stream's name (its id is derived from it); empty: T's SMALTI_STREAM name.
  std::string_view name;
  std::size_t buffer_size = 1024;
  std::size_t max_consumers = SIZE_MAX;
  bool disconnect_lagging = true;
  std::size_t producer_online_when = 1;
  std::size_t consumer_online_when = 0;
  Backoff backoff;

  StreamId id() const { return name.empty() ? stream_id_of<T>() : StreamId::from_string(name); }
  Streams::ProducerBuilder<T> producer(Streams& streams) const {
    auto b = streams.producer<T>();
    b.with_stream_id(id())
        .with_buffer_size(buffer_size)
        .with_max_consumers(max_consumers)
        .disconnect_lagging(disconnect_lagging)
        .online_when_subscribed(producer_online_when);
    return b;
  }
  Streams::ConsumerBuilder<T> consumer(Streams& streams) const {
    auto b = streams.consumer<T>();
    b.with_stream_id(id())
        .with_buffer_size(buffer_size)
        .with_backoff(backoff)
        .online_when_subscribed(consumer_online_when);
    return b;
  }
};

}  // namespace smalti::streams
