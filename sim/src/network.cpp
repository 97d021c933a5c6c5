#include "smalti/sim/network.hpp"

#include <algorithm>
#include <cmath>

#include "smalti/sim/trace.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::sim {

Duration LatencyModel::sample(Rng& rng) const {
  const std::int64_t lo = min.count();
  const std::int64_t mid = std::max(median.count(), lo);
  if (rng.chance(tail_probability)) {
    // Pareto with shape 1.5 above the median, capped: rare but very slow frames.
    const double u = std::max(rng.unit(), 1e-9);
    const double scaled = static_cast<double>(mid) * std::pow(u, -1.0 / 1.5);
    const double cap = static_cast<double>(std::max(tail_max.count(), mid));
    return Duration(static_cast<std::int64_t>(std::min(scaled, cap)));  // clamped before converting
  }
  return Duration(rng.between(lo, 2 * mid - lo));
}

SimNetwork::SimNetwork(World& world, Rng rng, NetworkConfig config)
    : world_(world), rng_(rng), config_(config) {
  secret_salt_ = Digest::from_u64(rng_.derive("link-secret").next_u64()).hashed();
  SMALTI_ASSERT(
      config_.idle_timeout > Duration::zero() && config_.connect_timeout > Duration::zero(),
      "network timeouts must be positive");
  SMALTI_ASSERT(config_.retransmit_timeout > Duration::zero(),
                "the retransmission timeout must be positive");
  SMALTI_ASSERT(config_.loss >= 0 && config_.loss <= 1, "loss is a probability");
  SMALTI_ASSERT(
      config_.latency.min >= Duration::zero() && config_.latency.median >= config_.latency.min,
      "latency needs 0 <= min <= median");
}

SimNetwork::~SimNetwork() {
  for (auto& [id, link] : links_) {
    for (auto& end : link.end) {
      if (auto e = end.lock()) e->detach();
    }
  }
}

// ---- faults ------------------------------------------------------------------------------

PartitionId SimNetwork::partition_one_way(const std::vector<HostId>& from,
                                          const std::vector<HostId>& to) {
  const PartitionId id = next_partition_++;
  partitions_.emplace(id, Partition{{from.begin(), from.end()}, {to.begin(), to.end()}});
  world_.record_fault("partition", id, from.size() * 1000 + to.size());
  on_reachability_changed();
  return id;
}

PartitionId SimNetwork::partition(const std::vector<HostId>& side_a,
                                  const std::vector<HostId>& side_b) {
  const PartitionId id = next_partition_++;
  // Both ways: two one-way halves, healed together.
  partitions_.emplace(id,
                      Partition{{side_a.begin(), side_a.end()}, {side_b.begin(), side_b.end()}});
  const PartitionId back = next_partition_++;
  partitions_.emplace(back,
                      Partition{{side_b.begin(), side_b.end()}, {side_a.begin(), side_a.end()}});
  pair_of_[id] = back;
  world_.record_fault("partition", id, side_a.size() * 1000 + side_b.size());
  on_reachability_changed();
  return id;
}

void SimNetwork::heal(PartitionId id) {
  if (partitions_.erase(id) == 0) return;
  if (auto back = pair_of_.find(id); back != pair_of_.end()) {
    partitions_.erase(back->second);
    pair_of_.erase(back);
  }
  world_.record_fault("heal", id, 0);
  on_reachability_changed();
}

void SimNetwork::heal_all() {
  if (partitions_.empty()) return;
  partitions_.clear();
  pair_of_.clear();
  world_.record_fault("heal", 0, 0);
  on_reachability_changed();
}

void SimNetwork::flap(const std::vector<HostId>& side_a, const std::vector<HostId>& side_b,
                      Duration period, Instant until) {
  SMALTI_ASSERT(period >= kMinFlapPeriod, "flapping faster than kMinFlapPeriod");
  // Each phase schedules the next. Only the pending event owns the chain (the closure refers to
  // itself weakly), so it is freed when the last phase ends, healed, at `until`.
  using Phase = std::function<void(bool)>;
  auto phase = std::make_shared<Phase>();
  auto current = std::make_shared<std::optional<PartitionId>>();
  *phase = [this, side_a, side_b, period, until, self = std::weak_ptr<Phase>(phase),
            current](bool cut) {
    if (*current) {
      heal(**current);
      current->reset();
    }
    if (world_.now() >= until) return;
    if (cut) *current = partition(side_a, side_b);
    const Instant next = std::min(world_.now() + period, until);
    world_.schedule(next, kWorldHost, EventKind::kFault,
                    [next_phase = self.lock(), cut] { (*next_phase)(!cut); });
  };
  (*phase)(true);
}

void SimNetwork::clog_host(HostId host, Duration duration) {
  const Instant until = world_.now() + duration;
  host_clogs_[host] = std::max(host_clogs_[host], until);
  world_.record_fault("clog.host", host, static_cast<std::uint64_t>(duration.count()));
  world_.schedule(until, kWorldHost, EventKind::kFault, [this] { on_reachability_changed(); });
}

void SimNetwork::clog_pair(HostId a, HostId b, Duration duration) {
  const Instant until = world_.now() + duration;
  auto key = std::minmax(a, b);
  pair_clogs_[key] = std::max(pair_clogs_[key], until);
  world_.record_fault("clog.pair", a * 1000ull + b, static_cast<std::uint64_t>(duration.count()));
  world_.schedule(until, kWorldHost, EventKind::kFault, [this] { on_reachability_changed(); });
}

void SimNetwork::reset_links(HostId host, std::optional<HostId> other) {
  std::vector<LinkId> victims;
  for (const auto& [id, link] : links_) {
    const bool touches = link.host[0] == host || link.host[1] == host;
    const bool with_other = !other || link.host[0] == *other || link.host[1] == *other;
    if (touches && with_other) victims.push_back(id);
  }
  world_.record_fault("reset_links", host, victims.size());
  for (LinkId id : victims) reset_link(id, "connection reset");
}

bool SimNetwork::is_blocked(HostId from, HostId to) const {
  if (from == to) return false;
  for (const auto& [id, p] : partitions_) {
    if (p.from.count(from) != 0 && p.to.count(to) != 0) return true;
  }
  return false;
}

bool SimNetwork::path_open(HostId from, HostId to) const {
  return world_.is_running(from) && world_.is_running(to) && !is_blocked(from, to);
}

Instant SimNetwork::clog_release(HostId from, HostId to) const {
  Instant release;
  if (auto it = host_clogs_.find(from); it != host_clogs_.end())
    release = std::max(release, it->second);
  if (auto it = host_clogs_.find(to); it != host_clogs_.end())
    release = std::max(release, it->second);
  if (auto it = pair_clogs_.find(std::minmax(from, to)); it != pair_clogs_.end()) {
    release = std::max(release, it->second);
  }
  return release;
}

Duration SimNetwork::one_way_delay() {
  Duration delay = config_.latency.sample(rng_);
  Duration rto = config_.retransmit_timeout;
  // Each loss costs a retransmission timeout, doubling per consecutive loss of the same packet.
  // Past the idle timeout QUIC gives up: the caller turns such a delay into a reset.
  for (int attempt = 0;
       attempt < kMaxRetransmissions && config_.loss > 0 && rng_.chance(config_.loss); ++attempt) {
    delay += rto;
    rto *= 2;
    ++stats_.frames_delayed_by_loss;
    if (delay > config_.idle_timeout) break;
  }
  return delay;
}

// ---- links -------------------------------------------------------------------------------

std::optional<HostId> SimNetwork::parse_host(const PeerAddr& addr) const {
  for (const std::string& a : addr.addresses) {
    if (a.rfind("sim:", 0) != 0) continue;
    std::uint64_t n = 0;
    bool ok = a.size() > 4;
    for (std::size_t i = 4; i < a.size() && ok; ++i) {
      ok = a[i] >= '0' && a[i] <= '9' && n < 1'000'000;
      n = n * 10 + static_cast<std::uint64_t>(a[i] - '0');
    }
    if (ok && n < world_.host_count()) return static_cast<HostId>(n);
  }
  return std::nullopt;
}

void SimNetwork::fail_connect(HostId from, std::uint32_t incarnation, Instant at, Status status,
                              env::ConnectFn done) {
  ++stats_.connects_failed;
  if (world_.incarnation(from) != incarnation || !world_.is_alive(from)) return;
  // An event of the dialer itself: held while it is paused, dropped if it crashes.
  world_.schedule(at, from, EventKind::kNetwork,
                  [this, from, status = std::move(status), done = std::move(done)] {
                    world_.record(from, "net.connect_failed",
                                  static_cast<std::uint64_t>(status.code()), 0, 0);
                    done(status);
                  });
}

void SimNetwork::connect(HostId from, const PeerAddr& addr, const std::string& alpn,
                         env::ConnectFn done) {
  const std::uint32_t inc = world_.incarnation(from);
  auto to = parse_host(addr);
  if (!to || !path_open(from, *to) || !path_open(*to, from)) {
    fail_connect(from, inc, world_.now() + config_.connect_timeout,
                 error(StatusCode::kTimeout, "handshake timed out"), std::move(done));
    return;
  }
  PendingConnect pending{
      from, inc, *to, world_.incarnation(*to), addr.id, alpn, one_way_delay() + one_way_delay()};
  // A clogged path holds the handshake until the clog ends.
  const Instant start = std::max(world_.now(), clog_release(from, *to));
  if (start + pending.handshake_rtt > world_.now() + config_.connect_timeout) {
    fail_connect(from, inc, world_.now() + config_.connect_timeout,
                 error(StatusCode::kTimeout, "handshake timed out"), std::move(done));
    return;
  }
  const Instant arrives = start + pending.handshake_rtt;
  world_.schedule(arrives, kWorldHost, EventKind::kNetwork,
                  [this, pending = std::move(pending), done = std::move(done)]() mutable {
                    finish_connect(pending, std::move(done));
                  });
}

void SimNetwork::finish_connect(const PendingConnect& pending, env::ConnectFn done) {
  const HostId from = pending.from;
  const HostId to = pending.to;
  const std::uint32_t from_inc = pending.from_incarnation;
  const std::uint32_t to_inc = pending.to_incarnation;
  const PeerId& expected = pending.expected;
  const std::string& alpn = pending.alpn;
  if (world_.incarnation(from) != from_inc || !world_.is_alive(from)) return;
  const Instant started = world_.now();
  if (world_.incarnation(to) != to_inc || !path_open(from, to) || !path_open(to, from)) {
    fail_connect(from, from_inc, started + config_.connect_timeout,
                 error(StatusCode::kTimeout, "handshake timed out"), std::move(done));
    return;
  }
  if (world_.peer_id(to) != expected) {
    fail_connect(from, from_inc, started,
                 error(StatusCode::kPermissionDenied, "remote key differs from the expected peer"),
                 std::move(done));
    return;
  }
  if (!world_.has_listener(to, alpn)) {
    fail_connect(from, from_inc, started,
                 error(StatusCode::kNotFound, "remote does not serve " + alpn), std::move(done));
    return;
  }
  const LinkId id = next_link_++;
  LinkState& link = links_[id];
  link.id = id;
  link.host[0] = from;
  link.host[1] = to;
  link.alpn = alpn;
  link.incarnation[0] = from_inc;
  link.incarnation[1] = to_inc;
  link.dir[0].last_delivery = link.dir[1].last_delivery = started;
  const env::LinkInbox::Limits hold{config_.max_unclaimed_frames, config_.max_unclaimed_bytes};
  auto dialer = std::make_shared<SimLinkEnd>(*this, id, 0, world_.peer_id(to), alpn, hold);
  auto acceptor = std::make_shared<SimLinkEnd>(*this, id, 1, world_.peer_id(from), alpn, hold);
  link.end[0] = dialer;
  link.end[1] = acceptor;
  link.rtt.add_sample(pending.handshake_rtt);
  ++stats_.links_opened;
  world_.record(to, "net.accept", id, from, trace_hash_bytes(as_bytes(alpn)));
  world_.run_on_host(to, [&] { world_.accept_link(to, alpn, acceptor); });
  world_.record(from, "net.connected", id, to, 0);
  world_.run_on_host(from, [&] { done(env::LinkPtr(dialer)); });
}

Status SimNetwork::send(LinkId id, int side, Bytes& frame) {
  auto it = links_.find(id);
  if (it == links_.end()) return error(StatusCode::kUnavailable, "link is closed");
  if (frame.size() > config_.max_frame_size) {
    return error(StatusCode::kLimitExceeded, "frame exceeds the transport's maximum size");
  }
  LinkState& link = it->second;
  Direction& d = link.dir[side];
  if (d.bytes + frame.size() + kFrameOverhead > config_.max_in_flight_bytes) {
    return error(StatusCode::kLimitExceeded, "send window full");
  }
  world_.observe_send(SentFrame{link.host[side], link.host[1 - side], id, link.alpn, frame});
  const Duration delay = one_way_delay();
  if (delay > config_.idle_timeout) {
    // Every retransmission was lost for longer than the idle timeout: the connection dies then.
    world_.schedule(world_.now() + config_.idle_timeout, kWorldHost, EventKind::kNetwork,
                    [this, id] { reset_link(id, "idle timeout: packets lost"); });
  }
  const Instant at = std::max(world_.now() + delay, d.last_delivery);
  d.last_delivery = at;
  d.bytes += frame.size() + kFrameOverhead;
  InFlight item;
  item.frame = std::move(frame);
  item.deliver_at = at;
  item.sent_at = world_.now();
  d.queue.push_back(std::move(item));
  ++stats_.frames_sent;
  if (!d.scheduled && !d.stalled) schedule_direction(link, side);
  return Status::ok();
}

void SimNetwork::close(LinkId id, int side, std::uint32_t code, std::string reason) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  LinkState& link = it->second;
  Direction& d = link.dir[side];
  // The close travels behind the data already sent, like a QUIC CONNECTION_CLOSE after the
  // stream's last bytes.
  const Instant at = std::max(world_.now() + one_way_delay(), d.last_delivery);
  d.last_delivery = at;
  InFlight item;
  item.deliver_at = at;
  item.sent_at = world_.now();
  item.is_close = true;
  item.close_code = code;
  item.close_reason = std::move(reason);
  d.queue.push_back(std::move(item));
  link.end[side].reset();
  ++stats_.links_closed;
  if (!d.scheduled && !d.stalled) schedule_direction(link, side);
}

Duration SimNetwork::rtt(LinkId id) const {
  auto it = links_.find(id);
  return it == links_.end() ? Duration(0) : it->second.rtt.srtt();
}

void SimNetwork::schedule_direction(LinkState& link, int side) {
  Direction& d = link.dir[side];
  SMALTI_ASSERT(!d.queue.empty());
  d.scheduled = true;
  const Instant at = std::max(d.queue.front().deliver_at, world_.now());
  world_.schedule(at, kWorldHost, EventKind::kNetwork,
                  [this, id = link.id, side] { deliver_head(id, side); });
}

void SimNetwork::deliver_head(LinkId id, int side) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  LinkState& link = it->second;
  Direction& d = link.dir[side];
  d.scheduled = false;
  if (d.queue.empty()) return;
  const HostId from = link.host[side];
  const HostId to = link.host[1 - side];
  const Instant clog = clog_release(from, to);
  if (!path_open(from, to) || clog > world_.now()) {
    // Stalled: kicked again by on_reachability_changed (heal, resume, clog end).
    if (!d.stalled) ++stats_.frames_stalled;
    d.stalled = true;
    return;
  }
  d.stalled = false;
  InFlight item = std::move(d.queue.front());
  d.queue.pop_front();
  d.bytes -= item.is_close ? 0 : item.frame.size() + kFrameOverhead;
  const bool was_stalled = item.stalled;
  std::shared_ptr<SimLinkEnd> receiver = link.end[1 - side].lock();
  if (item.is_close) {
    world_.record(to, "net.closed", id, item.close_code, 0);
    links_.erase(it);  // `link` is gone from here on
    if (receiver) {
      world_.run_on_host(to, [&] {
        receiver->closed(env::CloseInfo{item.close_code, item.close_reason, true});
      });
    }
    return;
  }
  // Frames that waited behind a stall say nothing about the path's round trip.
  if (!was_stalled) link.rtt.add_sample(2 * (world_.now() - item.sent_at));
  ++stats_.frames_delivered;
  stats_.bytes_delivered += item.frame.size();
  world_.record(to, "net.deliver", id, item.frame.size(), trace_hash_bytes(item.frame));
  if (!d.queue.empty()) schedule_direction(link, side);
  bool held = true;
  if (receiver) world_.run_on_host(to, [&] { held = receiver->deliver(std::move(item.frame)); });
  if (!held) reset_link(id, "receive window exceeded before a handler was set");
}

void SimNetwork::reset_link(LinkId id, const std::string& reason) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  LinkState link = std::move(it->second);
  links_.erase(it);
  ++stats_.links_reset;
  for (int side = 0; side < 2; ++side) {
    auto end = link.end[side].lock();
    const HostId host = link.host[side];
    if (!end || world_.incarnation(host) != link.incarnation[side] || !world_.is_alive(host)) {
      if (end) end->detach();
      continue;
    }
    world_.record(host, "net.reset", id, 0, 0);
    // The link is closed at once; the handler hears of it in an event of its host, so a paused
    // node learns of the reset when it resumes.
    end->mark_closed(env::CloseInfo{env::close_code::kReset, reason, false});
    world_.schedule(world_.now(), host, EventKind::kNetwork,
                    [weak = std::weak_ptr<SimLinkEnd>(end)] {
                      if (auto e = weak.lock()) e->notify_closed();
                    });
  }
}

void SimNetwork::check_idle(LinkId id, Instant blocked_since) {
  auto it = links_.find(id);
  if (it == links_.end() || it->second.blocked_since != blocked_since) return;
  reset_link(id, "idle timeout");
}

void SimNetwork::on_reachability_changed() {
  for (auto& [id, link] : links_) {
    const bool blocked =
        !path_open(link.host[0], link.host[1]) || !path_open(link.host[1], link.host[0]);
    if (blocked && !link.blocked_since) {
      link.blocked_since = world_.now();
      world_.schedule(world_.now() + config_.idle_timeout, kWorldHost, EventKind::kNetwork,
                      [this, id = id, since = world_.now()] { check_idle(id, since); });
    } else if (!blocked) {
      link.blocked_since.reset();
    }
    for (int side = 0; side < 2; ++side) {
      Direction& d = link.dir[side];
      if (d.stalled && !d.scheduled && !d.queue.empty()) {
        d.stalled = false;
        for (InFlight& item : d.queue) {
          item.deliver_at = std::max(item.deliver_at, world_.now());
          item.stalled = true;
        }
        schedule_direction(link, side);
      }
    }
  }
}

void SimNetwork::on_host_down(HostId host) {
  for (auto& [id, link] : links_) {
    for (int side = 0; side < 2; ++side) {
      if (link.host[side] != host) continue;
      if (auto end = link.end[side].lock()) end->detach();
      link.end[side].reset();
    }
  }
  on_reachability_changed();
}

void SimNetwork::on_host_restarted(HostId host) {
  // The restarted host answers packets of old connections with a stateless reset.
  std::vector<LinkId> stale;
  for (const auto& [id, link] : links_) {
    for (int side = 0; side < 2; ++side) {
      if (link.host[side] == host && link.incarnation[side] != world_.incarnation(host)) {
        stale.push_back(id);
      }
    }
  }
  for (LinkId id : stale) reset_link(id, "stateless reset: peer restarted");
  on_reachability_changed();
}

// ---- SimLinkEnd --------------------------------------------------------------------------

SimLinkEnd::~SimLinkEnd() {
  if (inbox_.open()) network_.close(id_, side_, env::close_code::kCancelled, "link dropped");
}

void SimLinkEnd::set_handler(env::LinkHandler* handler) {
  auto self = shared_from_this();  // a handler may drop the last reference while we deliver
  inbox_.set_handler(handler);
}

Status SimLinkEnd::send(Bytes&& frame) {
  if (!inbox_.open()) return error(StatusCode::kUnavailable, "link is closed");
  return network_.send(id_, side_, frame);
}

void SimLinkEnd::close(std::uint32_t code, std::string reason) {
  const bool was_open = inbox_.open();
  inbox_.close_locally();  // our own close: an end not yet reported is never reported
  if (was_open) network_.close(id_, side_, code, std::move(reason));
}

bool SimLinkEnd::deliver(Bytes frame) {
  auto self = shared_from_this();
  return inbox_.deliver(std::move(frame));
}

void SimLinkEnd::closed(const env::CloseInfo& info) {
  auto self = shared_from_this();
  inbox_.end(info);
}

void SimLinkEnd::mark_closed(const env::CloseInfo& info) {
  inbox_.end(info, /*report_now=*/false);
}

void SimLinkEnd::notify_closed() {
  auto self = shared_from_this();
  inbox_.report_end();
}

Digest SimNetwork::link_secret(LinkId link, std::string_view label) const {
  Bytes id(8);
  for (int i = 0; i < 8; ++i) id[i] = static_cast<std::uint8_t>(link >> (8 * i));
  return Digest::from_parts({secret_salt_.view(), id, as_bytes(label)});
}

}  // namespace smalti::sim
