// RapidCheck property of PingMachine: random sequences of inputs (start, response, request,
// random bytes, link closed, link connected, timeout) with non-decreasing times, checked against a
// small reference model after every step, and completion of every started ping exactly once after a
// final timeout far in the future.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <vector>

#include "smalti/ping/ping_machine.hpp"
#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {
namespace {

const PeerId kPeers[] = {PeerId{Digest::from_u64(1)}, PeerId{Digest::from_u64(2)},
                         PeerId{Digest::from_u64(3)}};
constexpr Instant kT0 = Instant::from_nanos(5'000'000'000);

Bytes request_frame(std::uint64_t nonce) {
  return encode(Message{Request{nonce}});
}
Bytes response_frame(std::uint64_t nonce) {
  return encode(Message{Response{nonce}});
}

// What must be in flight, and how each finished ping must be reported.
class Model {
 public:
  explicit Model(Duration timeout) : timeout_(timeout) {}

  void started(PingId id, const PeerId& peer, Instant now) {
    in_flight_.emplace(id, Sent{peer, now});
  }
  void frame(Instant now, const PeerId& from, ByteView bytes) {
    auto message = decode_message(bytes);
    if (!message.is_ok() || !std::holds_alternative<Response>(*message)) return;
    timeout(now);  // overdue pings fail before a response is matched
    auto it = in_flight_.find(std::get<Response>(*message).nonce);
    if (it == in_flight_.end() || it->second.peer != from) return;
    expected_.emplace(it->first, Result<Duration>(now - it->second.at));
    in_flight_.erase(it);
  }
  void link_closed(const PeerId& peer) {
    fail_if([&](const Sent& s) { return s.peer == peer; }, StatusCode::kUnavailable);
  }
  void timeout(Instant now) {
    fail_if([&](const Sent& s) { return now - s.at >= timeout_; }, StatusCode::kTimeout);
  }

  std::size_t in_flight() const { return in_flight_.size(); }
  Instant next_deadline() const {
    Instant oldest = Instant::max();
    for (const auto& [id, sent] : in_flight_) oldest = std::min(oldest, sent.at);
    return oldest == Instant::max() ? oldest : oldest + timeout_;
  }
  // True when `done` reports what the model expects for its ping.
  bool matches(const Completed& done) const {
    auto it = expected_.find(done.id);
    if (it == expected_.end() || done.rtt.is_ok() != it->second.is_ok()) return false;
    if (done.rtt.is_ok()) return *done.rtt == *it->second;
    return done.rtt.status().code() == it->second.status().code();
  }

 private:
  struct Sent {
    PeerId peer;
    Instant at;
  };
  template <typename Pred>
  void fail_if(Pred pred, StatusCode code) {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (pred(it->second)) {
        expected_.emplace(it->first, Status(code, "model"));
        it = in_flight_.erase(it);
      } else {
        ++it;
      }
    }
  }

  Duration timeout_;
  std::map<PingId, Sent> in_flight_;
  std::map<PingId, Result<Duration>> expected_;
};

struct Op {
  // 0 start, 1 response, 2 request, 3 random bytes, 4 link closed, 5 timeout, 6 connected
  int kind = 0;
  int peer = 0;
  std::int64_t advance_us = 0;
  std::uint64_t nonce = 0;
  Bytes bytes;
};

Op gen_op() {
  Op op;
  op.kind = *rc::gen::inRange(0, 7);
  op.peer = *rc::gen::inRange(0, 3);
  op.advance_us =
      *rc::gen::oneOf(rc::gen::just<std::int64_t>(0), rc::gen::inRange<std::int64_t>(0, 8'000'000));
  op.nonce = *rc::gen::inRange<std::uint64_t>(0, 40);
  if (op.kind == 3) op.bytes = *rc::gen::container<Bytes>(rc::gen::arbitrary<std::uint8_t>());
  return op;
}

RC_GTEST_PROP(PingMachineProperty, AgreesWithTheModelAndCompletesEveryPingOnce, ()) {
  const std::size_t max_outstanding = *rc::gen::inRange<std::size_t>(1, 20);
  const Config config{
      .timeout = Duration(*rc::gen::inRange<std::int64_t>(1, 10'000'000'000)),
      .max_outstanding = max_outstanding,
      .max_pending_effects = 4 * max_outstanding + 8 + *rc::gen::inRange<std::size_t>(0, 50)};
  PingMachine m(config);
  Model model(config.timeout);
  Instant now = kT0;
  std::map<PingId, PeerId> started;
  std::map<PingId, int> completions;
  std::map<PingId, int> requests_sent;
  std::map<PeerId, LinkToken> inbound;  // one inbound link per peer, opened on demand

  auto poll_some = [&](bool all) {
    int budget = all ? INT32_MAX : *rc::gen::inRange(0, 4);
    while (budget-- > 0) {
      auto e = m.poll_effect();
      if (!e) break;
      if (const auto* done = std::get_if<Completed>(&*e)) {
        RC_ASSERT(started.count(done->id) == 1u);
        RC_ASSERT(started.at(done->id) == done->peer);
        RC_ASSERT(model.matches(*done));
        ++completions[done->id];
      } else if (const auto* send = std::get_if<effect::Send>(&*e)) {
        auto message = decode_message(send->frame);
        RC_ASSERT(message.is_ok());
        if (const auto* request = std::get_if<Request>(&*message)) {
          RC_ASSERT(started.count(request->nonce) == 1u);
          ++requests_sent[request->nonce];
        }
      }
    }
  };
  auto inbound_link = [&](const PeerId& peer) {
    auto it = inbound.find(peer);
    if (it != inbound.end()) return it->second;
    auto link = m.handle_accepted(now, peer);
    RC_ASSERT(link.has_value());
    inbound[peer] = *link;
    return *link;
  };
  // Feeds a frame as the model sees it: taken only below the effect queue's input mark.
  auto feed = [&](const PeerId& from, LinkToken link, ByteView bytes) {
    const bool admitted = m.pending_effects() < m.effect_limit() / 2;
    m.handle_frame(now, link, bytes);
    if (!admitted) return;
    model.frame(now, from, bytes);
    if (!decode_message(bytes).is_ok()) inbound.erase(from);  // closed for the violation
  };

  const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::exec(gen_op));
  for (const Op& op : ops) {
    now += std::chrono::microseconds(op.advance_us);
    const PeerId& peer = kPeers[op.peer];
    const auto outbound = m.outbound_link(peer);
    switch (op.kind) {
      case 0: {
        const std::size_t in_flight = model.in_flight();
        model.timeout(now);  // start() first fails overdue pings, each with a Completed
        const std::size_t before = model.in_flight();
        const bool room = m.pending_effects() + (in_flight - before) < m.effect_limit() / 2;
        auto id = m.start(now, PeerAddr{peer, {"sim:1"}});
        if (id.is_ok()) {
          RC_ASSERT(started.count(*id) == 0u);
          started.emplace(*id, peer);
          model.started(*id, peer, now);
        } else {
          RC_ASSERT(id.status().code() == StatusCode::kLimitExceeded);
          RC_ASSERT(before == config.max_outstanding || !room);
        }
        break;
      }
      case 1: {
        // Answer a ping that was started (it may have finished already), or a random nonce.
        std::uint64_t nonce = op.nonce;
        if (op.nonce % 2 == 0 && !started.empty()) {
          auto it = started.begin();
          std::advance(it, static_cast<long>(op.nonce % started.size()));
          nonce = it->first;
        }
        feed(peer, outbound ? *outbound : inbound_link(peer), response_frame(nonce));
        break;
      }
      case 2:
        feed(peer, inbound_link(peer), request_frame(op.nonce));
        break;
      case 3:
        feed(peer, inbound_link(peer), op.bytes);
        break;
      case 4:
        if (outbound) {
          m.handle_link_closed(now, *outbound);
          model.link_closed(peer);
        }
        break;
      case 5:
        m.handle_timeout(now);
        model.timeout(now);
        break;
      default:
        if (outbound) m.handle_connected(now, *outbound);
        break;
    }
    m.invariants();
    RC_ASSERT(m.pending_effects() <= m.effect_limit());
    RC_ASSERT(m.outstanding() <= config.max_outstanding);
    RC_ASSERT(m.outstanding() == model.in_flight());
    RC_ASSERT(m.next_deadline() == model.next_deadline());
    poll_some(false);
  }
  now += config.timeout + 1h;
  m.handle_timeout(now);
  model.timeout(now);
  m.invariants();
  poll_some(true);
  RC_ASSERT(m.outstanding() == 0u);
  RC_ASSERT(m.next_deadline() == Instant::max());
  RC_ASSERT(completions.size() == started.size());
  for (const auto& [id, count] : completions) RC_ASSERT(count == 1);
  for (const auto& [id, count] : requests_sent) RC_ASSERT(count == 1);
  const Stats& s = m.stats();
  RC_ASSERT(s.started == started.size());
  RC_ASSERT(s.succeeded + s.timed_out + s.failed == s.started);
  RC_CLASSIFY(s.succeeded > 0, "some pings succeeded");
  RC_CLASSIFY(s.failed > 0, "some links closed with pings in flight");
  RC_CLASSIFY(s.malformed_frames > 0, "some frames were malformed");
}

}  // namespace
}  // namespace smalti::ping
