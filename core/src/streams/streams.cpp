#include "smalti/streams/streams.hpp"

namespace smalti::streams {

// The last handle is gone: withdraw the producer (or consumer) from the network.
ProducerCore::~ProducerCore() {
  if (streams) streams->release(*this);
}

ConsumerCore::~ConsumerCore() {
  if (streams) streams->release(*this);
}

Streams::Streams(Node& node, discovery::Discovery& discovery)
    : node_(node),
      discovery_(discovery),
      links_(node,
             LinkTable::Callbacks{
                 .on_connected = [this](LinkToken t) { on_connected(t); },
                 .on_down =
                     [this](LinkToken t, const env::CloseInfo& info) {
                       close_info_[t] = info;
                       on_down(t);
                     },
                 .on_frame = [this](LinkToken t, Bytes frame) { on_frame(t, std::move(frame)); },
             }),
      changed_(node.executor()),
      alive_(std::make_shared<Streams*>(this)) {}

Streams::~Streams() {
  *alive_ = nullptr;
  // Handles that outlive us must not call back.
  for (auto& [stream, weak] : producers_) {
    if (auto core = weak.lock()) core->streams = nullptr;
  }
  for (auto& [id, weak] : consumers_) {
    if (auto core = weak.lock()) core->streams = nullptr;
  }
}

Status Streams::start() {
  SMALTI_RETURN_IF_ERROR(
      node_.serve(kAlpn, [this](env::LinkPtr link) { on_accept(std::move(link)); }));
  watch_catalog();
  return Status::ok();
}

void Streams::watch_catalog() {
  const std::uint64_t seen = discovery_.catalog_version();
  catalog_watch_ = discovery_.when().changed_since(seen).on_met([this] {
    refresh_consumers();
    // Producers re-check their subscribers' eligibility (require) on every catalog change.
    for (auto& [stream, weak] : producers_) {
      auto core = weak.lock();
      if (!core || !core->machine.config().require) continue;
      core->machine.reevaluate([&](const PeerId& peer) {
        auto entry = discovery_.get(peer);
        PeerInfo info{peer, entry ? &*entry : nullptr, discovery_.rtt(peer)};
        return core->machine.config().require(info);
      });
      run(*core);
    }
    watch_catalog();
  });
}

std::vector<ProducerCandidate> Streams::candidates(
    const StreamId& stream, std::vector<discovery::PeerEntry>& storage) const {
  storage = discovery_.peers();
  std::vector<ProducerCandidate> out;
  for (const discovery::PeerEntry& e : storage) {
    if (!e.streams.count(stream)) continue;
    out.push_back(ProducerCandidate{e.address, PeerInfo{e.id(), &e, discovery_.rtt(e.id())}});
  }
  return out;
}

void Streams::refresh_consumers() {
  for (auto& [id, weak] : consumers_) {
    if (auto core = weak.lock()) refresh(*core);
  }
}

void Streams::refresh(ConsumerCore& core) {
  std::vector<discovery::PeerEntry> storage;
  core.ticket_expiry = core.machine.handle_producers(
      node_.now(), node_.wall_now(), candidates(core.machine.config().stream, storage));
  run(core);
}

Instant Streams::deadline_for(WallTime at) const {
  if (at == WallTime::max()) return Instant::max();
  const Duration left = at - node_.wall_now();
  return node_.now() + std::max(left, Duration::zero());
}

std::shared_ptr<ProducerCore> Streams::producer_core(ProducerConfig config, std::size_t online_min,
                                                     std::function<void(const Bytes&)> undelivered,
                                                     bool* existed) {
  auto it = producers_.find(config.stream);
  if (it != producers_.end()) {
    if (auto core = it->second.lock()) {
      if (existed) *existed = true;
      return core;
    }
  }
  if (existed) *existed = false;
  const StreamId stream = config.stream;
  auto core = std::make_shared<ProducerCore>(std::move(config));
  core->streams = this;
  core->online_min = online_min;
  core->undelivered = std::move(undelivered);
  ProducerCore* raw = core.get();
  core->expiry_timer = std::make_unique<DeadlineTimer>(node_.executor(), [this, raw] {
    raw->machine.handle_wall_time(node_.wall_now());
    run(*raw);
  });
  producers_[stream] = core;
  discovery_.add_streams({stream});
  return core;
}

std::shared_ptr<ConsumerCore> Streams::consumer_core(ConsumerConfig config,
                                                     std::size_t online_min) {
  const std::uint64_t id = next_consumer_++;
  auto core = std::make_shared<ConsumerCore>(
      std::move(config), node_.make_rng("streams.consumer").derive_seed("c", id));
  core->streams = this;
  core->id = id;
  core->online_min = online_min;
  consumers_[id] = core;
  consumer_timers_[id] = std::make_unique<DeadlineTimer>(node_.executor(), [this, id] {
    auto it = consumers_.find(id);
    if (it == consumers_.end()) return;
    if (auto c = it->second.lock()) {
      c->machine.handle_timeout(node_.now());
      // A producer's ticket expired: it is no longer eligible.
      if (node_.wall_now() >= c->ticket_expiry) {
        refresh(*c);
      } else {
        run(*c);
      }
    }
  });
  refresh(*core);
  return core;
}

void Streams::release(ProducerCore& core) {
  const StreamId stream = core.machine.config().stream;
  core.machine.close_all(env::close_code::kGracefulShutdown, "producer dropped");
  run(core);
  producers_.erase(stream);
  // Unlike mosaik, a stream nobody produces any more leaves the node's entry.
  discovery_.remove_streams({stream});
}

void Streams::release(ConsumerCore& core) {
  core.machine.close_all();
  run(core);
  consumers_.erase(core.id);
  consumer_timers_.erase(core.id);
}

Status Streams::publish(ProducerCore& core, const Bytes& payload) {
  if (core.machine.subscribers() < core.online_min) {
    return error(StatusCode::kUnavailable, "producer offline");
  }
  const std::size_t queued = core.machine.publish(payload);
  if (queued == 0 && core.undelivered) core.undelivered(payload);
  run(core);
  return Status::ok();
}

std::optional<Bytes> Streams::receive(ConsumerCore& core) {
  auto payload = core.machine.pop();
  if (payload) run(core);
  return payload;
}

void Streams::on_accept(env::LinkPtr link) {
  const LinkToken token = next_token_++;
  routes_[token] = Route{.producer = true};
  links_.adopt(token, std::move(link));
}

void Streams::on_connected(LinkToken token) {
  auto route = routes_.find(token);
  if (route == routes_.end() || route->second.producer) return;
  auto it = consumers_.find(route->second.consumer);
  auto core = it == consumers_.end() ? nullptr : it->second.lock();
  if (!core) return;
  core->machine.handle_connected(node_.now(), route->second.machine_link);
  run(*core);
}

void Streams::on_frame(LinkToken token, Bytes frame) {
  auto route_it = routes_.find(token);
  if (route_it == routes_.end()) return;
  Route& route = route_it->second;
  if (!route.producer) {
    auto it = consumers_.find(route.consumer);
    auto core = it == consumers_.end() ? nullptr : it->second.lock();
    if (!core) return;
    core->machine.handle_frame(node_.now(), route.machine_link, frame);
    run(*core);
    changed_.notify();
    return;
  }
  auto message = decode_message(frame);
  if (!message.is_ok()) {
    routes_.erase(route_it);
    links_.close(token, env::close_code::kProtocolViolation, message.status().message());
    return;
  }
  if (!route.subscribed) {
    auto* subscribe = std::get_if<Subscribe>(&*message);
    std::uint32_t refuse = 0;
    std::string why;
    auto producer = subscribe ? producers_.find(subscribe->stream) : producers_.end();
    auto core = producer == producers_.end() ? nullptr : producer->second.lock();
    if (!subscribe) {
      refuse = env::close_code::kProtocolViolation, why = "expected Subscribe";
    } else if (subscribe->network != discovery_.config().network) {
      refuse = stream_close::kDifferentNetwork, why = "DifferentNetwork";
    } else if (!core) {
      refuse = stream_close::kStreamNotFound, why = "StreamNotFound";
    }
    const PeerId peer = links_.remote(token).value_or(PeerId{});
    auto entry = discovery_.get(peer);
    if (refuse == 0 && !entry) refuse = stream_close::kUnknownPeer, why = "UnknownPeer";
    if (refuse != 0) {
      routes_.erase(route_it);
      links_.close(token, refuse, why);
      return;
    }
    route.subscribed = true;
    route.stream = subscribe->stream;
    core->machine.handle_subscribe(node_.now(), node_.wall_now(), token,
                                   PeerInfo{peer, &*entry, discovery_.rtt(peer)}, *subscribe);
    run(*core);
    changed_.notify();
    return;
  }
  auto producer = producers_.find(route.stream);
  auto core = producer == producers_.end() ? nullptr : producer->second.lock();
  if (!core) return;
  if (auto* credit = std::get_if<Credit>(&*message)) {
    core->machine.handle_credit(token, credit->n);
    run(*core);
  } else {
    routes_.erase(route_it);
    core->machine.handle_closed(token);
    links_.close(token, env::close_code::kProtocolViolation, "unexpected message from a consumer");
  }
}

void Streams::on_down(LinkToken token) {
  auto route_it = routes_.find(token);
  env::CloseInfo info = close_info_[token];
  close_info_.erase(token);
  if (route_it == routes_.end()) return;
  const Route route = route_it->second;
  routes_.erase(route_it);
  if (route.producer) {
    auto producer = producers_.find(route.stream);
    if (auto core = producer == producers_.end() ? nullptr : producer->second.lock()) {
      core->machine.handle_closed(token);
    }
  } else {
    auto it = consumers_.find(route.consumer);
    if (auto core = it == consumers_.end() ? nullptr : it->second.lock()) {
      // The producer does not know us yet: exchange catalogs with it before the retry.
      if (info.code == stream_close::kUnknownPeer) {
        if (auto producer = core->machine.producer_of(route.machine_link)) {
          discovery_.sync_with(*producer, [](Status) {});
        }
      }
      core->machine.handle_closed(node_.now(), route.machine_link, info);
      core->to_service.erase(route.machine_link);
      run(*core);
    }
  }
  changed_.notify();
}

void Streams::run(ProducerCore& core) {
  while (auto effect = core.machine.poll_effect()) {
    if (auto* send = std::get_if<effect::Send>(&*effect)) {
      (void)links_.send(send->link, std::move(send->frame));
    } else if (auto* close = std::get_if<effect::Close>(&*effect)) {
      routes_.erase(close->link);
      links_.close(close->link, close->code, std::move(close->reason));
    }
  }
  core.machine.invariants();
  if (core.expiry_timer) core.expiry_timer->arm(deadline_for(core.machine.next_expiry()));
}

void Streams::run(ConsumerCore& core) {
  while (auto effect = core.machine.poll_effect()) {
    if (auto* connect = std::get_if<effect::Connect>(&*effect)) {
      const LinkToken token = next_token_++;
      routes_[token] = Route{.producer = false, .consumer = core.id, .machine_link = connect->link};
      core.to_service[connect->link] = token;
      links_.connect(token, connect->addr, kAlpn);
    } else if (auto* send = std::get_if<effect::Send>(&*effect)) {
      auto t = core.to_service.find(send->link);
      if (t != core.to_service.end()) (void)links_.send(t->second, std::move(send->frame));
    } else if (auto* close = std::get_if<effect::Close>(&*effect)) {
      auto t = core.to_service.find(close->link);
      if (t == core.to_service.end()) continue;
      routes_.erase(t->second);
      links_.close(t->second, close->code, std::move(close->reason));
      core.to_service.erase(t);
    }
  }
  core.machine.invariants();
  if (auto timer = consumer_timers_.find(core.id); timer != consumer_timers_.end()) {
    timer->second->arm(std::min(core.machine.next_deadline(), deadline_for(core.ticket_expiry)));
  }
  changed_.notify();
}

}  // namespace smalti::streams
