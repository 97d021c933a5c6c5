#include "smalti/discovery/discovery.hpp"

#include "smalti/runtime/detail/link_effects.hpp"

namespace smalti::discovery {

// Link RTT samples are taken at most this often per link.
static constexpr Duration kLinkRttSamplePeriod = 1s;

std::optional<EventOrLag> EventStream::try_next() {
  return discovery_->events_.read(cursor_);
}

Task<EventOrLag> EventStream::next() {
  while (true) {
    if (auto event = try_next()) co_return std::move(*event);
    Discovery* d = discovery_;
    const std::uint64_t* cursor = &cursor_;
    co_await Condition(d->event_signal_, d->node_.clock(),
                       [d, cursor] { return *cursor != d->events_.end(); });
  }
}

Discovery::Discovery(Node& node, ping::PingService& ping, Config config)
    : node_(node),
      ping_(ping),
      machine_(std::move(config), node.secret_key(), node.addr(),
               node.make_rng("discovery").next_u64()),
      links_(node,
             LinkTable::Callbacks{
                 .on_connected =
                     [this](LinkToken t) {
                       machine_.handle_connected(node_.now(), node_.wall_now(), t);
                       run_effects();
                     },
                 .on_down =
                     [this](LinkToken t, const env::CloseInfo&) {
                       last_rtt_sample_.erase(t);
                       link_peers_.erase(t);
                       machine_.handle_link_closed(node_.now(), node_.wall_now(), t);
                       run_effects();
                     },
                 .on_frame = [this](LinkToken t, Bytes frame) { on_frame(t, std::move(frame)); },
             }),
      timer_(node.executor(),
             [this] {
               machine_.handle_timeout(node_.now(), node_.wall_now());
               run_effects();
             }),
      events_(config.events_backlog),
      changed_(node.executor()),
      event_signal_(node.executor()),
      alive_(std::make_shared<Discovery*>(this)) {
  machine_.set_buggify(node.buggify_fn());
}

Discovery::~Discovery() {
  *alive_ = nullptr;
  if (departure_timer_) node_.executor().cancel(*departure_timer_);
}

Status Discovery::start() {
  SMALTI_RETURN_IF_ERROR(node_.serve(kAnnounceAlpn, [this](env::LinkPtr link) {
    on_accept(Channel::kAnnounce, std::move(link));
  }));
  SMALTI_RETURN_IF_ERROR(node_.serve(
      kSyncAlpn, [this](env::LinkPtr link) { on_accept(Channel::kSync, std::move(link)); }));
  machine_.start(node_.now(), node_.wall_now());
  run_effects();
  return Status::ok();
}

void Discovery::on_accept(Channel channel, env::LinkPtr link) {
  const PeerId remote = link->remote();
  auto token = machine_.handle_accepted(node_.now(), node_.wall_now(), remote, channel);
  if (!token) {
    link->close(env::close_code::kGracefulShutdown, "discovery is not taking more links");
    return;
  }
  link_peers_[*token] = remote;
  links_.adopt(*token, std::move(link));
  run_effects();
}

void Discovery::on_frame(LinkToken token, Bytes frame) {
  node_.trace("discovery.frame", token, frame.size());
  machine_.handle_frame(node_.now(), node_.wall_now(), token, frame);
  sample_link_rtt(token);
  run_effects();
}

void Discovery::sample_link_rtt(LinkToken token) {
  const Duration rtt = links_.rtt(token);
  auto peer = link_peers_.find(token);
  if (rtt <= Duration::zero() || peer == link_peers_.end()) return;
  const Instant now = node_.now();
  auto [last, first] = last_rtt_sample_.try_emplace(token, now);
  if (!first && now - last->second < kLinkRttSamplePeriod) return;
  last->second = now;
  machine_.handle_rtt_sample(now, peer->second, rtt);
}

void Discovery::run_effects() {
  run_machine(machine_, timer_, [this](Effect&& effect) { execute(effect); });
  if (machine_.catalog_version() != seen_version_) {
    seen_version_ = machine_.catalog_version();
    changed_.notify();
  }
}

void Discovery::execute(Effect& effect) {
  if (auto* send = std::get_if<effect::Send>(&effect)) {
    execute_link_effect(links_, machine_, node_.now(), std::move(*send));
  } else if (auto* connect = std::get_if<effect::Connect>(&effect)) {
    link_peers_[connect->link] = connect->addr.id;
    execute_link_effect(links_, *connect);
  } else if (auto* close = std::get_if<effect::Close>(&effect)) {
    node_.trace("discovery.close", close->link, close->code);
    last_rtt_sample_.erase(close->link);
    link_peers_.erase(close->link);
    execute_link_effect(links_, std::move(*close));
  } else if (auto* probe = std::get_if<Probe>(&effect)) {
    const PeerId peer = probe->addr.id;
    ping_.ping(probe->addr, [alive = std::weak_ptr<Discovery*>(alive_), peer](Result<Duration> r) {
      auto d = alive.lock();
      if (!d || !*d || !r.is_ok()) return;
      (*d)->machine_.handle_rtt_sample((*d)->node_.now(), peer, *r);
      (*d)->run_effects();
    });
  } else if (auto* deliver = std::get_if<effect::Deliver<Event>>(&effect)) {
    events_.push(std::move(deliver->value));
    event_signal_.notify();
  } else if (auto* done = std::get_if<SyncDone>(&effect)) {
    auto waiter = sync_waiters_.find(done->id);
    if (waiter == sync_waiters_.end()) return;
    node_.executor().post([alive = std::weak_ptr<Discovery*>(alive_),
                           cb = std::move(waiter->second), status = done->status]() {
      auto d = alive.lock();
      if (d && *d) cb(status);
    });
    sync_waiters_.erase(waiter);
  }
}

bool Discovery::visible(const PeerEntry& entry) const {
  return machine_.within_max_rtt(entry.id());
}

std::vector<PeerEntry> Discovery::signed_peers() const {
  std::vector<PeerEntry> out;
  const WallTime wall = node_.wall_now();
  for (const auto& [id, e] : catalog().signed_entries()) {
    if (!catalog().is_stale(wall, e.entry)) out.push_back(e.entry);
  }
  return out;
}

std::vector<PeerEntry> Discovery::peers() const {
  std::vector<PeerEntry> out;
  for (PeerEntry& e : signed_peers()) {
    if (visible(e)) out.push_back(std::move(e));
  }
  for (const auto& [id, e] : catalog().unsigned_entries()) {
    if (visible(e)) out.push_back(e);
  }
  return out;
}

std::optional<PeerEntry> Discovery::get(const PeerId& peer) const {
  if (!machine_.within_max_rtt(peer)) return std::nullopt;
  if (const SignedPeerEntry* e = catalog().get_signed(peer)) {
    if (!catalog().is_stale(node_.wall_now(), e->entry)) return e->entry;
  }
  auto u = catalog().unsigned_entries().find(peer);
  if (u != catalog().unsigned_entries().end()) return u->second;
  return std::nullopt;
}

std::size_t Discovery::signed_peers_count() const {
  std::size_t n = 0;
  const WallTime wall = node_.wall_now();
  for (const auto& [id, e] : catalog().signed_entries()) n += !catalog().is_stale(wall, e.entry);
  return n;
}

std::size_t Discovery::peers_count() const {
  return signed_peers_count() + catalog().unsigned_entries().size();
}

void Discovery::dial(const std::vector<PeerAddr>& peers) {
  machine_.dial(node_.now(), node_.wall_now(), peers);
  run_effects();
}

void Discovery::sync_with(const PeerAddr& peer, std::function<void(Status)> done) {
  const SyncId id = machine_.sync_with(node_.now(), node_.wall_now(), peer);
  sync_waiters_.emplace(id, std::move(done));
  run_effects();
}

CallbackAwaiter<Status> Discovery::sync_with(const PeerAddr& peer) {
  return await_callback<Status>(
      [this, peer](std::function<void(Status)> done) { sync_with(peer, std::move(done)); });
}

bool Discovery::feed(const SignedPeerEntry& entry) {
  auto outcome = machine_.feed(node_.now(), node_.wall_now(), entry);
  run_effects();
  return outcome.is_ok() && *outcome != Upsert::kNotNewer;
}

bool Discovery::insert(const PeerEntry& entry) {
  const bool inserted = machine_.insert(entry);
  run_effects();
  return inserted;
}

bool Discovery::remove(const PeerId& peer) {
  const bool removed = machine_.remove(peer);
  run_effects();
  return removed;
}

void Discovery::clear_unsigned() {
  machine_.clear_unsigned();
  run_effects();
}

void Discovery::record_rtt(const PeerId& peer, Duration rtt) {
  machine_.handle_rtt_sample(node_.now(), peer, rtt);
}

void Discovery::add_tags(const std::set<Tag>& tags) {
  change_local([&](PeerEntry& e) { e.tags.insert(tags.begin(), tags.end()); });
}

void Discovery::remove_tags(const std::set<Tag>& tags) {
  change_local([&](PeerEntry& e) {
    for (const Tag& t : tags) e.tags.erase(t);
  });
}

void Discovery::add_ticket(const Ticket& ticket) {
  change_local([&](PeerEntry& e) { e.tickets[ticket.id()] = ticket; });
}

void Discovery::remove_ticket(const UniqueId& ticket_id) {
  change_local([&](PeerEntry& e) { e.tickets.erase(ticket_id); });
}

void Discovery::remove_tickets_of(const UniqueId& ticket_class) {
  change_local([&](PeerEntry& e) {
    std::erase_if(e.tickets,
                  [&](const auto& kv) { return kv.second.ticket_class == ticket_class; });
  });
}

void Discovery::replace_ticket(const Ticket& ticket) {
  change_local([&](PeerEntry& e) {
    std::erase_if(e.tickets,
                  [&](const auto& kv) { return kv.second.ticket_class == ticket.ticket_class; });
    e.tickets[ticket.id()] = ticket;
  });
}

void Discovery::add_streams(const std::set<Digest>& streams) {
  change_local([&](PeerEntry& e) { e.streams.insert(streams.begin(), streams.end()); });
}

void Discovery::remove_streams(const std::set<Digest>& streams) {
  change_local([&](PeerEntry& e) {
    for (const Digest& s : streams) e.streams.erase(s);
  });
}

void Discovery::add_groups(const std::set<Digest>& groups) {
  change_local([&](PeerEntry& e) { e.groups.insert(groups.begin(), groups.end()); });
}

void Discovery::remove_groups(const std::set<Digest>& groups) {
  change_local([&](PeerEntry& e) {
    for (const Digest& g : groups) e.groups.erase(g);
  });
}

void Discovery::depart(std::function<void()> done) {
  machine_.depart(node_.now(), node_.wall_now());
  run_effects();
  if (departure_timer_) node_.executor().cancel(*departure_timer_);
  departure_timer_ = node_.executor().schedule_at(
      node_.now() + config().graceful_departure_window,
      [alive = std::weak_ptr<Discovery*>(alive_), done = std::move(done)] {
        auto d = alive.lock();
        if (!d || !*d) return;
        (*d)->departure_timer_.reset();
        (*d)->links_.close_all(env::close_code::kGracefulShutdown, "departed");
        done();
      });
}

CallbackAwaiter<bool> Discovery::depart() {
  return await_callback<bool>(
      [this](std::function<void(bool)> done) { depart([done = std::move(done)] { done(true); }); });
}

Condition Discovery::When::peers_at_least(std::size_t n) const {
  Discovery* d = &d_;
  return Condition(d->changed_, d->node_.clock(), [d, n] { return d->peers_count() >= n; });
}

Condition Discovery::When::tagged_at_least(const Tag& tag, std::size_t n) const {
  Discovery* d = &d_;
  return Condition(d->changed_, d->node_.clock(), [d, tag, n] {
    std::size_t count = 0;
    for (const PeerEntry& e : d->signed_peers()) count += e.tags.count(tag);
    return count >= n;
  });
}

Condition Discovery::When::knows(const PeerId& peer) const {
  Discovery* d = &d_;
  return Condition(d->changed_, d->node_.clock(), [d, peer] {
    const SignedPeerEntry* e = d->catalog().get_signed(peer);
    return e && !d->catalog().is_stale(d->node_.wall_now(), e->entry);
  });
}

Condition Discovery::When::forgot(const PeerId& peer) const {
  Discovery* d = &d_;
  return Condition(d->changed_, d->node_.clock(), [d, peer] {
    const SignedPeerEntry* e = d->catalog().get_signed(peer);
    return (!e || d->catalog().is_stale(d->node_.wall_now(), e->entry)) &&
           !d->catalog().unsigned_entries().count(peer);
  });
}

Condition Discovery::When::changed_since(std::uint64_t version) const {
  Discovery* d = &d_;
  return Condition(d->changed_, d->node_.clock(),
                   [d, version] { return d->catalog_version() != version; });
}

}  // namespace smalti::discovery
