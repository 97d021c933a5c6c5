#include "smalti/ping/ping_machine.hpp"

#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {

Result<Message> decode_message(ByteView frame) {
  if (frame.size() > kMaxFrameSize) {
    return error(StatusCode::kLimitExceeded,
                 "ping frame of " + std::to_string(frame.size()) + " bytes is too large");
  }
  return decode<Message>(frame, DecodeLimits{.max_length = kMaxFrameSize, .max_depth = 4});
}

void PingMachine::advance(Instant now) {
  SMALTI_ASSERT(now >= last_now_, "time went backwards");
  last_now_ = now;
}

Result<PingId> PingMachine::start(Instant now, const PeerId& peer) {
  advance(now);
  expire(now);
  if (outstanding_.size() >= config_.max_outstanding) {
    return error(StatusCode::kLimitExceeded, "too many pings in flight");
  }
  const PingId id = next_id_++;
  outstanding_.emplace(id, Outstanding{peer, now});
  ++stats_.started;
  effects_.push_back(SendRequest{peer, encode(Message{Request{id}})});
  return id;
}

void PingMachine::handle_frame(Instant now, const PeerId& from, LinkToken link, ByteView frame) {
  advance(now);
  auto message = decode_message(frame);
  if (!message.is_ok()) {
    ++stats_.malformed_frames;
    // Past the bound the link stays open; its next frame reports the violation again.
    if (effects_.size() < config_.max_pending_effects)
      effects_.push_back(Violation{link, message.status()});
    return;
  }
  if (const auto* request = std::get_if<Request>(&*message)) {
    if (effects_.size() >= config_.max_pending_effects) {
      ++stats_.dropped_requests;  // the pinger times out; better than unbounded memory
      return;
    }
    ++stats_.requests_answered;
    effects_.push_back(Reply{link, encode(Message{Response{request->nonce}})});
    return;
  }
  const auto& response = std::get<Response>(*message);
  // A late timer must not let an overdue ping succeed.
  expire(now);
  auto it = outstanding_.find(response.nonce);
  if (it == outstanding_.end() || it->second.peer != from) {
    ++stats_.unexpected_responses;  // late (already timed out) or forged: ignore
    return;
  }
  const Duration rtt = now - it->second.sent_at;
  rtt_[from].add_sample(rtt);
  finish(response.nonce, rtt);
}

void PingMachine::handle_link_closed(Instant now, const PeerId& peer) {
  advance(now);
  std::vector<PingId> failed;
  for (const auto& [id, out] : outstanding_) {
    if (out.peer == peer) failed.push_back(id);
  }
  for (PingId id : failed) finish(id, error(StatusCode::kUnavailable, "link to peer closed"));
}

void PingMachine::handle_timeout(Instant now) {
  advance(now);
  expire(now);
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
  effects_.push_back(Completed{id, it->second.peer, std::move(result)});
  outstanding_.erase(it);
}

std::optional<Effect> PingMachine::poll_effect() {
  if (effects_.empty()) return std::nullopt;
  Effect e = std::move(effects_.front());
  effects_.pop_front();
  return e;
}

Instant PingMachine::next_deadline() const {
  if (outstanding_.empty()) return Instant::max();
  // Ids grow with start time, so the first entry expires first.
  return outstanding_.begin()->second.sent_at + config_.timeout;
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
    SMALTI_ASSERT(out.sent_at <= last_now_);
  }
}

}  // namespace smalti::ping
