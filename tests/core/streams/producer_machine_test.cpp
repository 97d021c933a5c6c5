// ProducerMachine alone: credits, fan-out bounds, refusals, refused sends, tickets, online_when.
#include <gtest/gtest.h>

#include "core/streams/streams_test_support.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams::test {
namespace {

ProducerConfig config(std::size_t buffer = 8) {
  return ProducerConfig{.stream = kStream, .buffer_size = buffer};
}

// A producer with one subscriber on link 1 holding `credits`; the Start is pulled.
ProducerMachine subscribed(std::uint32_t credits, ProducerConfig c = config()) {
  ProducerMachine p(std::move(c), kStart);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer), Subscribe{kNet, kStream, credits});
  auto effects = drain(p);
  EXPECT_EQ(effects.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Start>(sent(effects).at(0)));
  return p;
}

const Status kFull = error(StatusCode::kLimitExceeded, "send window full");

TEST(ProducerMachine, SendsNoMoreThanTheCreditsAndQueuesTheRest) {
  auto p = subscribed(3);
  for (std::uint8_t i = 0; i < 5; ++i) ASSERT_TRUE(p.publish(kStart, Bytes{i}).is_ok());
  EXPECT_EQ(datums(drain(p)).size(), 3u);
  EXPECT_EQ(p.subscriptions(kStart)[0].queued, 2u);
  p.handle_credit(kStart, 1, 10);
  EXPECT_EQ(datums(drain(p)), (std::vector<Bytes>{Bytes{3}, Bytes{4}}));
  p.invariants();
}

TEST(ProducerMachine, LaggingConsumerIsCutOrMissesDatums) {
  for (bool cut : {true, false}) {
    auto c = config(2);
    c.disconnect_lagging = cut;
    auto p = subscribed(0, c);
    ASSERT_TRUE(p.publish(kStart, Bytes{1}).is_ok());
    ASSERT_TRUE(p.publish(kStart, Bytes{2}).is_ok());
    ASSERT_TRUE(p.publish(kStart, Bytes{3}).is_ok());  // the queue of 2 is full
    auto closes = only<effect::Close>(drain(p));
    EXPECT_EQ(!closes.empty() && closes.back().code == stream_close::kTooSlow, cut);
    EXPECT_EQ(p.subscribers(), cut ? 0u : 1u);
    EXPECT_EQ(p.dropped(), 1u);
    p.invariants();
  }
}

TEST(ProducerMachine, RefusesBeyondCapacityAndWhatRequireRejects) {
  ProducerMachine p(ProducerConfig{.stream = kStream,
                                   .max_consumers = 1,
                                   .require = [](const PeerInfo& i) { return i.id == kPeer; }});
  p.handle_subscribe(kStart, kWall, 1, facts(kOther), Subscribe{kNet, kStream, 1});
  auto e1 = only<effect::Close>(drain(p));
  ASSERT_EQ(e1.size(), 1u);
  EXPECT_EQ(e1[0].code, stream_close::kNotAllowed);
  p.handle_subscribe(kStart, kWall, 2, facts(kPeer), Subscribe{kNet, kStream, 1});
  (void)drain(p);
  p.handle_subscribe(kStart, kWall, 3, facts(kPeer), Subscribe{kNet, kStream, 1});
  auto e3 = only<effect::Close>(drain(p));
  ASSERT_EQ(e3.size(), 1u);
  EXPECT_EQ(e3[0].code, stream_close::kNoCapacity);
  // Another stream's Subscribe (admission routes by stream, so only a bug sends it here).
  p.handle_subscribe(kStart, kWall, 4, facts(kPeer),
                     Subscribe{kNet, StreamId::from_string("x"), 1});
  EXPECT_EQ(only<effect::Close>(drain(p)).at(0).code, stream_close::kStreamNotFound);
  p.invariants();
}

TEST(ProducerMachine, ARefusedSendLosesNoDatumAndLeaksNoCredit) {
  auto p = subscribed(4);
  for (std::uint8_t i = 0; i < 3; ++i) ASSERT_TRUE(p.publish(kStart, Bytes{i}).is_ok());
  // The driver pulls the first datum's Send; the link refuses it.
  auto first = p.poll_effect();
  ASSERT_TRUE(first.has_value());
  const auto& send = std::get<effect::Send>(*first);
  p.handle_send_refused(kStart, send.link, send.frame, kFull);
  // The two behind it are taken back too, so nothing overtakes it.
  EXPECT_TRUE(drain(p).empty());
  auto info = p.subscriptions(kStart)[0];
  EXPECT_EQ(info.queued, 3u);
  EXPECT_EQ(info.credits, 4u) << "credits of unsent datums come back";
  EXPECT_EQ(info.stats.datums, 0u);
  EXPECT_EQ(p.next_deadline(), kStart + kSendRetryMin);
  p.invariants();
  // Nothing goes out before the retry, even on a publish.
  ASSERT_TRUE(p.publish(kStart + 1ms, Bytes{3}).is_ok());
  EXPECT_TRUE(drain(p).empty());
  p.handle_timeout(kStart + kSendRetryMin, wall_at(kStart + kSendRetryMin));
  EXPECT_EQ(datums(drain(p)), (std::vector<Bytes>{Bytes{0}, Bytes{1}, Bytes{2}, Bytes{3}}));
  info = p.subscriptions(kStart + kSendRetryMin)[0];
  EXPECT_EQ(info.credits, 0u);
  EXPECT_EQ(info.queued, 0u);
  EXPECT_EQ(info.stats.datums, 4u);
  EXPECT_EQ(info.stats.bytes, 4u);
  EXPECT_EQ(p.next_deadline(), Instant::max());
  p.invariants();
}

TEST(ProducerMachine, ACreditRetriesAHeldSubscriptionAtOnceAndTheBackoffGrows) {
  auto p = subscribed(2);
  ASSERT_TRUE(p.publish(kStart, Bytes{7}).is_ok());
  auto send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(kStart, send.link, send.frame, kFull);
  EXPECT_EQ(p.next_deadline(), kStart + kSendRetryMin);
  // A second refusal doubles the wait.
  p.handle_timeout(kStart + kSendRetryMin, wall_at(kStart + kSendRetryMin));
  send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(kStart + kSendRetryMin, send.link, send.frame, kFull);
  EXPECT_EQ(p.next_deadline(), kStart + 3 * kSendRetryMin);
  // A credit means the consumer reads: the held datum goes at once.
  p.handle_credit(kStart + 6ms, 1, 1);
  EXPECT_EQ(datums(drain(p)), (std::vector<Bytes>{Bytes{7}}));
  EXPECT_EQ(p.subscriptions(kStart + 6ms)[0].credits, 2u);
  EXPECT_EQ(p.next_deadline(), Instant::max());
  p.invariants();
}

// Found with link.refuse_send (docs/buggify.md): a link that refused now and then, with sends
// going out between the refusals, was backed off as if it refused every send. Only a credit
// ended a run, so the wait grew to a second, datums piled up behind it (making the next
// refusal likelier), and after kMaxSendRefusals the consumer was cut.
TEST(ProducerMachine, ASendTheLinkAcceptedEndsARunOfRefusals) {
  auto p = subscribed(static_cast<std::uint32_t>(kMaxCredits));
  Instant now = kStart;
  for (std::uint32_t i = 0; i < 2 * kMaxSendRefusals; ++i) {
    ASSERT_TRUE(p.publish(now, Bytes{1}).is_ok());
    auto send = std::get<effect::Send>(*p.poll_effect());
    p.handle_send_refused(now, send.link, send.frame, kFull);
    ASSERT_EQ(p.next_deadline(), now + kSendRetryMin) << "refusal " << i;
    now = p.next_deadline();
    p.handle_timeout(now, wall_at(now));
    // The retry goes out: the link accepted it.
    ASSERT_EQ(datums(drain(p)).size(), 1u);
    now += 1ms;
  }
  EXPECT_EQ(p.subscribers(), 1u) << "a link that accepts sends between refusals is not stuck";
  EXPECT_EQ(p.subscriptions(now)[0].stats.datums, 2 * kMaxSendRefusals);
  p.invariants();
}

TEST(ProducerMachine, RefusalsInARowDoubleTheWaitEvenWithFramesTakenBack) {
  auto p = subscribed(8);
  for (std::uint8_t i = 0; i < 3; ++i) ASSERT_TRUE(p.publish(kStart, Bytes{i}).is_ok());
  auto send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(kStart, send.link, send.frame, kFull);
  EXPECT_EQ(p.next_deadline(), kStart + kSendRetryMin);
  // The retry sends the three again; the first is refused: none was ever accepted between.
  Instant now = kStart + kSendRetryMin;
  p.handle_timeout(now, wall_at(now));
  send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(now, send.link, send.frame, kFull);
  EXPECT_EQ(p.next_deadline(), now + 2 * kSendRetryMin);
  // Now the first goes out and the second is refused: the run starts afresh.
  now += 2 * kSendRetryMin;
  p.handle_timeout(now, wall_at(now));
  ASSERT_TRUE(p.poll_effect().has_value());
  send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(now, send.link, send.frame, kFull);
  EXPECT_EQ(p.next_deadline(), now + kSendRetryMin);
  p.invariants();
}

TEST(ProducerMachine, ARefusedStartGoesFirstOnTheRetry) {
  ProducerMachine p(config(), kStart);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer), Subscribe{kNet, kStream, 2});
  auto start = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(kStart, 1, start.frame, kFull);
  ASSERT_TRUE(p.publish(kStart, Bytes{1}).is_ok());
  EXPECT_TRUE(drain(p).empty());
  p.handle_timeout(kStart + kSendRetryMin, wall_at(kStart + kSendRetryMin));
  auto messages = sent(drain(p));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<Start>(messages[0]));
  EXPECT_EQ(std::get<Datum>(messages[1]).payload, Bytes{1});
  p.invariants();
}

TEST(ProducerMachine, ALinkThatRefusesEverySendIsCutAndOneThatEndedIsDropped) {
  auto p = subscribed(1);
  ASSERT_TRUE(p.publish(kStart, Bytes{1}).is_ok());
  Instant now = kStart;
  for (std::uint32_t i = 0; i < kMaxSendRefusals; ++i) {
    auto send = std::get<effect::Send>(*p.poll_effect());
    p.handle_send_refused(now, send.link, send.frame, kFull);
    now = p.next_deadline();
    p.handle_timeout(now, wall_at(now));
  }
  auto send = std::get<effect::Send>(*p.poll_effect());
  p.handle_send_refused(now, send.link, send.frame, kFull);
  auto closes = only<effect::Close>(drain(p));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, stream_close::kTooSlow);
  EXPECT_EQ(p.subscribers(), 0u);
  // A send refused because the link ended drops the subscription at once.
  auto q = subscribed(1);
  ASSERT_TRUE(q.publish(kStart, Bytes{1}).is_ok());
  send = std::get<effect::Send>(*q.poll_effect());
  q.handle_send_refused(kStart, send.link, send.frame,
                        error(StatusCode::kUnavailable, "link closed"));
  EXPECT_EQ(q.subscribers(), 0u);
  EXPECT_EQ(only<effect::Close>(drain(q)).size(), 1u);
  q.invariants();
}

TEST(ProducerMachine, TicketExpiryIsItsOwnDeadlineFromTheWallClock) {
  auto validator = std::make_shared<ExpiringTicket>();
  ProducerConfig c = config();
  c.tickets = {validator};
  ProducerMachine p(c, kStart);
  p.handle_subscribe(kStart, kWall, 1,
                     facts(kPeer, {}, std::nullopt, {ExpiringTicket::make(kWall + 30s)}),
                     Subscribe{kNet, kStream, 1});
  p.handle_subscribe(kStart, kWall, 2, facts(kOther), Subscribe{kNet, kStream, 1});
  auto closes = only<effect::Close>(drain(p));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].link, 2u) << "no ticket: NotAllowed";
  EXPECT_EQ(p.next_deadline(), kStart + 30s);
  // The wall clock stepped back 10 s: at the old deadline the ticket is still valid, and the
  // deadline moves to when the wall clock reaches the expiry.
  p.handle_timeout(kStart + 30s, kWall + 20s);
  EXPECT_TRUE(drain(p).empty());
  EXPECT_EQ(p.next_deadline(), kStart + 40s);
  p.handle_timeout(kStart + 40s, kWall + 30s);
  closes = only<effect::Close>(drain(p));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, stream_close::kNotAllowed);
  EXPECT_EQ(p.next_deadline(), Instant::max());
  p.invariants();
}

TEST(ProducerMachine, OnlineWhenCountsTaggedAndPredicatedSubscribers) {
  const Tag eu = Tag::from_string("eu");
  ProducerConfig c = config();
  c.online_when = ChannelConditions().minimum_of(2).with_tag(eu).with_predicate(
      [](const discovery::PeerEntry& e) { return e.tags.size() == 1; });
  ProducerMachine p(c, kStart);
  EXPECT_FALSE(p.is_online());
  EXPECT_EQ(p.publish(kStart, Bytes{1}).status().code(), StatusCode::kUnavailable);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer, {eu}), Subscribe{kNet, kStream, 1});
  p.handle_subscribe(kStart, kWall, 2, unknown(kOther), Subscribe{kNet, kStream, 1});
  const PeerId third{Digest::from_string("third")};
  p.handle_subscribe(kStart, kWall, 3, facts(third, {eu, Tag::from_string("x")}),
                     Subscribe{kNet, kStream, 1});
  EXPECT_FALSE(p.is_online()) << "only one passes the tag and the predicate";
  EXPECT_TRUE(p.holds(ChannelConditions().minimum_of(3)));
  EXPECT_TRUE(p.holds(ChannelConditions().minimum_of(4).unmet()));
  const PeerId fourth{Digest::from_string("fourth")};
  p.handle_subscribe(kStart, kWall, 4, facts(fourth, {eu}), Subscribe{kNet, kStream, 1});
  EXPECT_TRUE(p.is_online());
  EXPECT_TRUE(p.publish(kStart, Bytes{1}).is_ok());
  p.handle_link_closed(kStart, 4);
  EXPECT_FALSE(p.is_online());
  p.invariants();
}

TEST(ProducerMachine, PublishRefusesWhileEffectsWaitAndOversizedDatums) {
  ProducerConfig c = config(64);
  c.max_consumers = 2;
  ProducerMachine p(c, kStart);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer), Subscribe{kNet, kStream, 1000});
  std::size_t published = 0;
  while (p.publish(kStart, Bytes{1}).is_ok()) ++published;
  EXPECT_EQ(p.publish(kStart, Bytes{1}).status().code(), StatusCode::kLimitExceeded);
  EXPECT_GE(published, p.effect_limit() / 2 - 1);
  EXPECT_LE(p.pending_effects(), p.effect_limit() / 2);
  (void)drain(p);
  EXPECT_TRUE(p.publish(kStart, Bytes{1}).is_ok());
  EXPECT_EQ(p.publish(kStart, Bytes(kMaxPayloadSize + 1)).status().code(),
            StatusCode::kLimitExceeded);
  p.invariants();
}

TEST(ProducerMachine, ACreditAtTheInputMarkIsKeptAndUsedAtTheRetry) {
  ProducerConfig c = config(64);
  c.max_consumers = 1;
  c.max_pending_effects = effect_limit_for(c);
  ProducerMachine p(c, kStart);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer), Subscribe{kNet, kStream, 0});
  // Fill the effect queue to its input mark with refusals of other links.
  for (LinkToken l = 2; p.pending_effects() < p.effect_limit() / 2; ++l) {
    p.handle_subscribe(kStart, kWall, l, facts(kOther), Subscribe{kNet, kStream, 1});
  }
  ASSERT_TRUE(p.publish(kStart, Bytes{9}).status().code() == StatusCode::kLimitExceeded);
  (void)drain(p);
  ASSERT_TRUE(p.publish(kStart, Bytes{9}).is_ok());  // queued: no credits yet
  for (LinkToken l = 100; p.pending_effects() < p.effect_limit() / 2; ++l) {
    p.handle_subscribe(kStart, kWall, l, facts(kOther), Subscribe{kNet, kStream, 1});
  }
  const std::uint64_t dropped = p.dropped_inputs();
  p.handle_credit(kStart, 1, 5);
  EXPECT_EQ(p.dropped_inputs(), dropped + 1);
  EXPECT_EQ(p.subscriptions(kStart)[0].credits, 5u) << "the credit is kept";
  (void)drain(p);
  p.invariants();
  ASSERT_EQ(p.next_deadline(), kStart + kSendRetryMin);
  p.handle_timeout(p.next_deadline(), wall_at(p.next_deadline()));
  EXPECT_EQ(datums(drain(p)), (std::vector<Bytes>{Bytes{9}}));
  p.invariants();
}

TEST(ProducerMachine, ACatalogChangeCutsSubscribersRequireNowRejects) {
  const Tag trusted = Tag::from_string("trusted");
  ProducerConfig c = config();
  c.require = [&](const PeerInfo& i) { return i.has_tag(trusted); };
  ProducerMachine p(c, kStart);
  p.handle_subscribe(kStart, kWall, 1, facts(kPeer, {trusted}), Subscribe{kNet, kStream, 1});
  p.handle_subscribe(kStart, kWall, 2, facts(kOther, {trusted}), Subscribe{kNet, kStream, 1});
  (void)drain(p);
  p.handle_catalog(kStart + 1s, [&](const PeerId& id) {
    return id == kPeer ? facts(kPeer, {trusted}) : facts(id);  // kOther lost the tag
  });
  auto closes = only<effect::Close>(drain(p));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].link, 2u);
  EXPECT_EQ(closes[0].code, stream_close::kNotAllowed);
  EXPECT_EQ(p.subscribers(), 1u);
  p.invariants();
}

TEST(ProducerMachine, StatsCountPayloadBytesAndUptime) {
  auto p = subscribed(10);
  ASSERT_TRUE(p.publish(kStart, Bytes(5)).is_ok());
  ASSERT_TRUE(p.publish(kStart, Bytes(6)).is_ok());
  auto info = p.subscriptions(kStart + 3s)[0];
  EXPECT_EQ(info.stats.datums, 2u);
  EXPECT_EQ(info.stats.bytes, 11u);
  ASSERT_TRUE(info.stats.uptime.has_value());
  EXPECT_EQ(*info.stats.uptime, 3s);
  EXPECT_EQ(to_string(info.stats), "uptime: 3.000s, datums: 2, bytes: 11");
}

TEST(ProducerMachine, SameSettingsComparesWhatCanBeCompared) {
  ProducerConfig a = config();
  ProducerConfig b = config();
  EXPECT_TRUE(same_settings(a, b));
  b.buffer_size = 9;
  EXPECT_FALSE(same_settings(a, b));
  b = config();
  b.online_when = ChannelConditions().minimum_of(2);
  EXPECT_FALSE(same_settings(a, b));
  b = config();
  b.require = [](const PeerInfo&) { return true; };
  EXPECT_FALSE(same_settings(a, b)) << "functions do not compare";
  EXPECT_FALSE(validate(ProducerConfig{.stream = kStream, .buffer_size = 0}).is_ok());
  EXPECT_FALSE(
      validate(ProducerConfig{.stream = kStream, .max_consumers = kMaxSubscriptions + 1}).is_ok());
}

}  // namespace
}  // namespace smalti::streams::test
