#include "smalti/streams/stream_admission.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "smalti/base/assert.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams {

// Accepted links waiting for their Subscribe, at most.
static constexpr std::size_t kMaxPendingLinksLimit = 1u << 16;

Status validate(const AdmissionConfig& config) {
  if (config.subscribe_timeout <= Duration::zero()) {
    return error(StatusCode::kInvalidArgument, "subscribe_timeout must be positive");
  }
  if (config.max_pending_links == 0 || config.max_pending_links > kMaxPendingLinksLimit) {
    return error(StatusCode::kInvalidArgument, "max_pending_links must be in [1, 65536]");
  }
  if (config.max_subscribed_links == 0) {
    return error(StatusCode::kInvalidArgument, "max_subscribed_links must be positive");
  }
  if (config.max_pending_effects != 0 && config.max_pending_effects < effect_limit_for(config)) {
    return error(StatusCode::kInvalidArgument, "max_pending_effects below what one input makes");
  }
  return Status::ok();
}

std::size_t effect_limit_for(const AdmissionConfig& config) {
  // A timeout closes every pending link and hands on up to as many deferred credits; a frame
  // makes a Close and a Released at most.
  const std::size_t most = 2 * config.max_pending_links + 2;
  return 2 * most + 4;
}

StreamAdmission::StreamAdmission(AdmissionConfig config, Instant start)
    : MachineBase(start, config.max_pending_effects != 0 ? config.max_pending_effects
                                                         : effect_limit_for(config)),
      config_(std::move(config)) {
  SMALTI_ASSERT(validate(config_).is_ok(), "an invalid admission configuration");
}

void StreamAdmission::handle_stream_added(Instant now, const StreamId& stream) {
  advance(now);
  streams_.insert(stream);
}

void StreamAdmission::handle_stream_removed(Instant now, const StreamId& stream) {
  advance(now);
  // Its subscriptions are its producer's to close (handle_producer_closed follows).
  streams_.erase(stream);
}

LinkToken StreamAdmission::handle_accepted(Instant now, const PeerId& peer, Duration link_rtt) {
  advance(now);
  const LinkToken link = next_link_++;
  ++stats_.accepted;
  if (pending_.size() >= config_.max_pending_links) {
    // Dropped at the input mark, the link stays unknown and its first frame is refused.
    if (admit_peer_input()) refuse(link, stream_close::kNoCapacity, "NoCapacity: too many links");
    return link;
  }
  pending_.emplace(link, Pending{peer, now + config_.subscribe_timeout, link_rtt});
  return link;
}

void StreamAdmission::handle_frame(Instant now, LinkToken link, ByteView frame,
                                   const PeerLookup& lookup) {
  advance(now);
  auto pending = pending_.find(link);
  auto subscribed = subscribed_.find(link);
  if (pending == pending_.end() && subscribed == subscribed_.end()) {
    // A link whose accept was dropped at the input mark.
    if (admit_peer_input()) refuse(link, stream_close::kNoCapacity, "NoCapacity: not admitted");
    return;
  }
  auto message = decode_message(frame);
  if (!admit_peer_input()) {
    // A Subscribe is lost (the link times out); a credit is kept and handed on later.
    if (subscribed == subscribed_.end() || !message.is_ok()) return;
    if (const auto* credit = std::get_if<Credit>(&*message)) {
      subscribed->second.deferred += credit->n;
      deferred_at_ = std::min(deferred_at_, now + kDeferredCreditDelay);
    }
    return;
  }
  if (pending != pending_.end()) {
    const Pending waiting = pending->second;
    pending_.erase(pending);
    if (!message.is_ok()) {
      return refuse(link, env::close_code::kProtocolViolation, "undecodable streams frame");
    }
    const auto* subscribe = std::get_if<Subscribe>(&*message);
    if (!subscribe) return refuse(link, env::close_code::kProtocolViolation, "expected Subscribe");
    if (subscribe->network != config_.network) {
      return refuse(link, stream_close::kDifferentNetwork, "DifferentNetwork");
    }
    if (!streams_.count(subscribe->stream)) {
      return refuse(link, stream_close::kStreamNotFound, "StreamNotFound");
    }
    // Fault points: refused as by a node at its limit, or one whose catalog has not heard of the
    // consumer yet; both are retryable (the consumer backs off, or syncs catalogs first).
    if (subscribed_.size() >= config_.max_subscribed_links ||
        fire(config_.buggify, "streams.admission_no_capacity")) {
      return refuse(link, stream_close::kNoCapacity, "NoCapacity: too many subscriptions");
    }
    PeerFacts peer = lookup(waiting.peer);
    if (!peer.entry || fire(config_.buggify, "streams.admission_unknown_peer")) {
      return refuse(link, stream_close::kUnknownPeer, "UnknownPeer");
    }
    peer.id = waiting.peer;
    // The RTT the link itself measured counts first (as in mosaik); the catalog's otherwise.
    if (waiting.link_rtt > Duration::zero()) peer.rtt = waiting.link_rtt;
    subscribed_.emplace(link, Subscribed{waiting.peer, subscribe->stream, 0});
    ++stats_.admitted;
    emit(effect::Deliver<Admitted>{Admitted{link, std::move(peer), *subscribe}});
    return;
  }
  Subscribed& sub = subscribed->second;
  const auto* credit = message.is_ok() ? std::get_if<Credit>(&*message) : nullptr;
  if (!credit) {
    const StreamId stream = sub.stream;
    subscribed_.erase(subscribed);
    emit(effect::Deliver<Released>{Released{link, stream}});
    return refuse(
        link, env::close_code::kProtocolViolation,
        message.is_ok() ? "only Credit may follow a Subscribe" : "undecodable streams frame");
  }
  sub.deferred += credit->n;
  deliver_deferred(sub, link);
}

void StreamAdmission::deliver_deferred(Subscribed& sub, LinkToken link) {
  const auto n = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(sub.deferred, std::numeric_limits<std::uint32_t>::max()));
  sub.deferred -= n;
  emit(effect::Deliver<Credited>{Credited{link, sub.stream, n}});
}

void StreamAdmission::refuse(LinkToken link, std::uint32_t code, const char* reason) {
  ++stats_.refused[code];
  emit(effect::Close{link, code, reason});
}

void StreamAdmission::handle_link_closed(Instant now, LinkToken link) {
  advance(now);
  pending_.erase(link);
  auto it = subscribed_.find(link);
  if (it == subscribed_.end()) return;
  const StreamId stream = it->second.stream;
  subscribed_.erase(it);
  emit(effect::Deliver<Released>{Released{link, stream}});
}

void StreamAdmission::handle_producer_closed(Instant now, LinkToken link) {
  advance(now);
  pending_.erase(link);
  subscribed_.erase(link);
}

void StreamAdmission::handle_timeout(Instant now) {
  advance(now);
  // Tokens grow with accept time, and every link has the same timeout: the first is due first.
  while (!pending_.empty() && pending_.begin()->second.deadline <= now) {
    const LinkToken link = pending_.begin()->first;
    pending_.erase(pending_.begin());
    refuse(link, env::close_code::kCancelled, "no Subscribe in time");
  }
  if (deferred_at_ > now) return;
  deferred_at_ = Instant::max();
  std::size_t budget = config_.max_pending_links;
  for (auto& [link, sub] : subscribed_) {
    if (sub.deferred == 0) continue;
    if (budget == 0) {
      deferred_at_ = now + kDeferredCreditDelay;
      break;
    }
    --budget;
    deliver_deferred(sub, link);
    if (sub.deferred > 0) deferred_at_ = now + kDeferredCreditDelay;
  }
}

Instant StreamAdmission::next_deadline() const {
  const Instant subscribe = pending_.empty() ? Instant::max() : pending_.begin()->second.deadline;
  return std::min(subscribe, deferred_at_);
}

void StreamAdmission::invariants() const {
  SMALTI_ASSERT(pending_.size() <= config_.max_pending_links);
  SMALTI_ASSERT(subscribed_.size() <= config_.max_subscribed_links);
  Instant previous{};
  for (const auto& [link, p] : pending_) {
    SMALTI_ASSERT(link < next_link_);
    SMALTI_ASSERT(!subscribed_.count(link), "a link both pending and subscribed");
    SMALTI_ASSERT(p.deadline >= previous, "subscribe deadlines out of accept order");
    SMALTI_ASSERT(p.deadline <= last_input() + config_.subscribe_timeout);
    previous = p.deadline;
  }
  for (const auto& [link, s] : subscribed_) {
    SMALTI_ASSERT(link < next_link_);
    SMALTI_ASSERT(s.deferred == 0 || deferred_at_ != Instant::max(), "a credit left behind");
  }
  SMALTI_ASSERT(stats_.admitted <= stats_.accepted);
}

}  // namespace smalti::streams
