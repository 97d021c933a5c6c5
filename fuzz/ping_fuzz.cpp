// libFuzzer target for the ping protocol: ping::decode_message and PingMachine.
//
// The raw input is first decoded as one ping frame: a frame that decodes must re-encode to the
// very same bytes (the codec is canonical), and anything else must be rejected with kMalformed
// or kLimitExceeded. Then the input drives a PingMachine. Bytes 0..3 pick the Config; after
// that each step is an opcode byte (low 3 bits: the input, next 2 bits: the peer, top bits:
// whether to pull effects) and a time byte (how far `now` advances, never backwards), followed
// for frame inputs by a length byte and that many frame bytes. Checked after every step:
//   - invariants() holds, outstanding() stays within max_outstanding, next_deadline() is at
//     most now + timeout while pings are in flight, the effect queue within its limit;
//   - every effect is well formed: a Connect opens the peer's outbound link, requests and
//     replies decode and go on a link the machine knows, Completed names a started ping of the
//     same peer;
//   - a small reference model agrees: the same pings in flight, the same next_deadline(), the
//     same number of effects waiting, each ping finished with the same RTT or the same code
//     (response from its peer, kUnavailable when its link closed or broke the protocol,
//     kTimeout), the same dropped inputs;
//   - after a final timeout far in the future, every started ping completed exactly once.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"
#include "smalti/base/assert.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/ping/ping_machine.hpp"
#include "smalti/ping/ping_messages.hpp"

namespace {

using smalti::Bytes;
using smalti::ByteView;
using smalti::Duration;
using smalti::Instant;
using smalti::PeerId;
using smalti::StatusCode;
namespace ping = smalti::ping;

using Input = smalti::fuzz::FuzzInput;

void check_decode(ByteView raw) {
  smalti::fuzz::check_canonical_decode(
      raw, [](ByteView b) { return ping::decode_message(b); }, ping::kMaxFrameSize);
}

class Driver {
 public:
  explicit Driver(ping::Config config) : config_(config), machine_(config) {}

  void run(Input& in) {
    while (!in.empty()) {
      const std::uint8_t op = in.byte();
      const std::uint8_t dt = in.byte();
      // Mostly small steps, sometimes past the timeout.
      now_ += dt < 200 ? Duration(dt * 1000) : Duration(std::chrono::milliseconds(dt - 199) * 100);
      const int peer = (op >> 3) % 3;
      switch (op & 7) {
        case 0:
          start(peer);
          break;
        case 1:
          respond_to_started(in.byte());
          break;
        case 2:
          feed_inbound(peer, smalti::encode(ping::Message{ping::Request{in.byte()}}));
          break;
        case 3:
          feed_inbound(peer, in.take(in.byte() % (ping::kMaxFrameSize + 8)));
          break;
        case 4:
          close_outbound(peer);
          break;
        case 5:
          connected(peer);
          break;
        case 6:
          feed_outbound(peer, in.take(in.byte() % (ping::kMaxFrameSize + 8)));
          break;
        default:  // jump to the next deadline, exactly
          if (machine_.next_deadline() != Instant::max()) {
            now_ = std::max(now_, machine_.next_deadline());
          }
          timeout();
          break;
      }
      check_step();
      if ((op >> 5) != 0) drain((op >> 5) * 2);
    }
    now_ += config_.timeout + std::chrono::hours(1);
    timeout();
    check_step();
    drain(SIZE_MAX);
    SMALTI_ASSERT(machine_.outstanding() == 0, "pings left in flight after the final timeout");
    SMALTI_ASSERT(machine_.next_deadline() == Instant::max());
    SMALTI_ASSERT(completions_.size() == started_.size(), "a started ping never completed");
    for (const auto& [id, count] : completions_) {
      SMALTI_ASSERT(count == 1, "a ping completed more than once");
    }
    const ping::Stats& s = machine_.stats();
    SMALTI_ASSERT(s.started == started_.size());
    SMALTI_ASSERT(s.succeeded + s.timed_out + s.failed == s.started);
    SMALTI_ASSERT(machine_.dropped_inputs() == model_dropped_, "dropped inputs differ");
    SMALTI_ASSERT(s.requests_answered == model_answered_);
  }

 private:
  // The reference model: what is in flight, each peer's links, and how each finished ping must
  // be reported.
  struct Sent {
    int peer = 0;
    Instant at;
  };
  struct Outbound {
    smalti::LinkToken link = 0;
    bool connected = false;
    std::vector<ping::PingId> queued;  // requests waiting for the connect
  };

  bool below_mark() const { return model_pending_ < config_.max_pending_effects / 2; }

  // A frame on peer's inbound link (accepted on first use).
  void feed_inbound(int peer, ByteView frame) {
    if (!inbound_[peer]) {
      inbound_[peer] = machine_.handle_accepted(now_, peers_[peer]);
      SMALTI_ASSERT(inbound_[peer].has_value(), "an inbound link refused below the bound");
    }
    if (feed(peer, *inbound_[peer], frame) == Outcome::kClosed) inbound_[peer].reset();
  }

  // A frame on peer's outbound link, when it has a connected one.
  void feed_outbound(int peer, ByteView frame) {
    if (!outbound_[peer] || !outbound_[peer]->connected) return;
    if (feed(peer, outbound_[peer]->link, frame) == Outcome::kClosed) {
      outbound_[peer].reset();
      model_fail_if([&](const Sent& s) { return s.peer == peer; }, StatusCode::kUnavailable);
    }
  }

  enum class Outcome { kDropped, kTaken, kClosed };
  // Feeds one frame to the machine and applies it to the model.
  Outcome feed(int peer, smalti::LinkToken link, ByteView frame) {
    const bool admitted = below_mark();
    machine_.handle_frame(now_, link, frame);
    if (!admitted) {
      ++model_dropped_;
      return Outcome::kDropped;
    }
    auto message = ping::decode_message(frame);
    if (!message.is_ok()) {
      ++model_pending_;  // the Close
      return Outcome::kClosed;
    }
    if (std::holds_alternative<ping::Request>(*message)) {
      ++model_answered_;
      ++model_pending_;
      return Outcome::kTaken;
    }
    const std::uint64_t nonce = std::get<ping::Response>(*message).nonce;
    model_expire();  // overdue pings fail before a response is matched
    auto it = model_in_flight_.find(nonce);
    if (it == model_in_flight_.end() || it->second.peer != peer) return Outcome::kTaken;
    expected_.emplace(nonce, smalti::Result<Duration>(now_ - it->second.at));
    model_in_flight_.erase(it);
    ++model_pending_;
    return Outcome::kTaken;
  }

  void connected(int peer) {
    if (!outbound_[peer] || outbound_[peer]->connected) return;
    machine_.handle_connected(now_, outbound_[peer]->link);
    outbound_[peer]->connected = true;
    // Only the requests of pings still in flight go out.
    for (ping::PingId id : outbound_[peer]->queued) model_pending_ += model_in_flight_.count(id);
    outbound_[peer]->queued.clear();
  }

  void close_outbound(int peer) {
    if (!outbound_[peer]) return;
    machine_.handle_link_closed(now_, outbound_[peer]->link);
    outbound_[peer].reset();
    model_fail_if([&](const Sent& s) { return s.peer == peer; }, StatusCode::kUnavailable);
  }

  void timeout() {
    machine_.handle_timeout(now_);
    model_expire();
  }

  void model_expire() {
    model_fail_if([&](const Sent& s) { return now_ - s.at >= config_.timeout; },
                  StatusCode::kTimeout);
  }

  template <typename Pred>
  void model_fail_if(Pred pred, StatusCode code) {
    for (auto it = model_in_flight_.begin(); it != model_in_flight_.end();) {
      if (pred(it->second)) {
        expected_.emplace(it->first, smalti::Status(code, "model"));
        ++model_pending_;
        it = model_in_flight_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void start(int peer) {
    model_expire();  // start() first fails overdue pings
    const bool full = model_in_flight_.size() >= config_.max_outstanding;
    const bool queue_full = outbound_[peer] && !outbound_[peer]->connected &&
                            outbound_[peer]->queued.size() >= config_.max_queued_per_peer;
    auto id = machine_.start(now_, smalti::PeerAddr{peers_[peer], {"sim:1"}});
    if (!id.is_ok()) {
      SMALTI_ASSERT(id.status().code() == StatusCode::kLimitExceeded);
      SMALTI_ASSERT(full || !below_mark() || queue_full, "refused a ping below every limit");
      return;
    }
    SMALTI_ASSERT(!full && below_mark() && !queue_full, "took a ping past a limit");
    SMALTI_ASSERT(started_.count(*id) == 0, "a ping id was reused");
    started_.emplace(*id, peer);
    model_in_flight_.emplace(*id, Sent{peer, now_});
    if (!outbound_[peer]) {
      auto link = machine_.outbound_link(peers_[peer]);
      SMALTI_ASSERT(link.has_value(), "no outbound link after a ping");
      outbound_[peer] = Outbound{*link, false, {}};
      ++model_pending_;  // the Connect
    }
    if (outbound_[peer]->connected) {
      ++model_pending_;
    } else {
      outbound_[peer]->queued.push_back(*id);
    }
  }

  void respond_to_started(std::uint8_t pick) {
    if (started_.empty()) return;
    auto it = started_.begin();
    std::advance(it, static_cast<long>(pick % started_.size()));
    feed_outbound(it->second, smalti::encode(ping::Message{ping::Response{it->first}}));
  }

  void check_step() {
    machine_.invariants();
    SMALTI_ASSERT(machine_.pending_effects() <= machine_.effect_limit());
    SMALTI_ASSERT(machine_.outstanding() <= config_.max_outstanding);
    SMALTI_ASSERT(machine_.outstanding() == model_in_flight_.size(),
                  "in flight differs from model");
    if (model_in_flight_.empty()) {
      SMALTI_ASSERT(machine_.next_deadline() == Instant::max());
    } else {
      Instant oldest = Instant::max();
      for (const auto& [id, sent] : model_in_flight_) oldest = std::min(oldest, sent.at);
      SMALTI_ASSERT(machine_.next_deadline() == oldest + config_.timeout, "wrong next_deadline");
    }
  }

  void drain(std::size_t budget) {
    while (budget-- > 0) {
      auto effect = machine_.poll_effect();
      if (!effect) {
        SMALTI_ASSERT(model_pending_ == 0, "fewer effects than the model expects");
        return;
      }
      SMALTI_ASSERT(model_pending_ > 0, "more effects than the model expects");
      --model_pending_;
      if (const auto* done = std::get_if<ping::Completed>(&*effect)) {
        auto it = started_.find(done->id);
        SMALTI_ASSERT(it != started_.end(), "completed a ping that was never started");
        SMALTI_ASSERT(peers_[it->second] == done->peer, "completed a ping with the wrong peer");
        auto want = expected_.find(done->id);
        SMALTI_ASSERT(want != expected_.end(), "completed a ping the model has in flight");
        if (want->second.is_ok()) {
          SMALTI_ASSERT(done->rtt.is_ok() && *done->rtt == *want->second, "wrong RTT");
        } else {
          SMALTI_ASSERT(!done->rtt.is_ok(), "succeeded where the model failed");
          SMALTI_ASSERT(done->rtt.status().code() == want->second.status().code(), "wrong code");
        }
        ++completions_[done->id];
      } else if (const auto* send = std::get_if<smalti::effect::Send>(&*effect)) {
        SMALTI_ASSERT(ping::decode_message(send->frame).is_ok(), "an undecodable frame sent");
      } else if (const auto* connect = std::get_if<smalti::effect::Connect>(&*effect)) {
        SMALTI_ASSERT(connect->alpn == ping::kAlpn, "a link opened on another protocol");
      } else {
        const auto& close = std::get<smalti::effect::Close>(*effect);
        SMALTI_ASSERT(close.code == smalti::env::close_code::kProtocolViolation);
      }
    }
  }

  ping::Config config_;
  ping::PingMachine machine_;
  const PeerId peers_[3] = {PeerId{smalti::Digest::from_u64(1)},
                            PeerId{smalti::Digest::from_u64(2)},
                            PeerId{smalti::Digest::from_u64(3)}};
  Instant now_ = Instant::from_nanos(1'000'000'000);
  std::optional<Outbound> outbound_[3];
  std::optional<smalti::LinkToken> inbound_[3];
  std::map<ping::PingId, int> started_;
  std::map<ping::PingId, int> completions_;
  std::map<ping::PingId, Sent> model_in_flight_;
  std::map<ping::PingId, smalti::Result<Duration>> expected_;
  std::size_t model_pending_ = 0;
  std::uint64_t model_dropped_ = 0;
  std::uint64_t model_answered_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(ByteView(data, size));
  Input in(data, size);
  ping::Config config;
  config.timeout = std::chrono::milliseconds(1 + in.byte()) * 20;
  config.max_outstanding = 1 + in.byte() % 8;
  config.max_pending_effects = 4 * config.max_outstanding + 8 + in.byte() % 16;
  config.max_queued_per_peer = 1 + in.byte() % 4;
  Driver driver(config);
  driver.run(in);
  return 0;
}
