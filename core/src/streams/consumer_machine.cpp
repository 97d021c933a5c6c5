#include "smalti/streams/consumer_machine.hpp"

#include <algorithm>

#include "smalti/base/assert.hpp"

namespace smalti::streams {
namespace {

bool is_final(std::uint32_t code) {
  return code == stream_close::kNotAllowed || code == stream_close::kStreamNotFound ||
         code == stream_close::kDifferentNetwork || code == env::close_code::kGracefulShutdown ||
         code == env::close_code::kProtocolViolation;
}

}  // namespace

WallTime ConsumerMachine::handle_producers(Instant now, WallTime wall,
                                           const std::vector<ProducerCandidate>& candidates) {
  last_now_ = now;
  WallTime next_expiry = WallTime::max();
  std::map<PeerId, const ProducerCandidate*> eligible;
  for (const ProducerCandidate& c : candidates) {
    if (config_.require && !config_.require(c.info)) continue;
    if (!config_.tickets.empty()) {
      if (!c.info.entry) continue;
      auto valid = tickets::validate_tickets(*c.info.entry, config_.tickets, wall);
      if (!valid.is_ok()) continue;
      next_expiry = std::min(next_expiry, *valid);
    }
    eligible[c.addr.id] = &c;
  }
  // Producers that left the catalog or stopped qualifying are dropped.
  for (auto it = channels_.begin(); it != channels_.end();) {
    if (eligible.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.link != 0) {
      effects_.push_back(
          effect::Close{it->second.link, env::close_code::kCancelled, "not eligible"});
      links_.erase(it->second.link);
    }
    it = channels_.erase(it);
  }
  // New ones are subscribed to; those that refused for good get another chance now.
  for (const auto& [id, candidate] : eligible) {
    auto it = channels_.find(id);
    if (it == channels_.end()) {
      if (channels_.size() >= kMaxProducers) continue;
      it = channels_.emplace(id, Channel{}).first;
      it->second.addr = candidate->addr;
      it->second.delay = config_.backoff.initial;
      open(now, id, it->second);
    } else if (it->second.state == ChannelState::kTerminated) {
      it->second.addr = candidate->addr;
      it->second.delay = config_.backoff.initial;
      open(now, id, it->second);
    }
  }
  return next_expiry;
}

void ConsumerMachine::open(Instant now, const PeerId& producer, Channel& channel) {
  channel.state = ChannelState::kConnecting;
  channel.link = next_link_++;
  channel.retry_at = Instant::max();
  channel.outstanding = 0;
  channel.to_return = 0;
  channel.stats.since = now;
  links_[channel.link] = producer;
  effects_.push_back(effect::Connect{channel.link, channel.addr, kAlpn});
}

ConsumerMachine::Channel* ConsumerMachine::by_link(LinkToken link) {
  auto it = links_.find(link);
  if (it == links_.end()) return nullptr;
  auto c = channels_.find(it->second);
  return c == channels_.end() ? nullptr : &c->second;
}

void ConsumerMachine::handle_connected(Instant now, LinkToken link) {
  last_now_ = now;
  Channel* c = by_link(link);
  if (!c) return;
  const auto credits =
      static_cast<std::uint32_t>(std::min<std::size_t>(config_.buffer_size, 1u << 20));
  c->outstanding = credits;
  effects_.push_back(
      effect::Send{link, encode(Message{Subscribe{config_.network, config_.stream, credits}})});
}

void ConsumerMachine::handle_frame(Instant now, LinkToken link, ByteView frame) {
  last_now_ = now;
  Channel* c = by_link(link);
  if (!c) return;
  auto message = decode_message(frame);
  auto violation = [&](const char* why) {
    effects_.push_back(effect::Close{link, env::close_code::kProtocolViolation, why});
    fail(now, *c, false);
  };
  if (!message.is_ok()) return violation("undecodable streams frame");
  if (auto* start = std::get_if<Start>(&*message)) {
    if (c->state != ChannelState::kConnecting) return violation("Start twice");
    if (start->network != config_.network || start->stream != config_.stream) {
      return violation("Start for another network or stream");
    }
    c->state = ChannelState::kConnected;
    c->stats.since = now;
    return;
  }
  auto* datum = std::get_if<Datum>(&*message);
  if (!datum || c->state != ChannelState::kConnected) return violation("unexpected message");
  if (c->outstanding == 0) return violation("datum beyond the granted credits");
  --c->outstanding;
  ++c->stats.datums;
  c->stats.bytes += datum->payload.size();
  c->delay = config_.backoff.initial;  // data flows: the next failure starts the backoff afresh
  queue_.push_back(Queued{links_.at(link), link, std::move(datum->payload)});
}

std::optional<Bytes> ConsumerMachine::pop() {
  if (queue_.empty()) return std::nullopt;
  Queued item = std::move(queue_.front());
  queue_.pop_front();
  Bytes payload = std::move(item.payload);
  auto it = channels_.find(item.producer);
  // A datum of an earlier link of this producer returns no credit to the current one, which
  // was granted its own full window: that keeps the queue within one window per producer.
  if (it != channels_.end() && it->second.state == ChannelState::kConnected &&
      it->second.link == item.link) {
    Channel& c = it->second;
    // Credits go back in batches of half a window, so small datums do not cost a frame each.
    if (++c.to_return >= std::max<std::size_t>(1, config_.buffer_size / 2)) {
      effects_.push_back(
          effect::Send{c.link, encode(Message{Credit{static_cast<std::uint32_t>(c.to_return)}})});
      c.outstanding += c.to_return;
      c.to_return = 0;
    }
  }
  return payload;
}

void ConsumerMachine::handle_closed(Instant now, LinkToken link, const env::CloseInfo& info) {
  last_now_ = now;
  Channel* c = by_link(link);
  if (!c) return;
  fail(now, *c, !is_final(info.code));
}

void ConsumerMachine::fail(Instant now, Channel& channel, bool retry) {
  links_.erase(channel.link);
  channel.link = 0;
  channel.outstanding = 0;
  channel.to_return = 0;
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

void ConsumerMachine::handle_timeout(Instant now) {
  last_now_ = now;
  for (auto& [id, c] : channels_) {
    if (c.state == ChannelState::kWaiting && c.retry_at <= now) open(now, id, c);
  }
}

void ConsumerMachine::close_all() {
  for (auto& [id, c] : channels_) {
    if (c.link != 0)
      effects_.push_back(effect::Close{c.link, env::close_code::kCancelled, "consumer dropped"});
  }
  channels_.clear();
  links_.clear();
}

std::optional<ConsumerEffect> ConsumerMachine::poll_effect() {
  if (effects_.empty()) return std::nullopt;
  ConsumerEffect e = std::move(effects_.front());
  effects_.pop_front();
  return e;
}

Instant ConsumerMachine::next_deadline() const {
  Instant next = Instant::max();
  for (const auto& [id, c] : channels_) next = std::min(next, c.retry_at);
  return next;
}

void ConsumerMachine::invariants() const {
  SMALTI_ASSERT(queue_.size() <= config_.buffer_size * std::max<std::size_t>(1, kMaxProducers),
                "consumer queue over its bound");
  for (const auto& [link, id] : links_) {
    auto it = channels_.find(id);
    SMALTI_ASSERT(it != channels_.end() && it->second.link == link);
  }
}

std::optional<PeerAddr> ConsumerMachine::producer_of(LinkToken link) const {
  auto it = links_.find(link);
  if (it == links_.end()) return std::nullopt;
  auto c = channels_.find(it->second);
  if (c == channels_.end()) return std::nullopt;
  return c->second.addr;
}

std::size_t ConsumerMachine::connected() const {
  return static_cast<std::size_t>(
      std::count_if(channels_.begin(), channels_.end(),
                    [](const auto& kv) { return kv.second.state == ChannelState::kConnected; }));
}

std::vector<ChannelInfo> ConsumerMachine::channels() const {
  std::vector<ChannelInfo> out;
  for (const auto& [id, c] : channels_) out.push_back(ChannelInfo{id, c.state, c.stats});
  return out;
}

}  // namespace smalti::streams
