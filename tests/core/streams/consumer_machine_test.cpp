// ConsumerMachine alone: credits, violations, backoff, refused sends, tickets, stats, online_when.
#include <gtest/gtest.h>

#include "core/streams/streams_test_support.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams::test {
namespace {

const Status kFull = error(StatusCode::kLimitExceeded, "send window full");

ProducerCandidate candidate(const PeerId& id, PeerFacts f) {
  return ProducerCandidate{PeerAddr{id, {"sim:1"}}, std::move(f)};
}

ConsumerMachine consumer(std::size_t buffer = 4, ConsumerConfig c = {}) {
  c.network = kNet;
  c.stream = kStream;
  c.buffer_size = buffer;
  ConsumerMachine m(std::move(c), 1, kStart);
  m.handle_producers(kStart, kWall, {candidate(kPeer, facts(kPeer))});
  return m;
}

// Connects the channel whose Connect is among `effects` at `now`: Subscribe out, Start back.
LinkToken connect(ConsumerMachine& c, Instant now, const std::vector<ConsumerEffect>& effects) {
  const LinkToken link = only<effect::Connect>(effects).at(0).link;
  c.handle_connected(now, link);
  auto subscribe = sent(drain(c));
  EXPECT_EQ(subscribe.size(), 1u);
  c.handle_frame(now, link, frame(Message{Start{kNet, kStream}}));
  EXPECT_TRUE(drain(c).empty());
  return link;
}

std::vector<Received> received(const std::vector<ConsumerEffect>& effects) {
  std::vector<Received> out;
  for (const auto& d : only<effect::Deliver<Received>>(effects)) out.push_back(d.value);
  return out;
}

// Connects the consumer's first channel and hands it `n` datums (0, 1, ...), all pulled.
LinkToken connect_and_fill(ConsumerMachine& c, std::uint8_t n) {
  const LinkToken link = connect(c, kStart, drain(c));
  for (std::uint8_t i = 0; i < n; ++i) {
    c.handle_frame(kStart, link, frame(Message{Datum{Bytes{i}}}));
  }
  EXPECT_EQ(received(drain(c)).size(), n);
  return link;
}

// The driver pulls the next effect, a Credit's Send on `link`, and the link refuses it.
void refuse_credit(ConsumerMachine& c, Instant now, LinkToken link) {
  auto send = std::get<effect::Send>(*c.poll_effect());
  ASSERT_TRUE(std::holds_alternative<Credit>(*decode_message(send.frame)));
  c.handle_send_refused(now, link, send.frame, kFull);
}

TEST(ConsumerMachine, ADatumBeyondTheGrantedCreditsIsAViolation) {
  auto c = consumer(2);
  const LinkToken link = connect(c, kStart, drain(c));
  c.handle_frame(kStart, link, frame(Message{Datum{Bytes{1}}}));
  c.handle_frame(kStart, link, frame(Message{Datum{Bytes{2}}}));
  EXPECT_EQ(received(drain(c)).size(), 2u);
  c.handle_frame(kStart, link, frame(Message{Datum{Bytes{3}}}));  // a third of two credits
  auto closes = only<effect::Close>(drain(c));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, env::close_code::kProtocolViolation);
  EXPECT_EQ(c.channels(kStart)[0].state, ChannelState::kTerminated);
  c.invariants();
}

TEST(ConsumerMachine, StartForAnotherStreamAndAStartTwiceAreViolations) {
  auto c = consumer();
  const LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  c.handle_connected(kStart, link);
  (void)drain(c);
  c.handle_frame(kStart, link, frame(Message{Start{kNet, StreamId::from_string("other")}}));
  EXPECT_EQ(only<effect::Close>(drain(c)).at(0).code, env::close_code::kProtocolViolation);
  auto d = consumer();
  const LinkToken l2 = connect(d, kStart, drain(d));
  d.handle_frame(kStart, l2, frame(Message{Start{kNet, kStream}}));
  EXPECT_EQ(only<effect::Close>(drain(d)).at(0).code, env::close_code::kProtocolViolation);
  d.invariants();
}

TEST(ConsumerMachine, RetriesWithGrowingJitteredBackoffButNotAfterAFinalRefusal) {
  auto c = consumer();
  LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  Instant now = kStart;
  double base_ms = 500;  // the delay grows 1.5x per failure; each wait is 0.5x to 1.5x of it
  for (int attempt = 0; attempt < 6; ++attempt) {
    c.handle_link_closed(now, link, env::CloseInfo{stream_close::kTooSlow, "", true});
    const Instant retry = c.next_deadline();
    ASSERT_NE(retry, Instant::max());
    const double wait_ms = static_cast<double>((retry - now).count()) / 1e6;
    EXPECT_GE(wait_ms, base_ms / 2 - 1) << "attempt " << attempt;
    EXPECT_LE(wait_ms, base_ms * 1.5 + 1) << "attempt " << attempt;
    base_ms *= 1.5;
    now = retry;
    c.handle_timeout(now, wall_at(now));
    auto effects = drain(c);
    ASSERT_EQ(effects.size(), 1u);
    link = std::get<effect::Connect>(effects[0]).link;
  }
  c.handle_link_closed(now, link, env::CloseInfo{stream_close::kNotAllowed, "", true});
  EXPECT_EQ(c.next_deadline(), Instant::max());
  EXPECT_EQ(c.channels(now)[0].state, ChannelState::kTerminated);
  // A later catalog change gives it another chance.
  c.handle_producers(now, wall_at(now), {candidate(kPeer, facts(kPeer))});
  EXPECT_EQ(only<effect::Connect>(drain(c)).size(), 1u);
  c.invariants();
}

// The facts of kPeer after its process restarted (a later start in its entry's version).
PeerFacts restarted_facts() {
  PeerFacts f = facts(kPeer);
  auto entry = std::make_shared<discovery::PeerEntry>(*f.entry);
  entry->version.start_ms += 60'000;
  f.entry = std::move(entry);
  return f;
}

// Found by BUGGIFY (demo scenario, seed 89): a consumer cut just before its producer crashed kept
// waiting out a connect to the dead process (and a backoff grown against it) after the producer
// was back, and missed the producer's data for seconds.
TEST(ConsumerMachine, AProducerThatRestartedIsTriedAgainAtOnce) {
  // Backing off: the backoff grown against the old process is dropped.
  auto c = consumer();
  LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  Instant now = kStart;
  for (int attempt = 0; attempt < 5; ++attempt) {
    c.handle_link_closed(now, link, env::CloseInfo{stream_close::kTooSlow, "", true});
    now = c.next_deadline();
    c.handle_timeout(now, wall_at(now));
    link = only<effect::Connect>(drain(c)).at(0).link;
  }
  c.handle_link_closed(now, link, env::CloseInfo{stream_close::kTooSlow, "", true});
  ASSERT_GT(c.next_deadline() - now, Duration(1s));
  // The same process announced again: nothing changes.
  c.handle_producers(now, wall_at(now), {candidate(kPeer, facts(kPeer))});
  EXPECT_TRUE(drain(c).empty());
  // A new process: connect now.
  c.handle_producers(now, wall_at(now), {candidate(kPeer, restarted_facts())});
  auto effects = drain(c);
  ASSERT_EQ(only<effect::Connect>(effects).size(), 1u);
  link = only<effect::Connect>(effects).at(0).link;
  // Connecting (not yet through) to the old process: that connect is given up for a new one.
  auto d = consumer();
  const LinkToken pending = only<effect::Connect>(drain(d)).at(0).link;
  d.handle_producers(kStart + 1s, kWall + 1s, {candidate(kPeer, restarted_facts())});
  effects = drain(d);
  ASSERT_EQ(only<effect::Close>(effects).size(), 1u);
  EXPECT_EQ(only<effect::Close>(effects).at(0).link, pending);
  ASSERT_EQ(only<effect::Connect>(effects).size(), 1u);
  EXPECT_NE(only<effect::Connect>(effects).at(0).link, pending);
  // A subscribed channel is left alone: its link's end says when the old process is gone.
  auto e = consumer();
  connect(e, kStart, drain(e));
  e.handle_producers(kStart + 1s, kWall + 1s, {candidate(kPeer, restarted_facts())});
  EXPECT_TRUE(drain(e).empty());
  c.invariants();
  d.invariants();
  e.invariants();
}

TEST(ConsumerMachine, ConsumingReturnsCreditsInHalfWindowBatches) {
  auto c = consumer(4);
  const LinkToken link = connect(c, kStart, drain(c));
  for (std::uint8_t i = 0; i < 4; ++i) {
    c.handle_frame(kStart, link, frame(Message{Datum{Bytes{i}}}));
  }
  auto got = received(drain(c));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].payload, Bytes{3});
  EXPECT_EQ(got[3].producer, kPeer);
  c.handle_consumed(kStart, link);
  EXPECT_TRUE(drain(c).empty());
  c.handle_consumed(kStart, link);
  auto messages = sent(drain(c));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::get<Credit>(messages[0]).n, 2u);
  c.invariants();
}

TEST(ConsumerMachine, DatumsOfAnEarlierLinkReturnNoCreditToTheNextOne) {
  auto c = consumer(2);
  LinkToken link = connect(c, kStart, drain(c));
  c.handle_frame(kStart, link, frame(Message{Datum{Bytes{1}}}));
  c.handle_frame(kStart, link, frame(Message{Datum{Bytes{2}}}));
  (void)drain(c);
  const LinkToken old = link;
  // The link resets; the two datums are still with the application when the next link is up.
  c.handle_link_closed(kStart, link, env::CloseInfo{env::close_code::kReset, "", false});
  c.handle_timeout(kStart + 10s, wall_at(kStart + 10s));
  link = connect(c, kStart + 10s, drain(c));
  c.handle_consumed(kStart + 10s, old);
  c.handle_consumed(kStart + 10s, old);
  EXPECT_TRUE(drain(c).empty()) << "no credit for datums of the old link";
  c.invariants();
}

// A window of 4, full; the application took two datums at kStart, and the link refused the
// Credit of two that followed.
ConsumerMachine with_a_refused_credit(LinkToken& link) {
  auto c = consumer(4);
  link = connect_and_fill(c, 4);
  c.handle_consumed(kStart, link);
  c.handle_consumed(kStart, link);
  refuse_credit(c, kStart, link);
  EXPECT_TRUE(drain(c).empty());
  return c;
}

TEST(ConsumerMachine, ARefusedCreditIsSentAgainAndNoneLeaks) {
  LinkToken link = 0;
  auto c = with_a_refused_credit(link);
  c.invariants();  // granted = outstanding + held + to_return still
  EXPECT_EQ(c.next_deadline(), kStart + kSendRetryMin);
  // The application keeps reading; the batch waits for the retry and takes these along.
  c.handle_consumed(kStart + 1ms, link);
  c.handle_consumed(kStart + 1ms, link);
  EXPECT_TRUE(drain(c).empty());
  c.handle_timeout(kStart + kSendRetryMin, wall_at(kStart + kSendRetryMin));
  auto messages = sent(drain(c));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::get<Credit>(messages[0]).n, 4u) << "every credit goes back, once";
  EXPECT_EQ(c.next_deadline(), Instant::max());
  // The whole window is granted again: four more datums are welcome, a fifth is not.
  for (std::uint8_t i = 0; i < 4; ++i) {
    c.handle_frame(kStart + 6ms, link, frame(Message{Datum{Bytes{i}}}));
  }
  EXPECT_EQ(received(drain(c)).size(), 4u);
  c.invariants();
}

// The consumer's side of ProducerMachine.ASendTheLinkAcceptedEndsARunOfRefusals: a Credit the
// link accepted between two refused ones ends the run, even with no datum in between.
TEST(ConsumerMachine, ACreditTheLinkAcceptedEndsARunOfRefusals) {
  auto c = consumer(8);
  const LinkToken link = connect_and_fill(c, 8);
  Instant now = kStart;
  for (int batch = 0; batch < 2; ++batch) {
    for (int i = 0; i < 4; ++i) c.handle_consumed(now, link);
    refuse_credit(c, now, link);
    ASSERT_EQ(c.next_deadline(), now + kSendRetryMin) << "batch " << batch;
    now = c.next_deadline();
    c.handle_timeout(now, wall_at(now));
    // The resend goes out: the link accepted it.
    ASSERT_EQ(std::get<Credit>(sent(drain(c)).at(0)).n, 4u);
    now += 1ms;
  }
  c.invariants();
}

TEST(ConsumerMachine, RefusedCreditsInARowDoubleTheWait) {
  LinkToken link = 0;
  auto c = with_a_refused_credit(link);
  const Instant now = c.next_deadline();
  ASSERT_EQ(now, kStart + kSendRetryMin);
  c.handle_timeout(now, wall_at(now));
  refuse_credit(c, now, link);
  EXPECT_EQ(c.next_deadline(), now + 2 * kSendRetryMin);
  c.invariants();
}

TEST(ConsumerMachine, ARefusedSubscribeIsSentAgain) {
  auto c = consumer(4);
  const LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  c.handle_connected(kStart, link);
  auto subscribe = only<effect::Send>(drain(c)).at(0);
  c.handle_send_refused(kStart, link, subscribe.frame, kFull);
  c.invariants();
  EXPECT_EQ(c.next_deadline(), kStart + kSendRetryMin);
  c.handle_timeout(kStart + kSendRetryMin, wall_at(kStart + kSendRetryMin));
  auto messages = sent(drain(c));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::get<Subscribe>(messages[0]).credits, 4u);
  c.handle_frame(kStart + kSendRetryMin, link, frame(Message{Start{kNet, kStream}}));
  EXPECT_EQ(c.connected(), 1u);
  c.invariants();
}

TEST(ConsumerMachine, NoStartInTimeGivesTheLinkUpAndRetries) {
  auto c = consumer();
  const LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  c.handle_connected(kStart, link);
  (void)drain(c);
  EXPECT_EQ(c.next_deadline(), kStart + kStartTimeout);
  c.handle_timeout(kStart + kStartTimeout, wall_at(kStart + kStartTimeout));
  auto closes = only<effect::Close>(drain(c));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(c.channels(kStart + kStartTimeout)[0].state, ChannelState::kWaiting);
  c.invariants();
}

TEST(ConsumerMachine, UnknownPeerAsksForACatalogSyncBeforeTheRetry) {
  auto c = consumer();
  const LinkToken link = only<effect::Connect>(drain(c)).at(0).link;
  c.handle_link_closed(kStart, link, env::CloseInfo{stream_close::kUnknownPeer, "", true});
  auto syncs = only<SyncCatalog>(drain(c));
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_EQ(syncs[0].producer.id, kPeer);
  EXPECT_EQ(c.channels(kStart)[0].state, ChannelState::kWaiting);
}

TEST(ConsumerMachine, OneDeadlineCoversBackoffAndTicketExpiry) {
  ConsumerMachine c(
      ConsumerConfig{
          .network = kNet, .stream = kStream, .tickets = {std::make_shared<ExpiringTicket>()}},
      1, kStart);
  c.handle_producers(
      kStart, kWall,
      {candidate(kPeer, facts(kPeer, {}, std::nullopt, {ExpiringTicket::make(kWall + 20s)})),
       candidate(kOther, facts(kOther))});
  auto connects = only<effect::Connect>(drain(c));
  ASSERT_EQ(connects.size(), 1u) << "the producer without a ticket is not eligible";
  EXPECT_EQ(c.next_deadline(), kStart + 20s);
  // A backoff that ends earlier comes first.
  c.handle_link_closed(kStart, connects[0].link,
                       env::CloseInfo{env::close_code::kReset, "", false});
  EXPECT_LT(c.next_deadline(), kStart + 1s);
  c.handle_timeout(c.next_deadline(), wall_at(c.next_deadline()));
  (void)drain(c);
  EXPECT_EQ(c.next_deadline(), kStart + 20s);
  c.handle_timeout(kStart + 20s, wall_at(kStart + 20s));
  auto closes = only<effect::Close>(drain(c));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_TRUE(c.channels(kStart + 20s).empty()) << "dropped at its ticket's expiry";
  EXPECT_EQ(c.next_deadline(), Instant::max());
  c.invariants();
}

TEST(ConsumerMachine, StatsAndUptimeOnlyWhileConnected) {
  auto c = consumer(8);
  EXPECT_FALSE(c.stats(kStart).uptime.has_value()) << "none while disconnected";
  const LinkToken link = connect(c, kStart + 1s, drain(c));
  c.handle_frame(kStart + 1s, link, frame(Message{Datum{Bytes(5)}}));
  c.handle_frame(kStart + 1s, link, frame(Message{Datum{Bytes(6)}}));
  (void)drain(c);
  const Stats total = c.stats(kStart + 3s);
  EXPECT_EQ(total.datums, 2u);
  EXPECT_EQ(total.bytes, 11u);
  ASSERT_TRUE(total.uptime.has_value());
  EXPECT_EQ(*total.uptime, 2s);
  auto channel = c.channels(kStart + 3s).at(0);
  EXPECT_EQ(channel.stats.datums, 2u);
  EXPECT_EQ(channel.stats.uptime, std::optional<Duration>(2s));
  c.handle_link_closed(kStart + 4s, link, env::CloseInfo{env::close_code::kReset, "", false});
  EXPECT_FALSE(c.stats(kStart + 5s).uptime.has_value());
  EXPECT_EQ(c.stats(kStart + 5s).datums, 2u);
  EXPECT_FALSE(c.channels(kStart + 5s).at(0).stats.uptime.has_value());
  c.invariants();
}

TEST(ConsumerMachine, OnlineWhenCountsConnectedTaggedProducers) {
  const Tag t1 = Tag::from_string("t1");
  ConsumerConfig config{.network = kNet, .stream = kStream};
  config.online_when = ChannelConditions().minimum_of(2).with_tag(t1);
  ConsumerMachine c(config, 1, kStart);
  const PeerId third{Digest::from_string("third")};
  c.handle_producers(kStart, kWall,
                     {candidate(kPeer, facts(kPeer, {t1})), candidate(kOther, facts(kOther)),
                      candidate(third, facts(third, {t1}))});
  auto connects = only<effect::Connect>(drain(c));
  ASSERT_EQ(connects.size(), 3u);
  EXPECT_FALSE(c.is_online());
  std::vector<LinkToken> links;
  for (const auto& connect : connects) {
    c.handle_connected(kStart, connect.link);
    links.push_back(connect.link);
  }
  (void)drain(c);
  EXPECT_FALSE(c.is_online()) << "connecting channels do not count";
  for (LinkToken l : links) c.handle_frame(kStart, l, frame(Message{Start{kNet, kStream}}));
  EXPECT_TRUE(c.is_online());
  EXPECT_TRUE(c.holds(ChannelConditions().minimum_of(3)));
  // The tagged producer that goes away takes it offline.
  c.handle_producers(kStart + 1s, kWall + 1s,
                     {candidate(kPeer, facts(kPeer, {t1})), candidate(kOther, facts(kOther))});
  EXPECT_FALSE(c.is_online());
  EXPECT_TRUE(c.holds(ChannelConditions().minimum_of(2)));
  c.invariants();
}

TEST(ConsumerMachine, ADatumLostAtTheInputMarkStillReturnsItsCredit) {
  ConsumerConfig config{.network = kNet, .stream = kStream, .buffer_size = 64};
  config.max_producers = 1;
  ConsumerMachine c(config, 1, kStart);
  c.handle_producers(kStart, kWall, {candidate(kPeer, facts(kPeer))});
  const LinkToken link = connect(c, kStart, drain(c));
  std::uint8_t i = 0;
  while (c.dropped_inputs() == 0) c.handle_frame(kStart, link, frame(Message{Datum{Bytes{i++}}}));
  const auto delivered = received(drain(c)).size();
  EXPECT_EQ(delivered + 1, i);
  c.invariants();  // the lost datum's credit is owed, not leaked
  for (std::size_t k = 0; k < delivered; ++k) c.handle_consumed(kStart, link);
  (void)drain(c);
  ASSERT_NE(c.next_deadline(), Instant::max());
  c.handle_timeout(c.next_deadline(), wall_at(c.next_deadline()));
  (void)drain(c);
  c.invariants();
  // Every credit is granted again: a whole window of datums is welcome.
  std::size_t welcome = 0;
  for (int k = 0; k < 64; ++k) {
    c.handle_frame(kStart + 1s, link, frame(Message{Datum{Bytes{1}}}));
    auto effects = drain(c);
    welcome += received(effects).size();
    EXPECT_TRUE(only<effect::Close>(effects).empty());
  }
  EXPECT_EQ(welcome, 64u);
}

}  // namespace
}  // namespace smalti::streams::test
