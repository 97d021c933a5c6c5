#include "smalti/streams/producer_machine.hpp"

#include <algorithm>
#include <string>

#include "smalti/base/assert.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams {

Status validate(const ProducerConfig& config) {
  if (config.buffer_size == 0 || config.buffer_size > kMaxBufferSize) {
    return error(StatusCode::kInvalidArgument,
                 "buffer_size must be in [1, " + std::to_string(kMaxBufferSize) + "]");
  }
  if (config.max_consumers > kMaxSubscriptions) {
    return error(StatusCode::kInvalidArgument,
                 "max_consumers must be at most " + std::to_string(kMaxSubscriptions));
  }
  for (const auto& validator : config.tickets) {
    if (!validator) return error(StatusCode::kInvalidArgument, "a null ticket validator");
  }
  if (config.max_pending_effects != 0 && config.max_pending_effects < effect_limit_for(config)) {
    return error(StatusCode::kInvalidArgument, "max_pending_effects below what one input makes");
  }
  return Status::ok();
}

std::size_t effect_limit_for(const ProducerConfig& config) {
  // publish, a catalog change, close_all and ticket expiry make one effect per subscription; a
  // credit a Start and a queue; a timeout its expiries plus a retry budget of one queue, which
  // the last subscription it retries may overshoot by one more queue.
  const std::size_t subscriptions = std::min(config.max_consumers, kMaxSubscriptions);
  const std::size_t most = subscriptions + 2 * (config.buffer_size + 1);
  return 2 * most + 4;
}

bool same_settings(const ProducerConfig& a, const ProducerConfig& b) {
  return a.stream == b.stream && a.buffer_size == b.buffer_size &&
         a.max_consumers == b.max_consumers && a.disconnect_lagging == b.disconnect_lagging &&
         !a.require && !b.require && a.tickets == b.tickets && a.online_when.same_as(b.online_when);
}

ProducerMachine::ProducerMachine(ProducerConfig config, Instant start)
    : MachineBase(start, config.max_pending_effects != 0 ? config.max_pending_effects
                                                         : effect_limit_for(config)),
      config_(std::move(config)) {
  SMALTI_ASSERT(validate(config_).is_ok(), "an invalid producer configuration");
}

void ProducerMachine::handle_subscribe(Instant now, WallTime wall, LinkToken link,
                                       const PeerFacts& peer, const Subscribe& subscribe) {
  advance(now, wall);
  // Dropped like a lost message: the consumer gets no Start, times out and subscribes again.
  if (!admit_peer_input()) return;
  refresh_expiry();
  if (subs_.count(link)) {
    return cut(link, env::close_code::kProtocolViolation, "subscribed twice on one link");
  }
  if (subscribe.stream != config_.stream) {
    return emit(effect::Close{link, stream_close::kStreamNotFound, "StreamNotFound"});
  }
  // Capacity before `require`, as in mosaik.
  if (subs_.size() >= config_.max_consumers) {
    return emit(effect::Close{link, stream_close::kNoCapacity, "NoCapacity"});
  }
  if (config_.require && !config_.require(peer.info())) {
    return emit(effect::Close{link, stream_close::kNotAllowed, "NotAllowed"});
  }
  WallTime expires = WallTime::max();
  if (!config_.tickets.empty()) {
    auto valid = peer.entry
                     ? tickets::validate_tickets(*peer.entry, config_.tickets, wall)
                     : Result<WallTime>(error(StatusCode::kPermissionDenied, "unknown peer"));
    if (!valid.is_ok()) {
      return emit(effect::Close{link, stream_close::kNotAllowed, valid.status().message()});
    }
    expires = *valid;
  }
  Subscription sub;
  sub.peer = peer;
  sub.expires = expires;
  sub.expires_at = deadline_for(expires);
  sub.credits = std::min<std::uint64_t>(subscribe.credits, kMaxCredits);
  sub.since = now;
  auto [it, inserted] = subs_.emplace(link, std::move(sub));
  SMALTI_ASSERT(inserted);
  send(link, it->second, encode(Message{Start{subscribe.network, subscribe.stream}}));
}

void ProducerMachine::handle_credit(Instant now, LinkToken link, std::uint32_t n) {
  advance(now);
  auto it = subs_.find(link);
  if (it == subs_.end()) return;
  Subscription& sub = it->second;
  sub.credits = std::min<std::uint64_t>(sub.credits + n, kMaxCredits);
  if (!admit_peer_input()) {
    // The credit is kept; what it allows goes out at a retry, once the driver has pulled.
    if (!sub.held()) sub.retry_at = now + kSendRetryMin;
    return;
  }
  // The consumer is reading, so its link moves again: a held subscription goes on now.
  sub.retry_at = Instant::max();
  sub.backoff.reset();
  drain(link, sub);
}

void ProducerMachine::handle_link_closed(Instant now, LinkToken link) {
  advance(now);
  subs_.erase(link);
}

void ProducerMachine::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                          const Status& why) {
  advance(now);
  auto it = subs_.find(link);
  if (it == subs_.end()) return;
  ++refused_sends_;
  if (why.code() != StatusCode::kLimitExceeded) {
    // The link has ended and we have not heard yet: what was sent on it is lost with it.
    return cut(link, env::close_code::kCancelled, "the link had ended");
  }
  Subscription& sub = it->second;
  // Those behind it were never tried: they go again at the retry. Any other send since the last
  // refusal went out, so this refusal starts a new run (not a real back-pressure).
  sub.backoff.withdrawn(hold(sub, frame, link));
  const Duration wait = sub.backoff.refused();
  if (sub.backoff.stuck()) {
    return cut(link, stream_close::kTooSlow, "TooSlow: the link refuses every send");
  }
  sub.retry_at = now + wait;
}

void ProducerMachine::send(LinkToken link, Subscription& sub, Bytes frame) {
  sub.backoff.sent();
  emit(effect::Send{link, std::move(frame)});
}

std::size_t ProducerMachine::hold(Subscription& sub, const Bytes& frame, LinkToken link) {
  // The refused frame, then those emitted behind it on the same link and not yet pulled: they
  // would overtake it.
  std::vector<Bytes> frames;
  frames.push_back(frame);
  auto& pending = effects().items();
  for (auto e = pending.begin(); e != pending.end();) {
    auto* send = std::get_if<effect::Send>(&*e);
    if (send && send->link == link) {
      frames.push_back(std::move(send->frame));
      e = pending.erase(e);
    } else {
      ++e;
    }
  }
  const std::size_t behind = frames.size() - 1;
  std::deque<Outgoing> back;
  for (Bytes& f : frames) {
    auto message = decode_message(f);
    if (!message.is_ok()) continue;  // not one of ours
    if (std::holds_alternative<Start>(*message)) {
      sub.start_pending = std::move(f);
      continue;
    }
    const auto* datum = std::get_if<Datum>(&*message);
    if (!datum) continue;
    const auto size = static_cast<std::uint32_t>(datum->payload.size());
    back.push_back(Outgoing{std::make_shared<const Bytes>(std::move(f)), size});
    // Not delivered after all: its credit comes back and it does not count as sent.
    sub.credits = std::min<std::uint64_t>(sub.credits + 1, kMaxCredits);
    --sub.datums;
    sub.bytes -= size;
  }
  sub.queue.insert(sub.queue.begin(), back.begin(), back.end());
  // Only a driver that did not pull between publishes can overfill it: the newest go.
  while (sub.queue.size() > config_.buffer_size) {
    sub.queue.pop_back();
    ++sub.dropped;
    ++dropped_;
  }
  return behind;
}

void ProducerMachine::handle_catalog(Instant now, const PeerLookup& lookup) {
  advance(now);
  if (!config_.require) return;
  std::vector<LinkToken> gone;
  for (const auto& [link, sub] : subs_) {
    if (!config_.require(lookup(sub.peer.id).info())) gone.push_back(link);
  }
  for (LinkToken link : gone) cut(link, stream_close::kNotAllowed, "NotAllowed");
}

void ProducerMachine::handle_timeout(Instant now, WallTime wall) {
  advance(now, wall);
  refresh_expiry();
  std::vector<LinkToken> expired;
  for (const auto& [link, sub] : subs_) {
    if (sub.expires <= wall) expired.push_back(link);
  }
  for (LinkToken link : expired) cut(link, stream_close::kNotAllowed, "ticket expired");
  retry_due(now);
}

void ProducerMachine::retry_due(Instant now) {
  // At most about one queue's worth of sends per timeout; the rest wait a moment longer.
  const std::size_t budget = config_.buffer_size + 1;
  std::size_t spent = 0;
  for (auto& [link, sub] : subs_) {
    if (!sub.held() || sub.retry_at > now) continue;
    if (spent >= budget) {
      sub.retry_at = now + kSendRetryMin;
      continue;
    }
    sub.retry_at = Instant::max();
    spent += drain(link, sub);
  }
}

void ProducerMachine::refresh_expiry() {
  for (auto& [link, sub] : subs_) sub.expires_at = deadline_for(sub.expires);
}

Result<std::size_t> ProducerMachine::publish(Instant now, const Bytes& payload) {
  advance(now);
  if (!is_online()) return error(StatusCode::kUnavailable, "producer offline");
  if (payload.size() > kMaxPayloadSize) {
    return error(StatusCode::kLimitExceeded,
                 "a datum of " + std::to_string(payload.size()) + " bytes is too large");
  }
  if (!room_for_input()) return error(StatusCode::kLimitExceeded, "producer effects not pulled");
  if (subs_.empty()) return std::size_t{0};
  // Encoded once, shared by every queue.
  auto frame = std::make_shared<const Bytes>(encode(Message{Datum{payload}}));
  const auto size = static_cast<std::uint32_t>(payload.size());
  std::size_t queued = 0;
  std::vector<LinkToken> lagging;
  for (auto& [link, sub] : subs_) {
    // Fault point: this consumer's queue is full (it lags): the datum is dropped for it, and the
    // lagging path runs.
    if (sub.queue.size() >= config_.buffer_size ||
        fire(config_.buggify, "streams.producer_queue_full")) {
      ++sub.dropped;
      ++dropped_;
      if (config_.disconnect_lagging) lagging.push_back(link);
      continue;
    }
    sub.queue.push_back(Outgoing{frame, size});
    ++queued;
    // Fault point: the link pushes back (its send window is full); the queue is held and sent
    // at the retry, as after a refused send.
    if (!sub.held() && fire(config_.buggify, "streams.producer_backpressure")) {
      sub.retry_at = now + kSendRetryMin;
      continue;
    }
    drain(link, sub);
  }
  for (LinkToken link : lagging) cut(link, stream_close::kTooSlow, "TooSlow");
  return queued;
}

std::size_t ProducerMachine::drain(LinkToken link, Subscription& sub) {
  if (sub.held()) return 0;
  std::size_t sent = 0;
  if (sub.start_pending) {
    send(link, sub, std::move(*sub.start_pending));
    sub.start_pending.reset();
    ++sent;
  }
  while (sub.credits > 0 && !sub.queue.empty()) {
    Outgoing out = std::move(sub.queue.front());
    sub.queue.pop_front();
    --sub.credits;
    ++sub.datums;
    sub.bytes += out.payload;
    send(link, sub, *out.frame);
    ++sent;
  }
  return sent;
}

void ProducerMachine::cut(LinkToken link, std::uint32_t code, std::string reason) {
  subs_.erase(link);
  emit(effect::Close{link, code, std::move(reason)});
}

void ProducerMachine::close_all(Instant now, std::uint32_t code, const std::string& reason) {
  advance(now);
  while (!subs_.empty()) cut(subs_.begin()->first, code, reason);
}

Instant ProducerMachine::next_deadline() const {
  Instant next = Instant::max();
  for (const auto& [link, sub] : subs_) next = std::min({next, sub.retry_at, sub.expires_at});
  return next;
}

bool ProducerMachine::holds(const ChannelConditions& conditions) const {
  std::size_t counted = 0;
  for (const auto& [link, sub] : subs_) counted += conditions.counts(sub.peer.entry.get());
  return conditions.met_with(counted);
}

void ProducerMachine::invariants() const {
  SMALTI_ASSERT(subs_.size() <= config_.max_consumers);
  for (const auto& [link, sub] : subs_) {
    SMALTI_ASSERT(sub.queue.size() <= config_.buffer_size, "a consumer queue over its bound");
    SMALTI_ASSERT(sub.credits <= kMaxCredits);
    SMALTI_ASSERT(sub.held() || sub.queue.empty() || sub.credits == 0,
                  "datums held back despite credits");
    SMALTI_ASSERT(sub.held() || !sub.start_pending, "a refused Start left without a retry");
    SMALTI_ASSERT((sub.expires == WallTime::max()) == (sub.expires_at == Instant::max()));
    SMALTI_ASSERT(sub.since <= last_input());
    SMALTI_ASSERT(!sub.backoff.stuck(), "a stuck link left uncut");
  }
}

std::vector<SubscriptionInfo> ProducerMachine::subscriptions(Instant now) const {
  std::vector<SubscriptionInfo> out;
  out.reserve(subs_.size());
  for (const auto& [link, sub] : subs_) {
    out.push_back(
        SubscriptionInfo{link, sub.peer.id,
                         Stats{sub.datums, sub.bytes, std::max(now - sub.since, Duration::zero())},
                         sub.queue.size(), sub.credits, sub.dropped});
  }
  return out;
}

}  // namespace smalti::streams
