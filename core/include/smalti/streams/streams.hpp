// Streams: typed pub/sub between nodes, found through discovery (Network::streams()).
//
//   struct Price { std::string symbol; double value; };
//   SMALTI_FIELDS(Price, symbol, value)
//   SMALTI_STREAM(Price, "oracle.price")         // the stream's name (its id is derived)
//
//   auto producer = net.streams().producer<Price>().with_buffer_size(256).build();
//   co_await producer.when().online();            // at least online_when consumers connected
//   Status sent = producer.try_send({"ETH", 3200.0});
//
//   auto consumer = net.streams().consumer<Price>().build();
//   Price p = co_await consumer.recv();
//
// A producer advertises its stream in the node's discovery entry while a handle to it lives
// (dropping the last handle withdraws it and closes its subscriptions). A consumer subscribes to
// every producer of the stream the catalog offers. Executor thread only; handles must not
// outlive the Network.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "smalti/discovery/discovery.hpp"
#include "smalti/runtime/effect_loop.hpp"
#include "smalti/runtime/link_table.hpp"
#include "smalti/runtime/task.hpp"
#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"

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

class Streams;

// The untyped state shared by a producer's handles.
struct ProducerCore {
  Streams* streams = nullptr;
  ProducerMachine machine;
  std::size_t online_min = 1;  // consumers needed to be online
  std::function<void(const Bytes&)> undelivered;
  std::unique_ptr<DeadlineTimer> expiry_timer;  // the next ticket expiry
  explicit ProducerCore(ProducerConfig c) : machine(std::move(c)) {}
  ~ProducerCore();
};

struct ConsumerCore {
  Streams* streams = nullptr;
  std::uint64_t id = 0;
  ConsumerMachine machine;
  std::size_t online_min = 0;
  std::map<LinkToken, LinkToken> to_service;  // machine token -> service token
  WallTime ticket_expiry = WallTime::max();   // re-evaluate the producers then
  ConsumerCore(ConsumerConfig c, std::uint64_t seed) : machine(std::move(c), seed) {}
  ~ConsumerCore();
};

class Streams {
 public:
  Streams(Node& node, discovery::Discovery& discovery);
  ~Streams();
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;
  Status start();

  // Untyped API (the typed handles below wrap it).
  // The producer of config.stream on this node: the existing one (and *existed = true) when
  // there is one, else a new one advertised in the node's discovery entry.
  std::shared_ptr<ProducerCore> producer_core(ProducerConfig config, std::size_t online_min,
                                              std::function<void(const Bytes&)> undelivered,
                                              bool* existed);
  std::shared_ptr<ConsumerCore> consumer_core(ConsumerConfig config, std::size_t online_min);
  // Publishes to every subscription; kUnavailable when offline.
  Status publish(ProducerCore& core, const Bytes& payload);
  std::optional<Bytes> receive(ConsumerCore& core);
  Signal& changed() { return changed_; }
  Node& node() { return node_; }
  discovery::Discovery& discovery() { return discovery_; }
  void release(ProducerCore& core);
  void release(ConsumerCore& core);

  template <typename T>
  class ProducerBuilder;
  template <typename T>
  class ConsumerBuilder;
  template <typename T>
  ProducerBuilder<T> producer() {
    return ProducerBuilder<T>(*this);
  }
  template <typename T>
  ConsumerBuilder<T> consumer() {
    return ConsumerBuilder<T>(*this);
  }

 private:
  struct Route {
    bool producer = false;
    StreamId stream;             // producer side: known after Subscribe
    std::uint64_t consumer = 0;  // consumer side
    LinkToken machine_link = 0;
    bool subscribed = false;
  };
  void on_accept(env::LinkPtr link);
  void on_frame(LinkToken token, Bytes frame);
  void on_down(LinkToken token);
  void on_connected(LinkToken token);
  void run(ProducerCore& core);
  void run(ConsumerCore& core);
  void refresh_consumers();
  void refresh(ConsumerCore& core);
  // A monotonic deadline for a wall-clock instant.
  Instant deadline_for(WallTime at) const;
  void watch_catalog();
  std::vector<ProducerCandidate> candidates(const StreamId& stream,
                                            std::vector<discovery::PeerEntry>& storage) const;

  Node& node_;
  discovery::Discovery& discovery_;
  LinkTable links_;
  Signal changed_;
  std::map<StreamId, std::weak_ptr<ProducerCore>> producers_;
  std::map<std::uint64_t, std::weak_ptr<ConsumerCore>> consumers_;
  std::map<LinkToken, Route> routes_;
  std::map<LinkToken, env::CloseInfo> close_info_;
  LinkToken next_token_ = 1;
  std::uint64_t next_consumer_ = 1;
  std::map<std::uint64_t, std::unique_ptr<DeadlineTimer>> consumer_timers_;
  Subscription catalog_watch_;
  std::shared_ptr<Streams*> alive_;
};

}  // namespace smalti::streams

#include "smalti/streams/typed.hpp"
