#include "smalti/streams/detail/streams_driver.hpp"

#include <utility>

#include "smalti/runtime/detail/link_effects.hpp"

namespace smalti::streams::detail {
namespace {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

ProducerCore::ProducerCore(StreamsDriver& d, ProducerConfig config,
                           std::function<void(const Bytes&)> sink)
    : driver(&d), machine(std::move(config), d.node().now()), undelivered(std::move(sink)) {}

// The last handle is gone: withdraw the producer from the network.
// NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
ProducerCore::~ProducerCore() {
  if (driver) driver->release(*this);
}

ConsumerCore::ConsumerCore(StreamsDriver& d, std::uint64_t consumer, ConsumerConfig config,
                           std::uint64_t seed)
    : driver(&d), id(consumer), machine(std::move(config), seed, d.node().now()) {}

// NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
ConsumerCore::~ConsumerCore() {
  if (driver) driver->release(*this);
}

StreamsDriver::StreamsDriver(Node& node, discovery::Discovery& discovery)
    : node_(node),
      discovery_(discovery),
      admission_(
          AdmissionConfig{.network = discovery.config().network, .buggify = node.buggify_fn()},
          node.now()),
      accepted_(node, LinkTable::Callbacks{
                          .on_connected = [](LinkToken) {},
                          .on_down =
                              [this](LinkToken t, const env::CloseInfo&) {
                                admission_.handle_link_closed(node_.now(), t);
                                run_admission();
                              },
                          .on_frame =
                              [this](LinkToken t, Bytes frame) {
                                admission_.handle_frame(node_.now(), t, frame, lookup_);
                                run_admission();
                              },
                      }),
      admission_timer_(node.executor(),
                       [this] {
                         admission_.handle_timeout(node_.now());
                         run_admission();
                       }),
      lookup_([this](const PeerId& peer) { return facts(peer); }),
      changed_(node.executor()) {}

StreamsDriver::~StreamsDriver() {
  // Handles that outlive us must not call back, nor keep timers or links of a dead node.
  for (auto& [stream, weak] : producers_) {
    if (auto core = weak.lock()) {
      core->driver = nullptr;
      core->timer.reset();
    }
  }
  for (auto& [id, weak] : consumers_) {
    if (auto core = weak.lock()) {
      core->driver = nullptr;
      core->timer.reset();
      core->links.reset();
    }
  }
}

Status StreamsDriver::start() {
  SMALTI_RETURN_IF_ERROR(
      node_.serve(kAlpn, [this](env::LinkPtr link) { on_accept(std::move(link)); }));
  watch_catalog();
  return Status::ok();
}

PeerFacts StreamsDriver::facts(const PeerId& peer) const {
  auto entry = discovery_.get(peer);
  return PeerFacts{
      peer, entry ? std::make_shared<const discovery::PeerEntry>(std::move(*entry)) : nullptr,
      discovery_.rtt(peer)};
}

void StreamsDriver::watch_catalog() {
  const std::uint64_t seen = discovery_.catalog_version();
  catalog_watch_ = discovery_.when().changed_since(seen).on_met([this] {
    std::vector<std::shared_ptr<ConsumerCore>> consumers;
    for (auto& [id, weak] : consumers_) {
      if (auto core = weak.lock()) consumers.push_back(std::move(core));
    }
    for (auto& core : consumers) refresh(*core);
    std::vector<std::shared_ptr<ProducerCore>> producers;
    for (auto& [stream, weak] : producers_) {
      if (auto core = weak.lock()) producers.push_back(std::move(core));
    }
    for (auto& core : producers) {
      core->machine.handle_catalog(node_.now(), lookup_);
      run(*core);
    }
    watch_catalog();
  });
}

std::vector<ProducerCandidate> StreamsDriver::candidates(const StreamId& stream) const {
  std::vector<ProducerCandidate> out;
  for (discovery::PeerEntry& e : discovery_.peers()) {
    if (!e.streams.count(stream)) continue;
    const PeerId id = e.id();
    const PeerAddr addr = e.address;
    out.push_back(ProducerCandidate{
        addr, PeerFacts{id, std::make_shared<const discovery::PeerEntry>(std::move(e)),
                        discovery_.rtt(id)}});
  }
  return out;
}

void StreamsDriver::refresh(ConsumerCore& core) {
  core.machine.handle_producers(node_.now(), node_.wall_now(),
                                candidates(core.machine.config().stream));
  run(core);
}

std::shared_ptr<ProducerCore> StreamsDriver::live_producer(const StreamId& stream) const {
  auto it = producers_.find(stream);
  return it == producers_.end() ? nullptr : it->second.lock();
}

std::shared_ptr<ProducerCore> StreamsDriver::find_producer(const StreamId& stream) const {
  return live_producer(stream);
}

Result<std::shared_ptr<ProducerCore>> StreamsDriver::open_producer(
    ProducerConfig config, std::function<void(const Bytes&)> undelivered) {
  SMALTI_RETURN_IF_ERROR(validate(config));
  const StreamId stream = config.stream;
  if (auto existing = live_producer(stream)) {
    if (same_settings(existing->machine.config(), config) && !undelivered &&
        !existing->undelivered) {
      return existing;
    }
    return error(StatusCode::kAlreadyExists,
                 "stream " + stream.short_hex() +
                     " has a producer on this node with other settings (find_producer)");
  }
  config.buggify = node_.buggify_fn();
  auto core = std::make_shared<ProducerCore>(*this, std::move(config), std::move(undelivered));
  ProducerCore* raw = core.get();
  core->timer = std::make_unique<DeadlineTimer>(node_.executor(), [this, raw] {
    raw->machine.handle_timeout(node_.now(), node_.wall_now());
    run(*raw);
  });
  producers_[stream] = core;
  admission_.handle_stream_added(node_.now(), stream);
  run_admission();
  discovery_.add_streams({stream});
  return core;
}

Result<std::shared_ptr<ConsumerCore>> StreamsDriver::open_consumer(ConsumerConfig config) {
  SMALTI_RETURN_IF_ERROR(validate(config));
  const std::uint64_t id = next_consumer_++;
  config.buggify = node_.buggify_fn();
  auto core = std::make_shared<ConsumerCore>(
      *this, id, std::move(config), node_.make_rng("streams.consumer").derive_seed("c", id));
  ConsumerCore* c = core.get();
  core->links = std::make_unique<LinkTable>(
      node_, LinkTable::Callbacks{
                 .on_connected =
                     [this, c](LinkToken t) {
                       c->machine.handle_connected(node_.now(), t);
                       run(*c);
                     },
                 .on_down =
                     [this, c](LinkToken t, const env::CloseInfo& info) {
                       c->machine.handle_link_closed(node_.now(), t, info);
                       run(*c);
                     },
                 .on_frame =
                     [this, c](LinkToken t, Bytes frame) {
                       c->machine.handle_frame(node_.now(), t, frame);
                       run(*c);
                     },
             });
  core->timer = std::make_unique<DeadlineTimer>(node_.executor(), [this, c] {
    c->machine.handle_timeout(node_.now(), node_.wall_now());
    run(*c);
  });
  consumers_[id] = core;
  refresh(*core);
  return core;
}

void StreamsDriver::release(ProducerCore& core) {
  const StreamId stream = core.machine.config().stream;
  core.machine.close_all(node_.now(), env::close_code::kGracefulShutdown, "producer dropped");
  run(core);
  producers_.erase(stream);
  admission_.handle_stream_removed(node_.now(), stream);
  run_admission();
  // Unlike mosaik, a stream nobody produces any more leaves the node's entry.
  discovery_.remove_streams({stream});
}

void StreamsDriver::release(ConsumerCore& core) {
  core.machine.close_all(node_.now());
  run(core);
  consumers_.erase(core.id);
}

Result<std::size_t> StreamsDriver::publish(ProducerCore& core, const Bytes& payload) {
  auto queued = core.machine.publish(node_.now(), payload);
  run(core);
  if (queued.is_ok() && *queued == 0 && core.undelivered) core.undelivered(payload);
  return queued;
}

std::optional<Bytes> StreamsDriver::receive(ConsumerCore& core) {
  if (core.inbox.empty()) return std::nullopt;
  Received datum = std::move(core.inbox.front());
  core.inbox.pop_front();
  core.machine.handle_consumed(node_.now(), datum.link);
  run(core);
  return std::move(datum.payload);
}

void StreamsDriver::on_accept(env::LinkPtr link) {
  const LinkToken token = admission_.handle_accepted(node_.now(), link->remote(), link->rtt());
  accepted_.adopt(token, std::move(link));
  run_admission();
}

void StreamsDriver::run_admission() {
  in_admission_run_ = true;
  const Instant now = node_.now();
  // What it admits, credits or releases goes to the stream's producer. Both learn of a
  // producer's coming and going from this driver, in step, and a producer closes its links as
  // it goes; a credit or release that still finds none (its Subscribe was dropped at the
  // producer's input mark) has nobody to go to, and the consumer's Start timeout ends the link.
  run_machine(admission_, admission_timer_, [&](AdmissionEffect effect) {
    std::visit(Overloaded{
                   [&](effect::Close& close) { execute_link_effect(accepted_, std::move(close)); },
                   [&](effect::Deliver<Admitted>& admitted) {
                     Admitted& a = admitted.value;
                     auto core = live_producer(a.subscribe.stream);
                     if (!core) return;
                     core->machine.handle_subscribe(now, node_.wall_now(), a.link, a.peer,
                                                    a.subscribe);
                     run(*core);
                   },
                   [&](effect::Deliver<Credited>& credited) {
                     auto core = live_producer(credited.value.stream);
                     if (!core) return;
                     core->machine.handle_credit(now, credited.value.link, credited.value.n);
                     run(*core);
                   },
                   [&](effect::Deliver<Released>& released) {
                     auto core = live_producer(released.value.stream);
                     if (!core) return;
                     core->machine.handle_link_closed(now, released.value.link);
                     run(*core);
                   },
               },
               effect);
  });
  in_admission_run_ = false;
}

void StreamsDriver::run(ProducerCore& core) {
  bool closed_any = false;
  run_machine(core.machine, *core.timer, [&](ProducerEffect effect) {
    if (auto* send = std::get_if<effect::Send>(&effect)) {
      execute_link_effect(accepted_, core.machine, node_.now(), std::move(*send));
      return;
    }
    auto& close = std::get<effect::Close>(effect);
    const LinkToken link = close.link;
    execute_link_effect(accepted_, std::move(close));
    admission_.handle_producer_closed(node_.now(), link);
    closed_any = true;
  });
  if (closed_any && !in_admission_run_) run_admission();
  changed_.notify();
}

void StreamsDriver::run(ConsumerCore& core) {
  run_machine(core.machine, *core.timer, [&](ConsumerEffect effect) {
    std::visit(
        Overloaded{
            [&](effect::Connect& connect) { execute_link_effect(*core.links, connect); },
            [&](effect::Send& send) {
              execute_link_effect(*core.links, core.machine, node_.now(), std::move(send));
            },
            [&](effect::Close& close) { execute_link_effect(*core.links, std::move(close)); },
            [&](effect::Deliver<Received>& received) {
              core.inbox.push_back(std::move(received.value));
            },
            [&](SyncCatalog& sync) { discovery_.sync_with(sync.producer, [](const Status&) {}); },
        },
        effect);
  });
  changed_.notify();
}

}  // namespace smalti::streams::detail
