// Tests for PingMachine, input by input, with no I/O (the RapidCheck property over random input
// sequences is in ping_machine_property_test.cpp).
#include "smalti/ping/ping_machine.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <vector>

#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {
namespace {

const PeerId kPeerA{Digest::from_u64(1)};
const PeerId kPeerB{Digest::from_u64(2)};
const PeerId kPeerC{Digest::from_u64(3)};
constexpr Instant kT0 = Instant::from_nanos(5'000'000'000);

Bytes request_frame(std::uint64_t nonce) {
  return encode(Message{Request{nonce}});
}
Bytes response_frame(std::uint64_t nonce) {
  return encode(Message{Response{nonce}});
}

std::vector<Effect> drain(PingMachine& m) {
  std::vector<Effect> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

// Starts a ping and checks invariants; requires success.
PingId start_ok(PingMachine& m, Instant now, const PeerId& peer) {
  auto id = m.start(now, peer);
  m.invariants();
  SMALTI_ASSERT(id.is_ok(), "start failed");
  return *id;
}

void frame(PingMachine& m, Instant now, const PeerId& from, LinkToken link, ByteView bytes) {
  m.handle_frame(now, from, link, bytes);
  m.invariants();
}

TEST(PingMachineTest, StartEmitsAnEncodedRequest) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_EQ(m.stats().started, 1u);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* send = std::get_if<SendRequest>(&effects[0]);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->to, kPeerA);
  auto decoded = decode_message(send->frame);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  ASSERT_TRUE(std::holds_alternative<Request>(*decoded));
  EXPECT_EQ(std::get<Request>(*decoded).nonce, id);
  EXPECT_EQ(send->frame, request_frame(id));
  EXPECT_LE(send->frame.size(), kMaxFrameSize);
}

TEST(PingMachineTest, IdsAreDistinct) {
  PingMachine m;
  const PingId a = start_ok(m, kT0, kPeerA);
  const PingId b = start_ok(m, kT0, kPeerA);
  const PingId c = start_ok(m, kT0 + 1ms, kPeerB);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  EXPECT_EQ(m.outstanding(), 3u);
}

TEST(PingMachineTest, RequestIsAnsweredWithTheSameNonceOnTheSameLink) {
  PingMachine m;
  frame(m, kT0, kPeerB, 17, request_frame(0xdeadbeef));
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* reply = std::get_if<Reply>(&effects[0]);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->link, 17u);
  auto decoded = decode_message(reply->frame);
  ASSERT_TRUE(decoded.is_ok());
  ASSERT_TRUE(std::holds_alternative<Response>(*decoded));
  EXPECT_EQ(std::get<Response>(*decoded).nonce, 0xdeadbeefu);
  EXPECT_EQ(m.stats().requests_answered, 1u);
  EXPECT_EQ(m.outstanding(), 0u);  // answering starts nothing
}

TEST(PingMachineTest, ResponseCompletesWithTheRoundTripTime) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  drain(m);
  EXPECT_FALSE(m.rtt(kPeerA).has_value());
  frame(m, kT0 + 30ms, kPeerA, 3, response_frame(id));
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* done = std::get_if<Completed>(&effects[0]);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->id, id);
  EXPECT_EQ(done->peer, kPeerA);
  ASSERT_TRUE(done->rtt.is_ok());
  EXPECT_EQ(*done->rtt, 30ms);
  EXPECT_EQ(m.outstanding(), 0u);
  EXPECT_EQ(m.stats().succeeded, 1u);
  EXPECT_EQ(m.next_deadline(), Instant::max());
  // First sample (RFC 6298 2.2): SRTT = R, RTTVAR = R/2.
  auto rtt = m.rtt(kPeerA);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(rtt->srtt(), 30ms);
  EXPECT_EQ(rtt->rttvar(), 15ms);
  EXPECT_EQ(rtt->samples(), 1u);
  EXPECT_FALSE(m.rtt(kPeerB).has_value());
}

TEST(PingMachineTest, RttFollowsRfc6298OverThreeSamples) {
  PingMachine m;
  Instant now = kT0;
  const Duration samples[] = {100ms, 200ms, 50ms};
  for (Duration r : samples) {
    const PingId id = start_ok(m, now, kPeerA);
    now += r;
    frame(m, now, kPeerA, 1, response_frame(id));
    now += 1s;
  }
  // R1 = 100ms: SRTT = 100ms, RTTVAR = 50ms.
  // R2 = 200ms: RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5ms; SRTT = 7/8 * 100 + 1/8 * 200
  //             = 112.5ms.
  // R3 = 50ms:  RTTVAR = 3/4 * 62.5 + 1/4 * |112.5 - 50| = 62.5ms;
  //             SRTT = 7/8 * 112.5 + 1/8 * 50 = 104.6875ms.
  auto rtt = m.rtt(kPeerA);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(rtt->samples(), 3u);
  EXPECT_EQ(rtt->srtt(), Duration(104'687'500));
  EXPECT_EQ(rtt->rttvar(), Duration(62'500'000));
  EXPECT_EQ(m.stats().succeeded, 3u);
}

TEST(PingMachineTest, RttAfterTwoSamples) {
  PingMachine m;
  const PingId a = start_ok(m, kT0, kPeerA);
  frame(m, kT0 + 100ms, kPeerA, 1, response_frame(a));
  const PingId b = start_ok(m, kT0 + 1s, kPeerA);
  frame(m, kT0 + 1s + 200ms, kPeerA, 1, response_frame(b));
  auto rtt = m.rtt(kPeerA);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(rtt->srtt(), Duration(112'500'000));
  EXPECT_EQ(rtt->rttvar(), Duration(62'500'000));
}

TEST(PingMachineTest, UnknownNonceIsCountedAndIgnored) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  drain(m);
  frame(m, kT0 + 1ms, kPeerA, 1, response_frame(id + 1000));
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_FALSE(m.rtt(kPeerA).has_value());
}

TEST(PingMachineTest, ResponseFromTheWrongPeerIsCountedAndIgnored) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  drain(m);
  frame(m, kT0 + 1ms, kPeerB, 1, response_frame(id));
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_FALSE(m.rtt(kPeerB).has_value());
  // The right peer still completes it.
  frame(m, kT0 + 2ms, kPeerA, 2, response_frame(id));
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<Completed>(effects[0]).rtt.value(), 2ms);
}

TEST(PingMachineTest, DuplicateResponseIsUnexpected) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  frame(m, kT0 + 1ms, kPeerA, 1, response_frame(id));
  drain(m);
  frame(m, kT0 + 2ms, kPeerA, 1, response_frame(id));
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  EXPECT_EQ(m.stats().succeeded, 1u);
  EXPECT_EQ(m.rtt(kPeerA)->samples(), 1u);
}

struct MalformedCase {
  const char* name;
  Bytes bytes;
  StatusCode code;
};

std::vector<MalformedCase> malformed_cases() {
  Bytes trailing = request_frame(5);
  trailing.push_back(0);
  Bytes oversized = request_frame(5);
  oversized.resize(kMaxFrameSize + 1, 0);
  Bytes huge(1u << 16, 0xff);
  return {
      {"empty", {}, StatusCode::kMalformed},
      {"garbage", {0xff, 0xff, 0xff}, StatusCode::kMalformed},
      {"variant index out of range", {0x02, 0x01}, StatusCode::kMalformed},
      {"truncated nonce", {0x00, 0x80}, StatusCode::kMalformed},
      {"non-canonical varint", {0x00, 0x80, 0x00}, StatusCode::kMalformed},
      {"trailing bytes", trailing, StatusCode::kMalformed},
      {"oversized", oversized, StatusCode::kLimitExceeded},
      {"huge", huge, StatusCode::kLimitExceeded},
  };
}

TEST(PingMachineTest, MalformedFramesYieldViolationsAndNeverCrash) {
  for (const MalformedCase& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    PingMachine m;
    start_ok(m, kT0, kPeerA);
    drain(m);
    frame(m, kT0 + 1ms, kPeerA, 42, c.bytes);
    auto effects = drain(m);
    ASSERT_EQ(effects.size(), 1u);
    const auto* bad = std::get_if<Violation>(&effects[0]);
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->link, 42u);
    EXPECT_EQ(bad->reason.code(), c.code) << bad->reason.to_string();
    EXPECT_EQ(m.stats().malformed_frames, 1u);
    EXPECT_EQ(m.outstanding(), 1u);  // a bad frame does not fail pings by itself
    EXPECT_EQ(m.stats().requests_answered, 0u);
  }
}

TEST(PingMachineTest, DecodeMessageBoundaries) {
  Bytes at_limit = request_frame(1);
  EXPECT_TRUE(decode_message(at_limit).is_ok());
  EXPECT_EQ(decode_message(response_frame(UINT64_MAX)).value(), Message{Response{UINT64_MAX}});
  Bytes over(kMaxFrameSize + 1, 0);
  EXPECT_EQ(decode_message(over).status().code(), StatusCode::kLimitExceeded);
}

TEST(PingMachineTest, LinkClosedFailsOnlyThatPeersPings) {
  PingMachine m;
  const PingId a1 = start_ok(m, kT0, kPeerA);
  const PingId b1 = start_ok(m, kT0, kPeerB);
  const PingId a2 = start_ok(m, kT0 + 1ms, kPeerA);
  drain(m);
  m.handle_link_closed(kT0 + 2ms, kPeerA);
  m.invariants();
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 2u);
  std::set<PingId> failed;
  for (const Effect& e : effects) {
    const auto& done = std::get<Completed>(e);
    EXPECT_EQ(done.peer, kPeerA);
    ASSERT_FALSE(done.rtt.is_ok());
    EXPECT_EQ(done.rtt.status().code(), StatusCode::kUnavailable);
    failed.insert(done.id);
  }
  EXPECT_EQ(failed, (std::set<PingId>{a1, a2}));
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_EQ(m.stats().failed, 2u);
  // b1 is untouched and still completes.
  frame(m, kT0 + 3ms, kPeerB, 9, response_frame(b1));
  EXPECT_EQ(std::get<Completed>(drain(m).at(0)).id, b1);
  // Closing a link to a peer with nothing in flight does nothing.
  m.handle_link_closed(kT0 + 4ms, kPeerC);
  EXPECT_TRUE(drain(m).empty());
}

TEST(PingMachineTest, TimeoutFailsOldPingsAndNextDeadlineTracksTheOldest) {
  PingMachine m(Config{.timeout = 5s});
  EXPECT_EQ(m.next_deadline(), Instant::max());
  const PingId first = start_ok(m, kT0, kPeerA);
  const PingId second = start_ok(m, kT0 + 2s, kPeerB);
  drain(m);
  EXPECT_EQ(m.next_deadline(), kT0 + 5s);
  m.handle_timeout(kT0 + 5s - 1ns);
  m.invariants();
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.outstanding(), 2u);
  m.handle_timeout(kT0 + 5s);
  m.invariants();
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto& done = std::get<Completed>(effects[0]);
  EXPECT_EQ(done.id, first);
  EXPECT_EQ(done.peer, kPeerA);
  EXPECT_EQ(done.rtt.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(m.stats().timed_out, 1u);
  EXPECT_EQ(m.next_deadline(), kT0 + 7s);
  // A response after the timeout is unexpected.
  frame(m, kT0 + 6s, kPeerA, 1, response_frame(first));
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  m.handle_timeout(kT0 + 1h);
  effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<Completed>(effects[0]).id, second);
  EXPECT_EQ(m.next_deadline(), Instant::max());
}

TEST(PingMachineTest, MaxOutstandingGivesLimitExceeded) {
  PingMachine m(Config{.max_outstanding = 2});
  const PingId a = start_ok(m, kT0, kPeerA);
  start_ok(m, kT0, kPeerB);
  auto third = m.start(kT0, kPeerC);
  m.invariants();
  ASSERT_FALSE(third.is_ok());
  EXPECT_EQ(third.status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(m.stats().started, 2u);
  EXPECT_EQ(m.outstanding(), 2u);
  EXPECT_EQ(drain(m).size(), 2u);  // no SendRequest for the refused ping
  frame(m, kT0 + 1ms, kPeerA, 1, response_frame(a));
  EXPECT_TRUE(m.start(kT0 + 2ms, kPeerC).is_ok());
}

TEST(PingMachineTest, MaxPendingEffectsDropsRequests) {
  PingMachine m(Config{.max_pending_effects = 2});
  for (std::uint64_t n = 0; n < 5; ++n) frame(m, kT0, kPeerB, 1, request_frame(n));
  EXPECT_EQ(m.stats().requests_answered, 2u);
  EXPECT_EQ(m.stats().dropped_requests, 3u);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 2u);
  EXPECT_EQ(std::get<Reply>(effects[0]).frame, response_frame(0));
  EXPECT_EQ(std::get<Reply>(effects[1]).frame, response_frame(1));
  // Once drained, requests are answered again.
  frame(m, kT0, kPeerB, 1, request_frame(9));
  EXPECT_EQ(m.stats().requests_answered, 3u);
}

TEST(PingMachineTest, EqualTimesAreAllowed) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  frame(m, kT0, kPeerA, 1, response_frame(id));
  m.handle_timeout(kT0);
  m.handle_link_closed(kT0, kPeerA);
  m.invariants();
  EXPECT_EQ(m.rtt(kPeerA)->srtt(), Duration::zero());
}

TEST(PingMachineDeathTest, TimeGoingBackwardsIsAProgrammerError) {
  EXPECT_DEATH(
      {
        PingMachine m;
        (void)m.start(kT0, kPeerA);
        (void)m.start(kT0 - 1ns, kPeerA);
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_timeout(kT0);
        m.handle_frame(kT0 - 1ms, kPeerA, 1, request_frame(1));
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_timeout(kT0);
        m.handle_link_closed(kT0 - 1ms, kPeerA);
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_link_closed(kT0, kPeerA);
        m.handle_timeout(kT0 - 1s);
      },
      "time went backwards");
}

}  // namespace
}  // namespace smalti::ping
