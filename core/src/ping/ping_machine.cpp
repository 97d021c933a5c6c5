#include "smalti/ping/ping_machine.hpp"

#include "smalti/env/transport.hpp"
#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {

Result<Message> decode_message(ByteView frame) {
  if (frame.size() > kMaxFrameSize) {
    return error(StatusCode::kLimitExceeded,
                 "ping frame of " + std::to_string(frame.size()) + " bytes is too large");
  }
  return decode<Message>(frame, DecodeLimits{.max_length = kMaxFrameSize, .max_depth = 4});
}

Result<PingId> PingMachine::start(Instant now, const PeerAddr& peer) {
  advance(now);
  expire(now);
  if (outstanding_.size() >= config_.max_outstanding) {
    return error(StatusCode::kLimitExceeded, "too many pings in flight");
  }
  if (!room_for_input()) return error(StatusCode::kLimitExceeded, "ping effects not pulled");
  auto current = outbound_.find(peer.id);
  LinkState* link = current == outbound_.end() ? nullptr : &links_.at(current->second);
  if (link && !link->connected && link->queued.size() >= config_.max_queued_per_peer) {
    return error(StatusCode::kLimitExceeded, "too many pings waiting for the link to open");
  }
  const PingId id = next_id_++;
  outstanding_.emplace(id, Outstanding{peer.id, now});
  ++stats_.started;
  Bytes frame = encode(Message{Request{id}});
  if (!link) {
    const LinkToken token = next_link_++;
    link = &links_.emplace(token, LinkState{peer.id, peer, true, false, {}}).first->second;
    outbound_[peer.id] = token;
    emit(effect::Connect{token, peer, kAlpn});
  }
  if (link->connected) {
    emit(effect::Send{outbound_.at(peer.id), std::move(frame)});
  } else {
    link->queued.push_back(std::move(frame));
  }
  return id;
}

std::optional<LinkToken> PingMachine::handle_accepted(Instant now, const PeerId& from) {
  advance(now);
  if (inbound_ >= config_.max_inbound_links) {
    ++stats_.refused_links;
    return std::nullopt;
  }
  const LinkToken token = next_link_++;
  links_.emplace(token, LinkState{from, PeerAddr{from, {}}, false, true, {}});
  ++inbound_;
  return token;
}

void PingMachine::handle_connected(Instant now, LinkToken link) {
  advance(now);
  auto it = links_.find(link);
  if (it == links_.end() || it->second.connected) return;
  it->second.connected = true;
  for (Bytes& frame : it->second.queued) {
    // A ping that ended while its link connected (it timed out) sends nothing: what goes out
    // here is bounded by the pings in flight, not by every request ever queued.
    auto message = decode_message(frame);
    const auto* request = message.is_ok() ? std::get_if<Request>(&*message) : nullptr;
    if (request && !outstanding_.count(request->nonce)) continue;
    emit(effect::Send{link, std::move(frame)});
  }
  it->second.queued.clear();
}

void PingMachine::handle_frame(Instant now, LinkToken link, ByteView frame) {
  advance(now);
  auto it = links_.find(link);
  if (it == links_.end()) return;  // closed by us; the frame was already on its way
  if (!admit_peer_input()) {
    ++stats_.dropped_requests;  // the pinger times out; better than unbounded memory
    return;
  }
  auto message = decode_message(frame);
  if (!message.is_ok()) {
    ++stats_.malformed_frames;
    emit(effect::Close{link, env::close_code::kProtocolViolation, message.status().message()});
    forget_link(link, error(StatusCode::kUnavailable, "the peer broke the ping protocol"));
    return;
  }
  if (const auto* request = std::get_if<Request>(&*message)) {
    ++stats_.requests_answered;
    emit(effect::Send{link, encode(Message{Response{request->nonce}})});
  } else {
    complete(now, it->second, std::get<Response>(*message).nonce);
  }
}

void PingMachine::complete(Instant now, const LinkState& state, std::uint64_t nonce) {
  // A late timer must not let an overdue ping succeed.
  expire(now);
  auto it = outstanding_.find(nonce);
  if (it == outstanding_.end() || it->second.peer != state.peer) {
    ++stats_.unexpected_responses;  // late (already timed out) or forged: ignore
    return;
  }
  const Duration rtt = now - it->second.sent_at;
  rtt_[state.peer].add_sample(rtt);
  finish(nonce, rtt);
}

void PingMachine::handle_link_closed(Instant now, LinkToken link) {
  advance(now);
  forget_link(link, error(StatusCode::kUnavailable, "link to peer closed"));
}

void PingMachine::handle_send_refused(Instant now, LinkToken link, const Bytes& frame,
                                      const Status& why) {
  advance(now);
  auto it = links_.find(link);
  auto message = decode_message(frame);
  if (it == links_.end() || !it->second.outbound || !message.is_ok()) return;
  // A refused answer costs the pinger a timeout.
  const auto* request = std::get_if<Request>(&*message);
  if (!request || !outstanding_.count(request->nonce)) return;
  // Back-pressure or an oversized frame, or no room for a new link's effects (above the input
  // mark): fail it now.
  if (why.code() != StatusCode::kUnavailable || !room_for_input()) {
    finish(request->nonce, why);
    return;
  }
  // The link ended and we have not heard yet (a reset reported late, after a pause): what was
  // sent on it is lost, and this ping goes out again on a new link.
  const PeerAddr addr = it->second.addr;
  emit(effect::Close{link, env::close_code::kCancelled, "the link had ended"});
  const std::uint64_t nonce = request->nonce;
  forget_link(link, why, /*except=*/nonce);
  const LinkToken token = next_link_++;
  LinkState& fresh = links_.emplace(token, LinkState{addr.id, addr, true, false, {}}).first->second;
  fresh.queued.push_back(frame);
  outbound_[addr.id] = token;
  emit(effect::Connect{token, addr, kAlpn});
}

void PingMachine::handle_timeout(Instant now) {
  advance(now);
  expire(now);
}

void PingMachine::forget_link(LinkToken link, const Status& why, std::optional<PingId> except) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  const LinkState state = std::move(it->second);
  links_.erase(it);
  if (!state.outbound) {
    --inbound_;
    return;
  }
  outbound_.erase(state.peer);
  std::vector<PingId> failed;
  for (const auto& [id, out] : outstanding_) {
    if (out.peer == state.peer && id != except) failed.push_back(id);
  }
  for (PingId id : failed) finish(id, why);
}

void PingMachine::expire(Instant now) {
  while (!outstanding_.empty()) {
    auto it = outstanding_.begin();
    if (now - it->second.sent_at < config_.timeout) break;
    finish(it->first,
           error(StatusCode::kTimeout, "no response within " + format_duration(config_.timeout)));
  }
}

void PingMachine::finish(PingId id, Result<Duration> result) {
  auto it = outstanding_.find(id);
  SMALTI_ASSERT(it != outstanding_.end());
  if (result.is_ok()) {
    ++stats_.succeeded;
  } else if (result.status().code() == StatusCode::kTimeout) {
    ++stats_.timed_out;
  } else {
    ++stats_.failed;
  }
  emit(Completed{id, it->second.peer, std::move(result)});
  outstanding_.erase(it);
}

Instant PingMachine::next_deadline() const {
  if (outstanding_.empty()) return Instant::max();
  // Ids grow with start time, so the first entry expires first.
  return outstanding_.begin()->second.sent_at + config_.timeout;
}

std::optional<LinkToken> PingMachine::outbound_link(const PeerId& peer) const {
  auto it = outbound_.find(peer);
  if (it == outbound_.end()) return std::nullopt;
  return it->second;
}

std::optional<RttEstimator> PingMachine::rtt(const PeerId& peer) const {
  auto it = rtt_.find(peer);
  if (it == rtt_.end()) return std::nullopt;
  return it->second;
}

void PingMachine::invariants() const {
  SMALTI_ASSERT(outstanding_.size() <= config_.max_outstanding);
  SMALTI_ASSERT(stats_.started ==
                stats_.succeeded + stats_.timed_out + stats_.failed + outstanding_.size());
  for (const auto& [id, out] : outstanding_) {
    SMALTI_ASSERT(id < next_id_);
    SMALTI_ASSERT(out.sent_at <= last_input());
  }
  std::size_t inbound = 0;
  for (const auto& [token, state] : links_) {
    SMALTI_ASSERT(token < next_link_);
    if (!state.outbound) {
      ++inbound;
      continue;
    }
    auto current = outbound_.find(state.peer);
    SMALTI_ASSERT(current != outbound_.end() && current->second == token,
                  "an outbound ping link that is not its peer's current one");
    SMALTI_ASSERT(state.queued.size() <= config_.max_queued_per_peer);
    SMALTI_ASSERT(!state.connected || state.queued.empty(), "requests left queued on an open link");
  }
  SMALTI_ASSERT(inbound == inbound_ && inbound_ <= config_.max_inbound_links);
  SMALTI_ASSERT(links_.size() == inbound_ + outbound_.size());
}

}  // namespace smalti::ping
