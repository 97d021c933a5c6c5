// The driver of streams (DESIGN.md section 3): it moves frames, link events and time between the
// environment and the streams machines, and decides nothing itself.
//
//   - one StreamAdmission for every link accepted on /smalti/streams/1 (one LinkTable, whose
//     tokens the admission chooses); what it admits, credits and releases goes to the producer
//     of the stream;
//   - one ProducerMachine per stream produced here (ProducerCore), whose effects go out on the
//     accepted links;
//   - one ConsumerMachine per Consumer (ConsumerCore), with its own LinkTable; the datums it
//     delivers wait in the core's inbox until the application takes them.
// Every machine runs through run_machine() with a DeadlineTimer of its own, and its link effects
// through execute_link_effect(), so a send a link refuses goes back to the machine that made it.
//
// Not part of the API (users name Streams, Producer<T> and Consumer<T>). Executor thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "smalti/discovery/discovery.hpp"
#include "smalti/runtime/detail/effect_loop.hpp"
#include "smalti/runtime/detail/link_table.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/runtime/signal.hpp"
#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"
#include "smalti/streams/stream_admission.hpp"

namespace smalti::streams::detail {

class StreamsDriver;

// The untyped state one producer's handles share. Destroying it (the last handle went)
// withdraws the producer: its subscriptions close and its stream leaves the node's entry.
struct ProducerCore {
  ProducerCore(StreamsDriver& driver, ProducerConfig config,
               std::function<void(const Bytes&)> undelivered);
  // NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
  ~ProducerCore();
  ProducerCore(const ProducerCore&) = delete;
  ProducerCore& operator=(const ProducerCore&) = delete;

  StreamsDriver* driver;  // null once the network is gone
  ProducerMachine machine;
  std::function<void(const Bytes&)> undelivered;
  std::unique_ptr<DeadlineTimer> timer;
};

// The untyped state one consumer's handles share. Destroying it closes its links.
struct ConsumerCore {
  ConsumerCore(StreamsDriver& driver, std::uint64_t id, ConsumerConfig config, std::uint64_t seed);
  // NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
  ~ConsumerCore();
  ConsumerCore(const ConsumerCore&) = delete;
  ConsumerCore& operator=(const ConsumerCore&) = delete;

  StreamsDriver* driver;  // null once the network is gone
  std::uint64_t id;
  ConsumerMachine machine;
  // Delivered, not yet taken: at most a credit window per link it came on.
  std::deque<Received> inbox;
  std::uint64_t undecodable = 0;  // datums the typed handle could not decode
  std::unique_ptr<LinkTable> links;
  std::unique_ptr<DeadlineTimer> timer;
};

class StreamsDriver {
 public:
  StreamsDriver(Node& node, discovery::Discovery& discovery);
  ~StreamsDriver();
  StreamsDriver(const StreamsDriver&) = delete;
  StreamsDriver& operator=(const StreamsDriver&) = delete;

  // Serves the streams ALPN and watches the catalog.
  Status start();

  // A new producer of config.stream; the existing one when the stream has a producer here with
  // the same settings (same_settings, and no undelivered sink on either); kAlreadyExists when
  // it has one with other settings (find_producer() returns it); kInvalidArgument for a
  // configuration out of bounds.
  Result<std::shared_ptr<ProducerCore>> open_producer(
      ProducerConfig config, std::function<void(const Bytes&)> undelivered);
  std::shared_ptr<ProducerCore> find_producer(const StreamId& stream) const;
  // kInvalidArgument for a configuration out of bounds.
  Result<std::shared_ptr<ConsumerCore>> open_consumer(ConsumerConfig config);

  // The number of subscriptions the datum was queued for (0: it went to the undelivered sink,
  // if any); ProducerMachine::publish's errors.
  Result<std::size_t> publish(ProducerCore& core, const Bytes& payload);
  // The next datum's payload, if one waits; its credit goes back.
  std::optional<Bytes> receive(ConsumerCore& core);
  void release(ProducerCore& core);
  void release(ConsumerCore& core);

  // Notified whenever a machine ran (subscriptions, channels or the inbox may have changed).
  Signal& changed() { return changed_; }
  Node& node() { return node_; }
  discovery::Discovery& discovery() { return discovery_; }
  const StreamAdmission& admission() const { return admission_; }

 private:
  void on_accept(env::LinkPtr link);
  void run_admission();
  void run(ProducerCore& core);
  void run(ConsumerCore& core);
  void refresh(ConsumerCore& core);
  void watch_catalog();
  std::shared_ptr<ProducerCore> live_producer(const StreamId& stream) const;
  std::vector<ProducerCandidate> candidates(const StreamId& stream) const;
  PeerFacts facts(const PeerId& peer) const;

  Node& node_;
  discovery::Discovery& discovery_;
  StreamAdmission admission_;
  LinkTable accepted_;  // tokens chosen by admission_
  DeadlineTimer admission_timer_;
  PeerLookup lookup_;
  Signal changed_;
  std::map<StreamId, std::weak_ptr<ProducerCore>> producers_;
  std::map<std::uint64_t, std::weak_ptr<ConsumerCore>> consumers_;
  std::uint64_t next_consumer_ = 1;
  bool in_admission_run_ = false;
  Subscription catalog_watch_;
};

}  // namespace smalti::streams::detail
