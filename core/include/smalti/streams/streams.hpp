// Streams: typed pub/sub between nodes, found through discovery (Network::streams()).
//
//   struct Price { std::string symbol; double value; };
//   SMALTI_FIELDS(Price, symbol, value)
//   SMALTI_STREAM(Price, "oracle.price")         // the stream's name (its id is derived)
//
//   auto producer = net.streams().produce<Price>();  // this node's producer of the stream
//   co_await producer.when().online();               // online_when holds (default: 1 consumer)
//   Status sent = producer.try_send({"ETH", 3200.0});
//
//   Result<Producer<Price>> configured = net.streams().producer<Price>()
//       .with_buffer_size(256)
//       .online_when(ChannelConditions().minimum_of(2).with_tag(Tag::from_string("eu")))
//       .build();                                    // kAlreadyExists: one with other settings
//
//   auto consumer = net.streams().consume<Price>();
//   Price p = co_await consumer.recv();
//   Stats s = consumer.stats();                      // datums, bytes, uptime
//
// A node has at most one producer per stream: build() returns the existing one when the
// settings are the same, and kAlreadyExists when they differ (find_producer() returns it then);
// produce() returns the existing one whatever its settings. A producer advertises its stream
// in the node's discovery entry while a handle to it lives (dropping the last handle withdraws
// it and closes its subscriptions). A consumer subscribes to every producer of the stream the
// catalog offers. The machinery is in detail/streams_driver.hpp. Executor thread only; handles
// must not outlive the Network, and conditions (when()) not the handle they came from.
#pragma once

#include <memory>
#include <optional>

#include "smalti/streams/channels.hpp"
#include "smalti/streams/detail/streams_driver.hpp"
#include "smalti/streams/messages.hpp"

namespace smalti::streams {

// Declares T's stream name: SMALTI_STREAM(Price, "oracle.price").
#define SMALTI_STREAM(Type, name)                                    \
  inline ::smalti::streams::StreamId smalti_stream_id(const Type*) { \
    return ::smalti::streams::StreamId::from_string(name);           \
  }

template <typename T>
StreamId stream_id_of() {
  return smalti_stream_id(static_cast<const T*>(nullptr));
}

template <typename T>
class Producer;
template <typename T>
class Consumer;

class Streams {
 public:
  Streams(Node& node, discovery::Discovery& discovery);
  ~Streams();
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;
  // Serves the streams ALPN.
  Status start();

  template <typename T>
  class ProducerBuilder;
  template <typename T>
  class ConsumerBuilder;

  // A builder for T's producer on this node (defaults: mosaik's).
  template <typename T>
  ProducerBuilder<T> producer();
  // This node's producer of T's stream: the existing one whatever its settings, else a new one
  // with the defaults.
  template <typename T>
  Producer<T> produce();
  // The producer of `stream` on this node, if there is one.
  template <typename T>
  std::optional<Producer<T>> find_producer(const StreamId& stream) const;
  template <typename T>
  std::optional<Producer<T>> find_producer() const {
    return find_producer<T>(stream_id_of<T>());
  }

  // A builder for a consumer of T's stream (each is its own set of subscriptions).
  template <typename T>
  ConsumerBuilder<T> consumer();
  // A consumer of T's stream with the defaults.
  template <typename T>
  Consumer<T> consume();

 private:
  std::unique_ptr<detail::StreamsDriver> driver_;
};

}  // namespace smalti::streams

#include "smalti/streams/typed.hpp"
