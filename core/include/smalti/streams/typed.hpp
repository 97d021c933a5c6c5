// Typed handles of streams: Producer<T>, Consumer<T>, their when() conditions, their builders
// and StreamDef<T> (included by streams.hpp). T needs codec fields (SMALTI_FIELDS) and a stream
// name (SMALTI_STREAM).
//
// Handles are cheap to copy and share one producer or consumer; the last one dropped withdraws
// it. Builders are used in one expression, as groups' are: each option is an rvalue method
// (`with_*`, `require*`, `online_when`), and build() returns a Result.
// Executor thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/task.hpp"

namespace smalti::streams {

// when().subscribed(): ChannelConditions over one producer's or consumer's connected channels,
// awaitable like a Condition (`co_await w;`, `w.within(5s)`, `w.on_met(fn)`), and refined like
// ChannelConditions (`.minimum_of(2).with_tag(t)`, `.unmet()`).
class ChannelWatch {
 public:
  using Evaluate = std::function<bool(const ChannelConditions&)>;
  ChannelWatch(Signal& signal, env::Clock& clock, Evaluate evaluate,
               ChannelConditions conditions = {})
      : signal_(&signal),
        clock_(&clock),
        evaluate_(std::move(evaluate)),
        conditions_(std::move(conditions)) {}

  ChannelWatch minimum_of(std::size_t n) const { return with(conditions_.minimum_of(n)); }
  ChannelWatch with_tags(const std::set<Tag>& tags) const {
    return with(conditions_.with_tags(tags));
  }
  ChannelWatch with_tag(const Tag& tag) const { return with(conditions_.with_tag(tag)); }
  ChannelWatch with_predicate(ChannelConditions::EntryPredicate predicate) const {
    return with(conditions_.with_predicate(std::move(predicate)));
  }
  ChannelWatch unmet() const { return with(conditions_.unmet()); }
  const ChannelConditions& conditions() const { return conditions_; }

  bool is_met() const { return evaluate_(conditions_); }
  Condition condition() const {
    return Condition(*signal_, *clock_, [e = evaluate_, c = conditions_] { return e(c); });
  }
  operator Condition() const { return condition(); }  // NOLINT: implicit, to await as one
  Condition::Awaiter operator co_await() const { return condition().operator co_await(); }
  Condition::Awaiter within(Duration timeout) const { return condition().within(timeout); }
  [[nodiscard]] Subscription on_met(std::function<void()> fn) const {
    return condition().on_met(std::move(fn));
  }

 private:
  ChannelWatch with(ChannelConditions c) const {
    return ChannelWatch(*signal_, *clock_, evaluate_, std::move(c));
  }
  Signal* signal_;
  env::Clock* clock_;
  Evaluate evaluate_;
  ChannelConditions conditions_;
};

template <typename T>
class Producer {
 public:
  explicit Producer(std::shared_ptr<detail::ProducerCore> core) : core_(std::move(core)) {}

  const StreamId& stream_id() const { return core_->machine.config().stream; }
  // online_when holds over the subscriptions.
  bool is_online() const { return core_->machine.is_online(); }
  // Sends to every subscribed consumer (a datum no subscription takes goes to the undelivered
  // sink, if there is one). kUnavailable when offline or the network is gone, kLimitExceeded
  // for a datum over kMaxPayloadSize: then nothing is sent.
  Status try_send(const T& datum) {
    if (!core_->driver) return error(StatusCode::kUnavailable, "network closed");
    return core_->driver->publish(*core_, encode(datum)).status();
  }
  // Waits until online, then sends.
  Task<Status> send(T datum) {
    if (!core_->driver) co_return error(StatusCode::kUnavailable, "network closed");
    co_await when().online();
    co_return try_send(datum);
  }
  std::vector<SubscriptionInfo> consumers() const { return core_->machine.subscriptions(now()); }
  // Datums some consumer missed because its queue was full.
  std::uint64_t dropped() const { return core_->machine.dropped(); }
  // Sends a link refused: for back-pressure (the datum was kept and sent again later) or
  // because the link had ended (the subscription ended with it).
  std::uint64_t refused_sends() const { return core_->machine.refused_sends(); }

  class When {
   public:
    explicit When(detail::ProducerCore& core) : core_(&core) {}
    Condition online() const {
      detail::ProducerCore* c = core_;
      return Condition(signal(), clock(), [c] { return c->machine.is_online(); });
    }
    Condition offline() const {
      detail::ProducerCore* c = core_;
      return Condition(signal(), clock(), [c] { return !c->machine.is_online(); });
    }
    // At least one consumer subscribed; refine with minimum_of, with_tags, with_predicate.
    ChannelWatch subscribed() const {
      detail::ProducerCore* c = core_;
      return ChannelWatch(signal(), clock(),
                          [c](const ChannelConditions& cond) { return c->machine.holds(cond); });
    }
    // No consumer subscribed (subscribed().unmet()).
    ChannelWatch unsubscribed() const { return subscribed().unmet(); }

   private:
    Signal& signal() const { return core_->driver->changed(); }
    env::Clock& clock() const { return core_->driver->node().clock(); }
    detail::ProducerCore* core_;
  };
  When when() const { return When(*core_); }

 private:
  Instant now() const {
    return core_->driver ? core_->driver->node().now() : core_->machine.last_input();
  }
  std::shared_ptr<detail::ProducerCore> core_;
};

template <typename T>
class Consumer {
 public:
  explicit Consumer(std::shared_ptr<detail::ConsumerCore> core) : core_(std::move(core)) {}

  const StreamId& stream_id() const { return core_->machine.config().stream; }
  // online_when holds over the connected producers (default: always).
  bool is_online() const { return core_->machine.is_online(); }
  // The next datum, if one is queued. A datum that does not decode is skipped (and counted).
  std::optional<T> try_recv() {
    while (core_->driver) {
      auto payload = core_->driver->receive(*core_);
      if (!payload) return std::nullopt;
      auto datum = decode<T>(*payload);
      if (datum.is_ok()) return std::move(datum).value();
      ++core_->undecodable;
    }
    return std::nullopt;
  }
  // Waits for the next datum.
  Task<T> recv() {
    while (true) {
      if (auto d = try_recv()) co_return std::move(*d);
      detail::ConsumerCore* c = core_.get();
      co_await Condition(c->driver->changed(), c->driver->node().clock(),
                         [c] { return !c->inbox.empty(); });
    }
  }
  std::vector<ChannelInfo> producers() const { return core_->machine.channels(now()); }
  // Over all producers, ever: datums, payload bytes, and the uptime since it last became
  // connected to some producer (none while connected to none).
  Stats stats() const { return core_->machine.stats(now()); }
  std::uint64_t undecodable() const { return core_->undecodable; }

  class When {
   public:
    explicit When(detail::ConsumerCore& core) : core_(&core) {}
    Condition online() const {
      detail::ConsumerCore* c = core_;
      return Condition(signal(), clock(), [c] { return c->machine.is_online(); });
    }
    Condition offline() const {
      detail::ConsumerCore* c = core_;
      return Condition(signal(), clock(), [c] { return !c->machine.is_online(); });
    }
    // Connected to at least one producer; refine with minimum_of, with_tags, with_predicate.
    ChannelWatch subscribed() const {
      detail::ConsumerCore* c = core_;
      return ChannelWatch(signal(), clock(),
                          [c](const ChannelConditions& cond) { return c->machine.holds(cond); });
    }
    // Connected to no producer (subscribed().unmet()).
    ChannelWatch unsubscribed() const { return subscribed().unmet(); }

   private:
    Signal& signal() const { return core_->driver->changed(); }
    env::Clock& clock() const { return core_->driver->node().clock(); }
    detail::ConsumerCore* core_;
  };
  When when() const { return When(*core_); }

 private:
  Instant now() const {
    return core_->driver ? core_->driver->node().now() : core_->machine.last_input();
  }
  std::shared_ptr<detail::ConsumerCore> core_;
};

template <typename T>
class Streams::ProducerBuilder {
 public:
  explicit ProducerBuilder(Streams& s) : streams_(&s) { config_.stream = stream_id_of<T>(); }

  ProducerBuilder&& with_stream_id(StreamId id) && {
    config_.stream = id;
    return std::move(*this);
  }
  // Consumers must pass `pred` (stackable: all must pass); checked at subscription and again
  // on every catalog change.
  ProducerBuilder&& require(PeerPredicate pred) && {
    auto prev = std::move(config_.require);
    config_.require =
        prev ? PeerPredicate([prev, pred](const PeerInfo& p) { return prev(p) && pred(p); })
             : std::move(pred);
    return std::move(*this);
  }
  // Consumers must hold a valid ticket of the validator's class (stackable: all must pass); a
  // subscription ends with NotAllowed when its tickets expire.
  ProducerBuilder&& require_ticket(std::shared_ptr<const tickets::TicketValidator> validator) && {
    config_.tickets.push_back(std::move(validator));
    return std::move(*this);
  }
  // Online while `conditions` hold over the subscriptions (default: minimum_of(1)).
  ProducerBuilder&& online_when(ChannelConditions conditions) && {
    config_.online_when = std::move(conditions);
    return std::move(*this);
  }
  // A consumer whose queue is full is cut with TooSlow (true, the default) or misses datums.
  ProducerBuilder&& disconnect_lagging(bool yes) && {
    config_.disconnect_lagging = yes;
    return std::move(*this);
  }
  // Each consumer's queue, [1, kMaxBufferSize] (default 1024).
  ProducerBuilder&& with_buffer_size(std::size_t n) && {
    config_.buffer_size = n;
    return std::move(*this);
  }
  // At most this many subscriptions, [0, kMaxSubscriptions] (the default).
  ProducerBuilder&& with_max_consumers(std::size_t n) && {
    config_.max_consumers = n;
    return std::move(*this);
  }
  // Receives each datum no subscription took.
  ProducerBuilder&& with_undelivered_sink(std::function<void(const T&)> sink) && {
    undelivered_ = [sink = std::move(sink)](const Bytes& b) {
      if (auto d = decode<T>(b); d.is_ok()) sink(*d);
    };
    return std::move(*this);
  }
  // The producer: a new one, or the existing one when it has the same settings; kAlreadyExists
  // when the stream has a producer here with other settings (Streams::find_producer returns it;
  // a `require` predicate or an undelivered sink always counts as other settings);
  // kInvalidArgument for an option out of bounds.
  Result<Producer<T>> build() && {
    auto core = streams_->driver_->open_producer(std::move(config_), std::move(undelivered_));
    if (!core.is_ok()) return core.status();
    return Producer<T>(std::move(core).value());
  }

 private:
  Streams* streams_;
  ProducerConfig config_;
  std::function<void(const Bytes&)> undelivered_;
};

template <typename T>
class Streams::ConsumerBuilder {
 public:
  explicit ConsumerBuilder(Streams& s) : streams_(&s) {
    config_.stream = stream_id_of<T>();
    config_.network = s.driver_->discovery().config().network;
  }

  ConsumerBuilder&& with_stream_id(StreamId id) && {
    config_.stream = id;
    return std::move(*this);
  }
  // Producers must pass `pred` (stackable); checked on every catalog change.
  ConsumerBuilder&& require(PeerPredicate pred) && {
    auto prev = std::move(config_.require);
    config_.require =
        prev ? PeerPredicate([prev, pred](const PeerInfo& p) { return prev(p) && pred(p); })
             : std::move(pred);
    return std::move(*this);
  }
  // Producers must hold a valid ticket of the validator's class (stackable).
  ConsumerBuilder&& require_ticket(std::shared_ptr<const tickets::TicketValidator> validator) && {
    config_.tickets.push_back(std::move(validator));
    return std::move(*this);
  }
  // Online while `conditions` hold over the connected producers (default: minimum_of(0), at
  // once, as in mosaik).
  ConsumerBuilder&& online_when(ChannelConditions conditions) && {
    config_.online_when = std::move(conditions);
    return std::move(*this);
  }
  ConsumerBuilder&& with_backoff(Backoff b) && {
    config_.backoff = b;
    return std::move(*this);
  }
  // The credit window granted to each producer, [1, kMaxBufferSize] (default 1024).
  ConsumerBuilder&& with_buffer_size(std::size_t n) && {
    config_.buffer_size = n;
    return std::move(*this);
  }
  // kInvalidArgument for an option out of bounds.
  Result<Consumer<T>> build() && {
    auto core = streams_->driver_->open_consumer(std::move(config_));
    if (!core.is_ok()) return core.status();
    return Consumer<T>(std::move(core).value());
  }

 private:
  Streams* streams_;
  ConsumerConfig config_;
};

template <typename T>
Streams::ProducerBuilder<T> Streams::producer() {
  return ProducerBuilder<T>(*this);
}

template <typename T>
Producer<T> Streams::produce() {
  if (auto existing = find_producer<T>()) return *existing;
  auto made = producer<T>().build();
  SMALTI_ASSERT(made.is_ok(), "the default producer settings are valid");
  return std::move(made).value();
}

template <typename T>
std::optional<Producer<T>> Streams::find_producer(const StreamId& stream) const {
  auto core = driver_->find_producer(stream);
  if (!core) return std::nullopt;
  return Producer<T>(std::move(core));
}

template <typename T>
Streams::ConsumerBuilder<T> Streams::consumer() {
  return ConsumerBuilder<T>(*this);
}

template <typename T>
Consumer<T> Streams::consume() {
  auto made = consumer<T>().build();
  SMALTI_ASSERT(made.is_ok(), "the default consumer settings are valid");
  return std::move(made).value();
}

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
  std::size_t max_consumers = kMaxSubscriptions;
  bool disconnect_lagging = true;
  ChannelConditions producer_online_when = ChannelConditions().minimum_of(1);
  ChannelConditions consumer_online_when = ChannelConditions().minimum_of(0);
  Backoff backoff;

  StreamId id() const { return name.empty() ? stream_id_of<T>() : StreamId::from_string(name); }
  Streams::ProducerBuilder<T> producer(Streams& streams) const {
    return streams.producer<T>()
        .with_stream_id(id())
        .with_buffer_size(buffer_size)
        .with_max_consumers(max_consumers)
        .disconnect_lagging(disconnect_lagging)
        .online_when(producer_online_when);
  }
  Streams::ConsumerBuilder<T> consumer(Streams& streams) const {
    return streams.consumer<T>()
        .with_stream_id(id())
        .with_buffer_size(buffer_size)
        .with_backoff(backoff)
        .online_when(consumer_online_when);
  }
};

}  // namespace smalti::streams
