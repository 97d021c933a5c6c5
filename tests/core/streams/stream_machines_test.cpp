// The streams state machines alone: credits, fan-out bounds, refusals, backoff and violations.
#include <gtest/gtest.h>

#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"

namespace smalti::streams {
namespace {

const NetworkId kNet = NetworkId::from_string("net");
const StreamId kStream = StreamId::from_string("s");
const PeerId kPeer{Digest::from_string("peer")};

template <typename Machine, typename Effect = decltype(*std::declval<Machine&>().poll_effect())>
std::vector<std::remove_cvref_t<Effect>> drain(Machine& m) {
  std::vector<std::remove_cvref_t<Effect>> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

std::size_t datums_sent(const std::vector<ProducerEffect>& effects) {
  std::size_t n = 0;
  for (const auto& e : effects) {
    if (auto* s = std::get_if<effect::Send>(&e)) {
      auto m = decode_message(s->frame);
      n += m.is_ok() && std::holds_alternative<Datum>(*m);
    }
  }
  return n;
}

TEST(ProducerMachine, SendsNoMoreThanTheCreditsAndQueuesTheRest) {
  ProducerMachine p(ProducerConfig{.stream = kStream, .buffer_size = 8});
  p.handle_subscribe(Instant(), WallTime(), 1, PeerInfo{kPeer}, Subscribe{kNet, kStream, 3});
  auto effects = drain(p);
  ASSERT_EQ(effects.size(), 1u);  // Start
  for (int i = 0; i < 5; ++i) p.publish(Bytes{static_cast<std::uint8_t>(i)});
  EXPECT_EQ(datums_sent(drain(p)), 3u);
  EXPECT_EQ(p.subscriptions()[0].queued, 2u);
  p.handle_credit(1, 10);
  EXPECT_EQ(datums_sent(drain(p)), 2u);
  p.invariants();
}

TEST(ProducerMachine, LaggingConsumerIsCutOrMissesDatums) {
  for (bool cut : {true, false}) {
    ProducerMachine p(
        ProducerConfig{.stream = kStream, .buffer_size = 2, .disconnect_lagging = cut});
    p.handle_subscribe(Instant(), WallTime(), 1, PeerInfo{kPeer}, Subscribe{kNet, kStream, 0});
    (void)drain(p);
    p.publish(Bytes{1});
    p.publish(Bytes{2});
    p.publish(Bytes{3});  // the queue of 2 is full
    auto effects = drain(p);
    const bool closed = !effects.empty() && std::holds_alternative<effect::Close>(effects.back()) &&
                        std::get<effect::Close>(effects.back()).code == stream_close::kTooSlow;
    EXPECT_EQ(closed, cut);
    EXPECT_EQ(p.subscribers(), cut ? 0u : 1u);
    EXPECT_EQ(p.dropped(), 1u);
  }
}

TEST(ProducerMachine, RefusesBeyondCapacityAndWhatRequireRejects) {
  ProducerMachine p(ProducerConfig{.stream = kStream,
                                   .max_consumers = 1,
                                   .require = [](const PeerInfo& i) { return i.id == kPeer; }});
  const PeerId stranger{Digest::from_string("stranger")};
  p.handle_subscribe(Instant(), WallTime(), 1, PeerInfo{stranger}, Subscribe{kNet, kStream, 1});
  auto e1 = drain(p);
  ASSERT_EQ(e1.size(), 1u);
  EXPECT_EQ(std::get<effect::Close>(e1[0]).code, stream_close::kNotAllowed);
  p.handle_subscribe(Instant(), WallTime(), 2, PeerInfo{kPeer}, Subscribe{kNet, kStream, 1});
  (void)drain(p);
  p.handle_subscribe(Instant(), WallTime(), 3, PeerInfo{kPeer}, Subscribe{kNet, kStream, 1});
  auto e3 = drain(p);
  ASSERT_EQ(e3.size(), 1u);
  EXPECT_EQ(std::get<effect::Close>(e3[0]).code, stream_close::kNoCapacity);
}

ConsumerMachine consumer(std::size_t buffer = 4) {
  ConsumerMachine c(ConsumerConfig{.network = kNet, .stream = kStream, .buffer_size = buffer}, 1);
  c.handle_producers(Instant(), WallTime(),
                     {ProducerCandidate{PeerAddr{kPeer, {"sim:1"}}, PeerInfo{kPeer}}});
  return c;
}

TEST(ConsumerMachine, ADatumBeyondTheGrantedCreditsIsAViolation) {
  auto c = consumer(2);
  auto connect = drain(c);
  ASSERT_EQ(connect.size(), 1u);
  const LinkToken link = std::get<effect::Connect>(connect[0]).link;
  c.handle_connected(Instant(), link);
  (void)drain(c);
  c.handle_frame(Instant(), link, encode(Message{Start{kNet, kStream}}));
  c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{1}}}));
  c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{2}}}));
  EXPECT_TRUE(drain(c).empty());
  c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{3}}}));  // a third of two credits
  auto effects = drain(c);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<effect::Close>(effects[0]).code, env::close_code::kProtocolViolation);
  EXPECT_EQ(c.channels()[0].state, ChannelState::kTerminated);
  EXPECT_EQ(c.queued(), 2u);
}

TEST(ConsumerMachine, StartForAnotherStreamIsRefused) {
  auto c = consumer();
  const LinkToken link = std::get<effect::Connect>(drain(c)[0]).link;
  c.handle_connected(Instant(), link);
  (void)drain(c);
  c.handle_frame(Instant(), link, encode(Message{Start{kNet, StreamId::from_string("other")}}));
  auto effects = drain(c);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(std::get<effect::Close>(effects[0]).code, env::close_code::kProtocolViolation);
}

TEST(ConsumerMachine, RetriesWithGrowingJitteredBackoffButNotAfterAFinalRefusal) {
  auto c = consumer();
  LinkToken link = std::get<effect::Connect>(drain(c)[0]).link;
  Instant now;
  double base_ms = 500;  // the delay grows 1.5x per failure; each wait is 0.5x to 1.5x of it
  for (int attempt = 0; attempt < 6; ++attempt) {
    c.handle_closed(now, link, env::CloseInfo{stream_close::kTooSlow, "", true});
    const Instant retry = c.next_deadline();
    ASSERT_NE(retry, Instant::max());
    const double wait_ms = static_cast<double>((retry - now).count()) / 1e6;
    EXPECT_GE(wait_ms, base_ms / 2 - 1) << "attempt " << attempt;
    EXPECT_LE(wait_ms, base_ms * 1.5 + 1) << "attempt " << attempt;
    base_ms *= 1.5;
    now = retry;
    c.handle_timeout(now);
    auto effects = drain(c);
    ASSERT_EQ(effects.size(), 1u);
    link = std::get<effect::Connect>(effects[0]).link;
  }
  c.handle_closed(now, link, env::CloseInfo{stream_close::kNotAllowed, "", true});
  EXPECT_EQ(c.next_deadline(), Instant::max());
  EXPECT_EQ(c.channels()[0].state, ChannelState::kTerminated);
  // A later catalog change gives it another chance.
  c.handle_producers(now, WallTime(),
                     {ProducerCandidate{PeerAddr{kPeer, {"sim:1"}}, PeerInfo{kPeer}}});
  EXPECT_EQ(drain(c).size(), 1u);
}

TEST(ConsumerMachine, PoppingReturnsCreditsInHalfWindowBatches) {
  auto c = consumer(4);
  const LinkToken link = std::get<effect::Connect>(drain(c)[0]).link;
  c.handle_connected(Instant(), link);
  (void)drain(c);
  c.handle_frame(Instant(), link, encode(Message{Start{kNet, kStream}}));
  for (std::uint8_t i = 0; i < 4; ++i)
    c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{i}}}));
  ASSERT_TRUE(c.pop().has_value());
  EXPECT_TRUE(drain(c).empty());
  ASSERT_TRUE(c.pop().has_value());
  auto effects = drain(c);
  ASSERT_EQ(effects.size(), 1u);
  auto credit = decode_message(std::get<effect::Send>(effects[0]).frame);
  ASSERT_TRUE(credit.is_ok());
  EXPECT_EQ(std::get<Credit>(*credit).n, 2u);
}

TEST(ConsumerMachine, DatumsOfAnEarlierLinkReturnNoCreditToTheNextOne) {
  auto c = consumer(2);
  LinkToken link = std::get<effect::Connect>(drain(c)[0]).link;
  c.handle_connected(Instant(), link);
  (void)drain(c);
  c.handle_frame(Instant(), link, encode(Message{Start{kNet, kStream}}));
  c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{1}}}));
  c.handle_frame(Instant(), link, encode(Message{Datum{Bytes{2}}}));
  // The link resets; the two datums are still queued when the next link is up.
  c.handle_closed(Instant(), link, env::CloseInfo{env::close_code::kReset, "", false});
  c.handle_timeout(Instant() + 10s);
  link = std::get<effect::Connect>(drain(c)[0]).link;
  c.handle_connected(Instant() + 10s, link);
  (void)drain(c);
  c.handle_frame(Instant() + 10s, link, encode(Message{Start{kNet, kStream}}));
  ASSERT_TRUE(c.pop().has_value());
  ASSERT_TRUE(c.pop().has_value());
  EXPECT_TRUE(drain(c).empty()) << "no credit for datums of the old link";
}

}  // namespace
}  // namespace smalti::streams
