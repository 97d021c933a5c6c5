#include "smalti/streams/consumer_machine.hpp"

#include <algorithm>
#include <string>

#include "smalti/base/assert.hpp"

namespace smalti::streams {
namespace {

bool is_final(std::uint32_t code) {
  return code == stream_close::kNotAllowed || code == stream_close::kStreamNotFound ||
         code == stream_close::kDifferentNetwork || code == env::close_code::kGracefulShutdown ||
         code == env::close_code::kProtocolViolation;
}

}  // namespace

Status validate(const ConsumerConfig& config) {
  if (config.buffer_size == 0 || config.buffer_size > kMaxBufferSize) {
    return error(StatusCode::kInvalidArgument,
                 "buffer_size must be in [1, " + std::to_string(kMaxBufferSize) + "]");
  }
  if (config.max_producers == 0 || config.max_producers > kMaxProducers) {
    return error(StatusCode::kInvalidArgument,
                 "max_producers must be in [1, " + std::to_string(kMaxProducers) + "]");
  }
  const Backoff& b = config.backoff;
  if (b.initial <= Duration::zero() || b.max < b.initial || !(b.multiplier >= 1.0) ||
      b.multiplier > 16.0) {
    return error(StatusCode::kInvalidArgument,
                 "backoff needs initial > 0, max >= initial and a multiplier in [1, 16]");
  }
  for (const auto& validator : config.tickets) {
    if (!validator) return error(StatusCode::kInvalidArgument, "a null ticket validator");
  }
  if (config.max_pending_effects != 0 && config.max_pending_effects < effect_limit_for(config)) {
    return error(StatusCode::kInvalidArgument, "max_pending_effects below what one input makes");
  }
  return Status::ok();
}

std::size_t effect_limit_for(const ConsumerConfig& config) {
  // A catalog change closes every channel that went and opens as many new ones; a timeout and
  // close_all make at most one effect per channel; a frame, a close or a refusal at most two.
  const std::size_t most = 2 * config.max_producers + 2;
  return 2 * most + 4;
}

ConsumerMachine::ConsumerMachine(ConsumerConfig config, std::uint64_t seed, Instant start)
    : MachineBase(start, config.max_pending_effects != 0 ? config.max_pending_effects
                                                         : effect_limit_for(config)),
      config_(std::move(config)),
      rng_(seed) {
  SMALTI_ASSERT(validate(config_).is_ok(), "an invalid consumer configuration");
}

std::uint64_t ConsumerMachine::window() const {
  return config_.buffer_size;
}

void ConsumerMachine::handle_producers(Instant now, WallTime wall,
                                       const std::vector<ProducerCandidate>& candidates) {
  advance(now, wall);
  struct Eligible {
    const ProducerCandidate* candidate;
    WallTime expires;
  };
  std::map<PeerId, Eligible> eligible;
  for (const ProducerCandidate& c : candidates) {
    if (config_.require && !config_.require(c.peer.info())) continue;
    WallTime expires = WallTime::max();
    if (!config_.tickets.empty()) {
      if (!c.peer.entry) continue;
      auto valid = tickets::validate_tickets(*c.peer.entry, config_.tickets, wall);
      if (!valid.is_ok()) continue;
      expires = *valid;
    }
    eligible.emplace(c.addr.id, Eligible{&c, expires});
  }
  // Producers that left the catalog or stopped qualifying are dropped.
  std::vector<PeerId> gone;
  for (const auto& [id, channel] : channels_) {
    if (!eligible.count(id)) gone.push_back(id);
  }
  for (const PeerId& id : gone)
    drop(id, channels_.at(id), env::close_code::kCancelled, "not eligible");
  // New ones are subscribed to; those that refused for good get another chance now.
  for (const auto& [id, e] : eligible) {
    auto it = channels_.find(id);
    if (it == channels_.end()) {
      if (channels_.size() >= config_.max_producers) continue;
      it = channels_.emplace(id, Channel{}).first;
    } else if (it->second.state != ChannelState::kTerminated) {
      it->second.expires = e.expires;  // a renewed ticket extends it
      if (!restarted_while_away(it->second, *e.candidate)) continue;
      // The producer's process restarted while this channel was not subscribed to it: the
      // backoff grown against the old process and a connect still waiting on it are stale
      // (BUGGIFY found a consumer that kept waiting out a connect timeout for a producer that had
      // long been back). Start over against the new process now.
      Channel& stale = it->second;
      if (stale.link != 0) {
        emit(effect::Close{stale.link, env::close_code::kCancelled, "the producer restarted"});
        links_.erase(stale.link);
        stale.link = 0;
      }
    }
    Channel& c = it->second;
    c.addr = e.candidate->addr;
    c.peer = e.candidate->peer;
    c.expires = e.expires;
    c.delay = config_.backoff.initial;
    open(now, id, c);
  }
  for (auto& [id, c] : channels_) c.expires_at = deadline_for(c.expires);
  note_connected(now);
}

bool ConsumerMachine::restarted_while_away(const Channel& channel,
                                           const ProducerCandidate& candidate) {
  const bool away = channel.state == ChannelState::kWaiting ||
                    (channel.state == ChannelState::kConnecting && !channel.subscribed &&
                     !channel.subscribe_pending);
  if (!away || !channel.peer.entry || !candidate.peer.entry) return false;
  return candidate.peer.entry->version.start_ms > channel.peer.entry->version.start_ms;
}

void ConsumerMachine::open(Instant now, const PeerId& producer, Channel& channel) {
  channel.state = ChannelState::kConnecting;
  channel.link = next_link_++;
  channel.retry_at = Instant::max();
  channel.subscribed = false;
  channel.subscribe_pending = false;
  channel.resend_at = Instant::max();
  channel.resend = SendBackoff{};
  channel.start_by = Instant::max();
  channel.outstanding = channel.held = channel.to_return = 0;
  channel.connected_since = now;
  links_[channel.link] = producer;
  emit(effect::Connect{channel.link, channel.addr, kAlpn});
}

ConsumerMachine::Channel* ConsumerMachine::by_link(LinkToken link) {
  auto it = links_.find(link);
  if (it == links_.end()) return nullptr;
  auto c = channels_.find(it->second);
  return c == channels_.end() ? nullptr : &c->second;
}

void ConsumerMachine::handle_connected(Instant now, LinkToken link) {
  advance(now);
  Channel* c = by_link(link);
  if (!c || c->state != ChannelState::kConnecting || c->subscribed || c->subscribe_pending) return;
  subscribe(*c);
  c->start_by = now + kStartTimeout;
}

void ConsumerMachine::subscribe(Channel& channel) {
  const auto credits = static_cast<std::uint32_t>(window());
  channel.subscribed = true;
  channel.outstanding = credits;
  channel.resend.sent();
  emit(effect::Send{channel.link,
                    encode(Message{Subscribe{config_.network, config_.stream, credits}})});
}

void ConsumerMachine::handle_frame(Instant now, LinkToken link, ByteView frame) {
  advance(now);
  Channel* c = by_link(link);
  if (!c) return;  // closed by us; the frame was already on its way
  auto message = decode_message(frame);
  if (!admit_peer_input()) {
    // As a lost message: a datum is gone but its credit comes back; a lost Start is recovered
    // by the Start timeout.
    if (message.is_ok() && std::holds_alternative<Datum>(*message) &&
        c->state == ChannelState::kConnected && c->outstanding > 0) {
      --c->outstanding;
      ++c->to_return;
      if (c->resend_at == Instant::max()) c->resend_at = now + kSendRetryMin;
    }
    return;
  }
  if (!message.is_ok()) return violation(now, *c, "undecodable streams frame");
  if (const auto* start = std::get_if<Start>(&*message)) {
    if (c->state != ChannelState::kConnecting || !c->subscribed) {
      return violation(now, *c, "unexpected Start");
    }
    if (start->network != config_.network || start->stream != config_.stream) {
      return violation(now, *c, "Start for another network or stream");
    }
    c->state = ChannelState::kConnected;
    c->start_by = Instant::max();
    c->connected_since = now;
    note_connected(now);
    return;
  }
  auto* datum = std::get_if<Datum>(&*message);
  if (!datum || c->state != ChannelState::kConnected) {
    return violation(now, *c, "unexpected message");
  }
  if (c->outstanding == 0) return violation(now, *c, "datum beyond the granted credits");
  if (fire(config_.buggify, "streams.consumer_reconnect")) {
    // Fault point: the link resets under this datum (lost with it); the consumer reconnects
    // after its backoff, as after any link that ends.
    emit(effect::Close{c->link, env::close_code::kCancelled, "link reset"});
    fail(now, *c, true);
    note_connected(now);
    return;
  }
  --c->outstanding;
  ++c->held;
  ++c->datums;
  c->bytes += datum->payload.size();
  ++datums_;
  bytes_ += datum->payload.size();
  c->resend.reset();                   // the link moves
  c->delay = config_.backoff.initial;  // data flows: the next failure starts the backoff afresh
  emit(effect::Deliver<Received>{Received{link, links_.at(link), std::move(datum->payload)}});
}

void ConsumerMachine::violation(Instant now, Channel& channel, const char* why) {
  emit(effect::Close{channel.link, env::close_code::kProtocolViolation, why});
  fail(now, channel, false);
  note_connected(now);
}

void ConsumerMachine::handle_consumed(Instant now, LinkToken link) {
  advance(now);
  Channel* c = by_link(link);
  // A datum of an earlier link returns no credit to the current one, which was granted its
  // own full window: that keeps what waits for the application within a window per link.
  if (!c || c->held == 0) return;
  --c->held;
  ++c->to_return;
  // Credits go back in batches of half a window, so small datums do not cost a frame each; not
  // while a refused send waits for its retry, which takes them along.
  if (c->to_return < std::max<std::uint64_t>(1, window() / 2) || c->resend_at != Instant::max()) {
    return;
  }
  // Fault point: the consumer is slow to hand back its credits; they go at the retry.
  if (room_for_input() && !fire(config_.buggify, "streams.delay_credits")) {
    return_credits(*c);
  } else {
    c->resend_at = now + kSendRetryMin;
  }
}

void ConsumerMachine::return_credits(Channel& channel) {
  const auto n = static_cast<std::uint32_t>(channel.to_return);
  channel.resend.sent();
  emit(effect::Send{channel.link, encode(Message{Credit{n}})});
  channel.outstanding += n;
  channel.to_return = 0;
}

void ConsumerMachine::handle_link_closed(Instant now, LinkToken link, const env::CloseInfo& info) {
  advance(now);
  Channel* c = by_link(link);
  if (!c) return;
  const PeerAddr producer = c->addr;
  fail(now, *c, !is_final(info.code));
  // The producer does not know us yet: exchange catalogs with it before the retry.
  if (info.code == stream_close::kUnknownPeer) emit(SyncCatalog{producer});
  note_connected(now);
}

void ConsumerMachine::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                          const Status& why) {
  advance(now);
  Channel* c = by_link(link);
  if (!c) return;
  if (why.code() != StatusCode::kLimitExceeded) {
    // The link has ended and we have not heard yet: open a new one after the backoff.
    emit(effect::Close{link, env::close_code::kCancelled, "the link had ended"});
    fail(now, *c, true);
    note_connected(now);
    return;
  }
  auto message = decode_message(frame);
  if (!message.is_ok()) return;
  if (std::holds_alternative<Subscribe>(*message)) {
    c->subscribed = false;
    c->outstanding = 0;
    c->subscribe_pending = true;
    c->start_by = Instant::max();
  } else if (const auto* credit = std::get_if<Credit>(&*message)) {
    // Not granted after all: owed again, and sent at the retry.
    const std::uint64_t n = std::min<std::uint64_t>(credit->n, c->outstanding);
    c->outstanding -= n;
    c->to_return += n;
  } else {
    return;
  }
  // Sends still queued behind it will be tried; any other since the last refusal went out, and
  // then this refusal starts a new run.
  std::uint64_t untried = 0;
  for (const auto& e : effects().items()) {
    const auto* send = std::get_if<effect::Send>(&e);
    untried += send != nullptr && send->link == link;
  }
  const Duration wait = c->resend.refused(untried);
  if (c->resend.stuck()) {
    emit(effect::Close{link, env::close_code::kCancelled, "the link refuses every send"});
    fail(now, *c, true);
    note_connected(now);
    return;
  }
  c->resend_at = now + wait;
}

void ConsumerMachine::handle_timeout(Instant now, WallTime wall) {
  advance(now, wall);
  for (auto& [id, c] : channels_) c.expires_at = deadline_for(c.expires);
  // A producer whose ticket expired is no longer eligible (a renewed one comes back with the
  // next catalog change).
  std::vector<PeerId> expired;
  for (const auto& [id, c] : channels_) {
    if (c.expires <= wall) expired.push_back(id);
  }
  for (const PeerId& id : expired) {
    drop(id, channels_.at(id), env::close_code::kCancelled, "ticket expired");
  }
  for (auto& [id, c] : channels_) {
    if (c.state == ChannelState::kWaiting && c.retry_at <= now) {
      open(now, id, c);
    } else if (c.start_by <= now) {
      emit(effect::Close{c.link, env::close_code::kCancelled, "no Start from the producer"});
      fail(now, c, true);
    } else if (c.resend_at <= now) {
      c.resend_at = Instant::max();
      if (c.subscribe_pending) {
        c.subscribe_pending = false;
        subscribe(c);
        c.start_by = now + kStartTimeout;
      } else if (c.subscribed && c.to_return > 0) {
        return_credits(c);
      }
    }
  }
  note_connected(now);
}

void ConsumerMachine::drop(const PeerId& producer, Channel& channel, std::uint32_t code,
                           const char* reason) {
  if (channel.link != 0) {
    emit(effect::Close{channel.link, code, reason});
    links_.erase(channel.link);
  }
  channels_.erase(producer);
}

void ConsumerMachine::fail(Instant now, Channel& channel, bool retry) {
  links_.erase(channel.link);
  channel.link = 0;
  channel.subscribed = false;
  channel.subscribe_pending = false;
  channel.resend_at = Instant::max();
  channel.start_by = Instant::max();
  channel.resend = SendBackoff{};
  channel.outstanding = channel.held = channel.to_return = 0;
  if (!retry) {
    channel.state = ChannelState::kTerminated;
    channel.retry_at = Instant::max();
    return;
  }
  channel.state = ChannelState::kWaiting;
  // Jittered: 0.5x to 1.5x of the current delay, which then grows.
  const auto d = channel.delay.count();
  channel.retry_at = now + Duration(d / 2 + rng_.between(0, d));
  const auto next = static_cast<std::int64_t>(static_cast<double>(d) * config_.backoff.multiplier);
  channel.delay = std::min(Duration(next), config_.backoff.max);
}

void ConsumerMachine::close_all(Instant now) {
  advance(now);
  for (auto& [id, c] : channels_) {
    if (c.link != 0) emit(effect::Close{c.link, env::close_code::kCancelled, "consumer dropped"});
  }
  channels_.clear();
  links_.clear();
  note_connected(now);
}

void ConsumerMachine::note_connected(Instant now) {
  if (connected() == 0) {
    online_since_.reset();
  } else if (!online_since_) {
    online_since_ = now;
  }
}

Instant ConsumerMachine::next_deadline() const {
  Instant next = Instant::max();
  for (const auto& [id, c] : channels_) {
    next = std::min({next, c.retry_at, c.resend_at, c.start_by, c.expires_at});
  }
  return next;
}

bool ConsumerMachine::holds(const ChannelConditions& conditions) const {
  std::size_t counted = 0;
  for (const auto& [id, c] : channels_) {
    if (c.state == ChannelState::kConnected) counted += conditions.counts(c.peer.entry.get());
  }
  return conditions.met_with(counted);
}

void ConsumerMachine::invariants() const {
  SMALTI_ASSERT(channels_.size() <= config_.max_producers);
  for (const auto& [link, id] : links_) {
    auto it = channels_.find(id);
    SMALTI_ASSERT(it != channels_.end() && it->second.link == link);
  }
  for (const auto& [id, c] : channels_) {
    SMALTI_ASSERT(c.link == 0 || links_.count(c.link));
    SMALTI_ASSERT((c.state == ChannelState::kWaiting) == (c.retry_at != Instant::max()));
    SMALTI_ASSERT((c.state == ChannelState::kWaiting || c.state == ChannelState::kTerminated) ==
                  (c.link == 0));
    if (c.subscribed) {
      SMALTI_ASSERT(c.outstanding + c.held + c.to_return == window(), "credits leaked");
    } else {
      SMALTI_ASSERT(c.outstanding == 0 && c.held == 0 && c.to_return == 0);
    }
    SMALTI_ASSERT(!c.subscribe_pending || (!c.subscribed && c.resend_at != Instant::max()));
    SMALTI_ASSERT(c.state != ChannelState::kConnected || c.subscribed);
    SMALTI_ASSERT(c.start_by == Instant::max() ||
                  (c.state == ChannelState::kConnecting && c.subscribed));
    SMALTI_ASSERT((c.expires == WallTime::max()) == (c.expires_at == Instant::max()));
    SMALTI_ASSERT(!c.resend.stuck(), "a stuck link left open");
  }
  SMALTI_ASSERT(online_since_.has_value() == (connected() > 0));
}

std::size_t ConsumerMachine::connected() const {
  return static_cast<std::size_t>(
      std::count_if(channels_.begin(), channels_.end(),
                    [](const auto& kv) { return kv.second.state == ChannelState::kConnected; }));
}

std::vector<ChannelInfo> ConsumerMachine::channels(Instant now) const {
  std::vector<ChannelInfo> out;
  out.reserve(channels_.size());
  for (const auto& [id, c] : channels_) {
    std::optional<Duration> uptime;
    if (c.state == ChannelState::kConnected)
      uptime = std::max(now - c.connected_since, Duration::zero());
    out.push_back(ChannelInfo{id, c.state, Stats{c.datums, c.bytes, uptime}});
  }
  return out;
}

Stats ConsumerMachine::stats(Instant now) const {
  std::optional<Duration> uptime;
  if (online_since_) uptime = std::max(now - *online_since_, Duration::zero());
  return Stats{datums_, bytes_, uptime};
}

}  // namespace smalti::streams
