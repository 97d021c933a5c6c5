// Tests for PingMachine, input by input, with no I/O (the RapidCheck property over random input
// sequences is in ping_machine_property_test.cpp).
#include "smalti/ping/ping_machine.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <vector>

#include "smalti/env/transport.hpp"
#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {
namespace {

const PeerId kPeerA{Digest::from_u64(1)};
const PeerId kPeerB{Digest::from_u64(2)};
const PeerId kPeerC{Digest::from_u64(3)};
constexpr Instant kT0 = Instant::from_nanos(5'000'000'000);

PeerAddr addr(const PeerId& peer) {
  return PeerAddr{peer, {"sim:" + peer.short_hex()}};
}
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

template <typename T>
std::vector<T> only(const std::vector<Effect>& effects) {
  std::vector<T> out;
  for (const Effect& e : effects) {
    if (const auto* t = std::get_if<T>(&e)) out.push_back(*t);
  }
  return out;
}

// Starts a ping and checks invariants; requires success.
PingId start_ok(PingMachine& m, Instant now, const PeerId& peer) {
  auto id = m.start(now, addr(peer));
  m.invariants();
  SMALTI_ASSERT(id.is_ok(), "start failed");
  return *id;
}

// The outbound link to `peer`, reported connected (requests queued on it go out).
LinkToken connect(PingMachine& m, Instant now, const PeerId& peer) {
  auto link = m.outbound_link(peer);
  SMALTI_ASSERT(link.has_value(), "no outbound link");
  m.handle_connected(now, *link);
  m.invariants();
  return *link;
}

// Starts a ping on an open link and drops its effects.
PingId start_connected(PingMachine& m, Instant now, const PeerId& peer) {
  const PingId id = start_ok(m, now, peer);
  connect(m, now, peer);
  drain(m);
  return id;
}

void frame(PingMachine& m, Instant now, LinkToken link, ByteView bytes) {
  m.handle_frame(now, link, bytes);
  m.invariants();
}

// Answers the ping `id` from `peer` on its outbound link.
void respond(PingMachine& m, Instant now, const PeerId& peer, PingId id) {
  frame(m, now, *m.outbound_link(peer), response_frame(id));
}

LinkToken accept(PingMachine& m, Instant now, const PeerId& from) {
  auto link = m.handle_accepted(now, from);
  m.invariants();
  SMALTI_ASSERT(link.has_value(), "inbound link refused");
  return *link;
}

TEST(PingMachineTest, TheFirstPingOpensALinkAndSendsOnceConnected) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_EQ(m.stats().started, 1u);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* open = std::get_if<effect::Connect>(&effects[0]);
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(open->addr, addr(kPeerA));
  EXPECT_EQ(open->alpn, kAlpn);
  const LinkToken link = open->link;
  EXPECT_EQ(m.outbound_link(kPeerA), link);
  // Nothing is sent before the link is up; then the queued request goes out on it.
  m.handle_connected(kT0 + 1ms, link);
  effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* send = std::get_if<effect::Send>(&effects[0]);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->link, link);
  EXPECT_EQ(send->frame, request_frame(id));
  EXPECT_LE(send->frame.size(), kMaxFrameSize);
}

TEST(PingMachineTest, LaterPingsReuseTheOpenLink) {
  PingMachine m;
  start_connected(m, kT0, kPeerA);
  const LinkToken link = *m.outbound_link(kPeerA);
  const PingId second = start_ok(m, kT0 + 1ms, kPeerA);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<effect::Send>(effects[0]).link, link);
  EXPECT_EQ(std::get<effect::Send>(effects[0]).frame, request_frame(second));
  // Another peer gets a link of its own.
  start_ok(m, kT0 + 2ms, kPeerB);
  effects = drain(m);
  ASSERT_EQ(only<effect::Connect>(effects).size(), 1u);
  EXPECT_NE(only<effect::Connect>(effects)[0].link, link);
}

TEST(PingMachineTest, PingsStartedWhileConnectingAllGoOutInOrder) {
  PingMachine m;
  const PingId a = start_ok(m, kT0, kPeerA);
  const PingId b = start_ok(m, kT0, kPeerA);
  EXPECT_EQ(only<effect::Connect>(drain(m)).size(), 1u);
  connect(m, kT0 + 1ms, kPeerA);
  auto sends = only<effect::Send>(drain(m));
  ASSERT_EQ(sends.size(), 2u);
  EXPECT_EQ(sends[0].frame, request_frame(a));
  EXPECT_EQ(sends[1].frame, request_frame(b));
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
  const LinkToken link = accept(m, kT0, kPeerB);
  frame(m, kT0, link, request_frame(0xdeadbeef));
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* reply = std::get_if<effect::Send>(&effects[0]);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->link, link);
  auto decoded = decode_message(reply->frame);
  ASSERT_TRUE(decoded.is_ok());
  ASSERT_TRUE(std::holds_alternative<Response>(*decoded));
  EXPECT_EQ(std::get<Response>(*decoded).nonce, 0xdeadbeefu);
  EXPECT_EQ(m.stats().requests_answered, 1u);
  EXPECT_EQ(m.outstanding(), 0u);  // answering starts nothing
}

TEST(PingMachineTest, ResponseCompletesWithTheRoundTripTime) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  EXPECT_FALSE(m.rtt(kPeerA).has_value());
  respond(m, kT0 + 30ms, kPeerA, id);
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
    const PingId id = start_connected(m, now, kPeerA);
    now += r;
    respond(m, now, kPeerA, id);
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

TEST(PingMachineTest, UnknownNonceIsCountedAndIgnored) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  respond(m, kT0 + 1ms, kPeerA, id + 1000);
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_FALSE(m.rtt(kPeerA).has_value());
}

TEST(PingMachineTest, ResponseFromTheWrongPeerIsCountedAndIgnored) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  const LinkToken from_b = accept(m, kT0, kPeerB);
  frame(m, kT0 + 1ms, from_b, response_frame(id));
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  EXPECT_EQ(m.outstanding(), 1u);
  EXPECT_FALSE(m.rtt(kPeerB).has_value());
  // The right peer still completes it.
  respond(m, kT0 + 2ms, kPeerA, id);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<Completed>(effects[0]).rtt.value(), 2ms);
}

TEST(PingMachineTest, DuplicateResponseIsUnexpected) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  respond(m, kT0 + 1ms, kPeerA, id);
  drain(m);
  respond(m, kT0 + 2ms, kPeerA, id);
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

TEST(PingMachineTest, MalformedFramesCloseTheirLinkAndNeverCrash) {
  for (const MalformedCase& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    PingMachine m;
    start_connected(m, kT0, kPeerA);
    const LinkToken link = accept(m, kT0, kPeerB);
    frame(m, kT0 + 1ms, link, c.bytes);
    auto effects = drain(m);
    ASSERT_EQ(effects.size(), 1u);
    const auto* bad = std::get_if<effect::Close>(&effects[0]);
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->link, link);
    EXPECT_EQ(bad->code, env::close_code::kProtocolViolation);
    EXPECT_EQ(m.stats().malformed_frames, 1u);
    EXPECT_EQ(m.outstanding(), 1u);  // another peer's bad link fails no ping
    EXPECT_EQ(m.stats().requests_answered, 0u);
    EXPECT_EQ(m.links(), 1u);  // the closed link is forgotten at once
    // Its late frames are ignored.
    frame(m, kT0 + 2ms, link, request_frame(1));
    EXPECT_TRUE(drain(m).empty());
  }
}

TEST(PingMachineTest, AMalformedAnswerOnAnOutboundLinkFailsThatPeersPings) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  const LinkToken link = *m.outbound_link(kPeerA);
  frame(m, kT0 + 1ms, link, Bytes{0xff});
  auto effects = drain(m);
  ASSERT_EQ(only<effect::Close>(effects).size(), 1u);
  auto done = only<Completed>(effects);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(done[0].rtt.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(m.outbound_link(kPeerA).has_value());
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
  const PingId a1 = start_connected(m, kT0, kPeerA);
  const PingId b1 = start_connected(m, kT0, kPeerB);
  const PingId a2 = start_connected(m, kT0 + 1ms, kPeerA);
  const LinkToken from_c = accept(m, kT0 + 1ms, kPeerC);
  m.handle_link_closed(kT0 + 2ms, *m.outbound_link(kPeerA));
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
  respond(m, kT0 + 3ms, kPeerB, b1);
  EXPECT_EQ(std::get<Completed>(drain(m).at(0)).id, b1);
  // An inbound link closing fails nothing; an unknown token is ignored.
  m.handle_link_closed(kT0 + 4ms, from_c);
  m.handle_link_closed(kT0 + 4ms, 999);
  m.invariants();
  EXPECT_TRUE(drain(m).empty());
  // The next ping to A opens a new link.
  start_ok(m, kT0 + 5ms, kPeerA);
  EXPECT_EQ(only<effect::Connect>(drain(m)).size(), 1u);
}

TEST(PingMachineTest, AFailedConnectFailsThePingsWaitingForIt) {
  PingMachine m;
  const PingId id = start_ok(m, kT0, kPeerA);
  drain(m);
  m.handle_link_closed(kT0 + 1ms, *m.outbound_link(kPeerA));
  auto done = only<Completed>(drain(m));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(done[0].rtt.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(m.links(), 0u);
}

TEST(PingMachineTest, RequestsQueuedForAConnectingLinkAreBounded) {
  PingMachine m(Config{.max_queued_per_peer = 2});
  start_ok(m, kT0, kPeerA);
  start_ok(m, kT0, kPeerA);
  auto third = m.start(kT0, addr(kPeerA));
  ASSERT_FALSE(third.is_ok());
  EXPECT_EQ(third.status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(m.outstanding(), 2u);
  // Other peers are not affected, and once connected the peer takes pings again.
  EXPECT_TRUE(m.start(kT0, addr(kPeerB)).is_ok());
  connect(m, kT0 + 1ms, kPeerA);
  EXPECT_TRUE(m.start(kT0 + 1ms, addr(kPeerA)).is_ok());
}

TEST(PingMachineTest, InboundLinksAreBounded) {
  PingMachine m(Config{.max_inbound_links = 2});
  const LinkToken first = accept(m, kT0, kPeerA);
  accept(m, kT0, kPeerB);
  EXPECT_FALSE(m.handle_accepted(kT0, kPeerC).has_value());
  EXPECT_EQ(m.stats().refused_links, 1u);
  m.handle_link_closed(kT0 + 1ms, first);
  EXPECT_TRUE(m.handle_accepted(kT0 + 1ms, kPeerC).has_value());
  m.invariants();
}

TEST(PingMachineTest, ARefusedRequestFailsItsPingWithTheReason) {
  PingMachine m;
  const PingId kept = start_connected(m, kT0, kPeerA);
  const PingId refused = start_ok(m, kT0 + 1ms, kPeerA);
  auto sends = only<effect::Send>(drain(m));
  ASSERT_EQ(sends.size(), 1u);
  m.handle_send_refused(kT0 + 1ms, sends[0].link, sends[0].frame,
                        error(StatusCode::kLimitExceeded, "send window full"));
  m.invariants();
  auto done = only<Completed>(drain(m));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, refused);
  EXPECT_EQ(done[0].rtt.status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(m.outstanding(), 1u);
  respond(m, kT0 + 2ms, kPeerA, kept);  // the link itself still works
  EXPECT_EQ(m.stats().succeeded, 1u);
}

TEST(PingMachineTest, ARequestRefusedByAnEndedLinkGoesOutOnANewLink) {
  PingMachine m;
  const PingId lost = start_connected(m, kT0, kPeerA);
  const LinkToken old = *m.outbound_link(kPeerA);
  const PingId retried = start_ok(m, kT0 + 1ms, kPeerA);
  auto sends = only<effect::Send>(drain(m));
  ASSERT_EQ(sends.size(), 1u);
  // The link ended (a reset not reported yet): the send is refused as closed.
  m.handle_send_refused(kT0 + 1ms, old, sends[0].frame,
                        error(StatusCode::kUnavailable, "link is closed"));
  m.invariants();
  auto effects = drain(m);
  auto closes = only<effect::Close>(effects);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].link, old);
  auto opens = only<effect::Connect>(effects);
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_NE(opens[0].link, old);
  EXPECT_EQ(opens[0].addr, addr(kPeerA));
  // The ping sent earlier on the dead link fails now; the refused one waits for the new link.
  auto done = only<Completed>(effects);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, lost);
  EXPECT_EQ(m.outstanding(), 1u);
  connect(m, kT0 + 2ms, kPeerA);
  sends = only<effect::Send>(drain(m));
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].link, opens[0].link);
  EXPECT_EQ(sends[0].frame, request_frame(retried));
  // The old link's late report changes nothing.
  m.handle_link_closed(kT0 + 3ms, old);
  EXPECT_TRUE(drain(m).empty());
  respond(m, kT0 + 4ms, kPeerA, retried);
  EXPECT_EQ(m.stats().succeeded, 1u);
}

TEST(PingMachineTest, ARefusedAnswerChangesNothing) {
  PingMachine m;
  const LinkToken link = accept(m, kT0, kPeerB);
  m.handle_send_refused(kT0, link, response_frame(4), error(StatusCode::kUnavailable, "closed"));
  m.invariants();
  EXPECT_TRUE(drain(m).empty());
  EXPECT_EQ(m.links(), 1u);
}

TEST(PingMachineTest, TimeoutFailsOldPingsAndNextDeadlineTracksTheOldest) {
  PingMachine m(Config{.timeout = 5s});
  EXPECT_EQ(m.next_deadline(), Instant::max());
  const PingId first = start_connected(m, kT0, kPeerA);
  const PingId second = start_connected(m, kT0 + 2s, kPeerB);
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
  respond(m, kT0 + 6s, kPeerA, first);
  EXPECT_EQ(m.stats().unexpected_responses, 1u);
  m.handle_timeout(kT0 + 1h);
  effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<Completed>(effects[0]).id, second);
  EXPECT_EQ(m.next_deadline(), Instant::max());
}

TEST(PingMachineTest, MaxOutstandingGivesLimitExceeded) {
  PingMachine m(Config{.max_outstanding = 2});
  const PingId a = start_connected(m, kT0, kPeerA);
  start_connected(m, kT0, kPeerB);
  auto third = m.start(kT0, addr(kPeerC));
  m.invariants();
  ASSERT_FALSE(third.is_ok());
  EXPECT_EQ(third.status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(m.stats().started, 2u);
  EXPECT_EQ(m.outstanding(), 2u);
  EXPECT_TRUE(drain(m).empty());  // nothing for the refused ping
  respond(m, kT0 + 1ms, kPeerA, a);
  EXPECT_TRUE(m.start(kT0 + 2ms, addr(kPeerC)).is_ok());
}

TEST(PingMachineTest, AFullEffectQueueDropsRequestsAndRefusesPings) {
  PingMachine m(Config{.max_outstanding = 2, .max_pending_effects = 16});
  const LinkToken link = accept(m, kT0, kPeerB);
  for (std::uint64_t n = 0; n < 10; ++n) frame(m, kT0, link, request_frame(n));
  // Input is taken below half the limit: eight answers, two requests dropped.
  EXPECT_EQ(m.stats().requests_answered, 8u);
  EXPECT_EQ(m.stats().dropped_requests, 2u);
  EXPECT_EQ(m.dropped_inputs(), 2u);
  EXPECT_LE(m.pending_effects(), m.effect_limit());
  auto refused = m.start(kT0, addr(kPeerA));
  EXPECT_EQ(refused.status().code(), StatusCode::kLimitExceeded);
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 8u);
  EXPECT_EQ(std::get<effect::Send>(effects[0]).frame, response_frame(0));
  EXPECT_EQ(std::get<effect::Send>(effects[7]).frame, response_frame(7));
  // Once drained, requests are answered again.
  frame(m, kT0, link, request_frame(19));
  EXPECT_EQ(m.stats().requests_answered, 9u);
}

// Above the input mark no ping starts, but every ping in flight may still send its queued request
// when its link connects and then complete: the effect limit (4 x max_outstanding + 8) has room
// for all of it. (ping_fuzz found 2 x max_outstanding + 4 too small.)
TEST(PingMachineTest, QueuedRequestsAndCompletionsAboveTheInputMarkFit) {
  PingMachine m(Config{.max_outstanding = 4, .max_pending_effects = 24});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(m.start(kT0, addr(kPeerA)).is_ok());  // one Connect
  const LinkToken inbound = accept(m, kT0, kPeerB);
  for (std::uint64_t n = 0; n < 20; ++n) frame(m, kT0, inbound, request_frame(n));
  EXPECT_EQ(m.pending_effects(), 12u) << "answers stop at the input mark";
  m.handle_connected(kT0 + 1ms, *m.outbound_link(kPeerA));  // the four queued requests
  m.handle_timeout(kT0 + 1h);                               // and their four failures
  m.invariants();
  EXPECT_EQ(m.pending_effects(), 20u);
  EXPECT_LE(m.pending_effects(), m.effect_limit());
  EXPECT_EQ(only<Completed>(drain(m)).size(), 4u);
}

// A ping that timed out while its link was connecting sends nothing once the link opens.
TEST(PingMachineTest, ARequestOfAFinishedPingIsNotSentWhenItsLinkOpens) {
  PingMachine m(Config{.timeout = 1s});
  ASSERT_TRUE(m.start(kT0, addr(kPeerA)).is_ok());
  const LinkToken link = *m.outbound_link(kPeerA);
  m.handle_timeout(kT0 + 2s);
  EXPECT_EQ(only<Completed>(drain(m)).size(), 1u);
  m.handle_connected(kT0 + 3s, link);
  EXPECT_TRUE(only<effect::Send>(drain(m)).empty()) << "sent the request of a finished ping";
}

TEST(PingMachineTest, EqualTimesAreAllowed) {
  PingMachine m;
  const PingId id = start_connected(m, kT0, kPeerA);
  const LinkToken link = *m.outbound_link(kPeerA);
  respond(m, kT0, kPeerA, id);
  m.handle_timeout(kT0);
  m.handle_link_closed(kT0, link);
  m.invariants();
  EXPECT_EQ(m.rtt(kPeerA)->srtt(), Duration::zero());
}

TEST(PingMachineDeathTest, TimeGoingBackwardsIsAProgrammerError) {
  EXPECT_DEATH(
      {
        PingMachine m;
        (void)m.start(kT0, addr(kPeerA));
        (void)m.start(kT0 - 1ns, addr(kPeerA));
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_timeout(kT0);
        m.handle_frame(kT0 - 1ms, 1, request_frame(1));
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_timeout(kT0);
        m.handle_link_closed(kT0 - 1ms, 1);
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        PingMachine m;
        m.handle_link_closed(kT0, 1);
        m.handle_timeout(kT0 - 1s);
      },
      "time went backwards");
}

}  // namespace
}  // namespace smalti::ping
