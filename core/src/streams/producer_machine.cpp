#include "smalti/streams/producer_machine.hpp"

#include "smalti/base/assert.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams {

// Credits a consumer may hold at once: bounds what a bogus Credit can make us promise.
static constexpr std::uint64_t kMaxCredits = 1u << 20;

void ProducerMachine::handle_subscribe(Instant now, WallTime wall, LinkToken link,
                                       const PeerInfo& peer, const Subscribe& subscribe) {
  if (subs_.count(link)) {
    return cut(link, env::close_code::kProtocolViolation, "subscribed twice on one link");
  }
  if (subs_.size() >= config_.max_consumers) {
    effects_.push_back(effect::Close{link, stream_close::kNoCapacity, "NoCapacity"});
    return;
  }
  if (config_.require && !config_.require(peer)) {
    effects_.push_back(effect::Close{link, stream_close::kNotAllowed, "NotAllowed"});
    return;
  }
  WallTime expires = WallTime::max();
  if (!config_.tickets.empty()) {
    auto valid = peer.entry
                     ? tickets::validate_tickets(*peer.entry, config_.tickets, wall)
                     : Result<WallTime>(error(StatusCode::kPermissionDenied, "unknown peer"));
    if (!valid.is_ok()) {
      effects_.push_back(effect::Close{link, stream_close::kNotAllowed, valid.status().message()});
      return;
    }
    expires = *valid;
  }
  Subscription sub;
  sub.peer = peer.id;
  sub.expires = expires;
  sub.credits = std::min<std::uint64_t>(subscribe.credits, kMaxCredits);
  sub.stats.since = now;
  auto [it, inserted] = subs_.emplace(link, std::move(sub));
  SMALTI_ASSERT(inserted);
  effects_.push_back(
      effect::Send{link, encode(Message{Start{subscribe.network, subscribe.stream}})});
}

void ProducerMachine::handle_credit(LinkToken link, std::uint32_t n) {
  auto it = subs_.find(link);
  if (it == subs_.end()) return;
  it->second.credits = std::min<std::uint64_t>(it->second.credits + n, kMaxCredits);
  drain(link, it->second);
}

void ProducerMachine::handle_closed(LinkToken link) {
  subs_.erase(link);
}

std::size_t ProducerMachine::publish(const Bytes& payload) {
  if (subs_.empty()) return 0;
  // Encoded once, shared by every queue.
  auto frame = std::make_shared<const Bytes>(encode(Message{Datum{payload}}));
  std::size_t queued = 0;
  std::vector<LinkToken> lagging;
  for (auto& [link, sub] : subs_) {
    if (sub.queue.size() >= config_.buffer_size) {
      ++sub.stats.dropped;
      ++dropped_;
      if (config_.disconnect_lagging) lagging.push_back(link);
      continue;
    }
    sub.queue.push_back(frame);
    ++queued;
    drain(link, sub);
  }
  for (LinkToken link : lagging) cut(link, stream_close::kTooSlow, "TooSlow");
  return queued;
}

void ProducerMachine::drain(LinkToken link, Subscription& sub) {
  while (sub.credits > 0 && !sub.queue.empty()) {
    const std::shared_ptr<const Bytes> frame = std::move(sub.queue.front());
    sub.queue.pop_front();
    --sub.credits;
    ++sub.stats.datums;
    sub.stats.bytes += frame->size();
    effects_.push_back(effect::Send{link, *frame});
  }
}

void ProducerMachine::cut(LinkToken link, std::uint32_t code, std::string reason) {
  subs_.erase(link);
  effects_.push_back(effect::Close{link, code, std::move(reason)});
}

void ProducerMachine::reevaluate(const std::function<bool(const PeerId&)>& still_allowed) {
  std::vector<LinkToken> gone;
  for (const auto& [link, sub] : subs_) {
    if (!still_allowed(sub.peer)) gone.push_back(link);
  }
  for (LinkToken link : gone) cut(link, stream_close::kNotAllowed, "NotAllowed");
}

void ProducerMachine::handle_wall_time(WallTime wall) {
  std::vector<LinkToken> expired;
  for (const auto& [link, sub] : subs_) {
    if (sub.expires <= wall) expired.push_back(link);
  }
  for (LinkToken link : expired) cut(link, stream_close::kNotAllowed, "ticket expired");
}

WallTime ProducerMachine::next_expiry() const {
  WallTime next = WallTime::max();
  for (const auto& [link, sub] : subs_) next = std::min(next, sub.expires);
  return next;
}

void ProducerMachine::close_all(std::uint32_t code, const std::string& reason) {
  while (!subs_.empty()) cut(subs_.begin()->first, code, reason);
}

std::optional<ProducerEffect> ProducerMachine::poll_effect() {
  if (effects_.empty()) return std::nullopt;
  ProducerEffect e = std::move(effects_.front());
  effects_.pop_front();
  return e;
}

void ProducerMachine::invariants() const {
  for (const auto& [link, sub] : subs_) {
    SMALTI_ASSERT(sub.queue.size() <= config_.buffer_size, "a consumer queue over its bound");
    SMALTI_ASSERT(sub.credits <= kMaxCredits);
    SMALTI_ASSERT(sub.queue.empty() || sub.credits == 0, "datums held back despite credits");
  }
  SMALTI_ASSERT(subs_.size() <= config_.max_consumers);
}

std::vector<SubscriptionInfo> ProducerMachine::subscriptions() const {
  std::vector<SubscriptionInfo> out;
  for (const auto& [link, sub] : subs_) {
    out.push_back(SubscriptionInfo{link, sub.peer, sub.stats, sub.queue.size(), sub.credits});
  }
  return out;
}

}  // namespace smalti::streams
