// StreamAdmission alone: every refusal, in every order of events on an accepted link.
#include <gtest/gtest.h>

#include "core/streams/streams_test_support.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::streams::test {
namespace {

// A catalog that knows kPeer (RTT 30 ms) and nobody else; it counts its lookups.
struct Catalog {
  int lookups = 0;
  PeerLookup lookup() {
    return [this](const PeerId& id) {
      ++lookups;
      return id == kPeer ? facts(kPeer, {}, 30ms) : unknown(id);
    };
  }
};

StreamAdmission admission() {
  StreamAdmission a(AdmissionConfig{.network = kNet}, kStart);
  a.handle_stream_added(kStart, kStream);
  return a;
}

Bytes subscribe(NetworkId net = kNet, StreamId stream = kStream) {
  return frame(Message{Subscribe{net, stream, 8}});
}

// The close code of the only effect, which must be a Close.
std::uint32_t refusal(StreamAdmission& a) {
  auto effects = drain(a);
  EXPECT_EQ(effects.size(), 1u);
  auto closes = only<effect::Close>(effects);
  return closes.empty() ? 0 : closes[0].code;
}

TEST(StreamAdmission, AdmitsASubscribeAndHandsItToTheProducer) {
  auto a = admission();
  Catalog catalog;
  const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
  EXPECT_EQ(a.next_deadline(), kStart + 10s);
  a.handle_frame(kStart, link, subscribe(), catalog.lookup());
  auto admitted = only<effect::Deliver<Admitted>>(drain(a));
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0].value.link, link);
  EXPECT_EQ(admitted[0].value.peer.id, kPeer);
  ASSERT_TRUE(admitted[0].value.peer.entry);
  EXPECT_EQ(admitted[0].value.peer.rtt, std::optional<Duration>(30ms)) << "the catalog's RTT";
  EXPECT_EQ(admitted[0].value.subscribe.credits, 8u);
  EXPECT_EQ(a.subscribed(), 1u);
  EXPECT_EQ(a.next_deadline(), Instant::max());
  // Then credits, handed on.
  a.handle_frame(kStart, link, frame(Message{Credit{5}}), catalog.lookup());
  auto credited = only<effect::Deliver<Credited>>(drain(a));
  ASSERT_EQ(credited.size(), 1u);
  EXPECT_EQ(credited[0].value.n, 5u);
  EXPECT_EQ(credited[0].value.stream, kStream);
  a.invariants();
}

TEST(StreamAdmission, TheLinksOwnRttCountsFirst) {
  auto a = admission();
  Catalog catalog;
  const LinkToken link = a.handle_accepted(kStart, kPeer, 2ms);
  a.handle_frame(kStart, link, subscribe(), catalog.lookup());
  auto admitted = only<effect::Deliver<Admitted>>(drain(a));
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0].value.peer.rtt, std::optional<Duration>(2ms));
}

TEST(StreamAdmission, TheFirstFrameMustBeASubscribe) {
  for (const Bytes& first : {frame(Message{Credit{1}}), frame(Message{Start{kNet, kStream}}),
                             frame(Message{Datum{Bytes{1}}}), Bytes{0xff, 0xff}, Bytes{}}) {
    auto a = admission();
    Catalog catalog;
    const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
    a.handle_frame(kStart, link, first, catalog.lookup());
    EXPECT_EQ(refusal(a), env::close_code::kProtocolViolation);
    EXPECT_EQ(catalog.lookups, 0);
    EXPECT_EQ(a.pending(), 0u);
    a.invariants();
  }
}

TEST(StreamAdmission, RefusalsComeInOrderNetworkThenStreamThenPeer) {
  Catalog catalog;
  const StreamId absent = StreamId::from_string("absent");
  const NetworkId elsewhere = NetworkId::from_string("elsewhere");
  struct Case {
    PeerId peer;
    Bytes subscribe;
    std::uint32_t code;
  };
  for (const Case& c : std::vector<Case>{
           {kOther, subscribe(elsewhere, absent), stream_close::kDifferentNetwork},
           {kPeer, subscribe(elsewhere, kStream), stream_close::kDifferentNetwork},
           {kOther, subscribe(kNet, absent), stream_close::kStreamNotFound},
           {kOther, subscribe(kNet, kStream), stream_close::kUnknownPeer},
       }) {
    auto a = admission();
    catalog.lookups = 0;
    const LinkToken link = a.handle_accepted(kStart, c.peer, Duration::zero());
    a.handle_frame(kStart, link, c.subscribe, catalog.lookup());
    EXPECT_EQ(refusal(a), c.code);
    EXPECT_EQ(catalog.lookups, c.code == stream_close::kUnknownPeer ? 1 : 0)
        << "the catalog is asked only once the rest passed";
    EXPECT_EQ(a.stats().refused.at(c.code), 1u);
    a.invariants();
  }
}

TEST(StreamAdmission, AStreamRemovedBeforeTheSubscribeIsNotFound) {
  auto a = admission();
  Catalog catalog;
  const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_stream_removed(kStart, kStream);
  EXPECT_FALSE(a.produces(kStream));
  a.handle_frame(kStart, link, subscribe(), catalog.lookup());
  EXPECT_EQ(refusal(a), stream_close::kStreamNotFound);
  // Added again, a new link is admitted.
  a.handle_stream_added(kStart, kStream);
  const LinkToken again = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_frame(kStart, again, subscribe(), catalog.lookup());
  EXPECT_EQ(only<effect::Deliver<Admitted>>(drain(a)).size(), 1u);
}

TEST(StreamAdmission, OnlyCreditsMayFollowTheSubscribe) {
  for (const Bytes& next : {subscribe(), frame(Message{Datum{Bytes{1}}}),
                            frame(Message{Start{kNet, kStream}}), Bytes{0xff}}) {
    auto a = admission();
    Catalog catalog;
    const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
    a.handle_frame(kStart, link, subscribe(), catalog.lookup());
    (void)drain(a);
    a.handle_frame(kStart, link, next, catalog.lookup());
    auto effects = drain(a);
    // The producer forgets it, then the link closes.
    ASSERT_EQ(effects.size(), 2u);
    EXPECT_EQ(std::get<effect::Deliver<Released>>(effects[0]).value.link, link);
    EXPECT_EQ(std::get<effect::Close>(effects[1]).code, env::close_code::kProtocolViolation);
    EXPECT_EQ(a.subscribed(), 0u);
    a.invariants();
  }
}

TEST(StreamAdmission, ALinkThatDoesNotSubscribeInTimeIsClosed) {
  auto a = admission();
  Catalog catalog;
  const LinkToken early = a.handle_accepted(kStart, kPeer, Duration::zero());
  const LinkToken late = a.handle_accepted(kStart + 4s, kPeer, Duration::zero());
  a.handle_timeout(kStart + 10s - 1ns);
  EXPECT_TRUE(drain(a).empty());
  a.handle_timeout(kStart + 10s);
  auto closes = only<effect::Close>(drain(a));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].link, early);
  EXPECT_EQ(closes[0].code, env::close_code::kCancelled) << "the consumer may try again";
  EXPECT_EQ(a.next_deadline(), kStart + 14s);
  a.handle_frame(kStart + 14s - 1ns, late, subscribe(), catalog.lookup());
  EXPECT_EQ(only<effect::Deliver<Admitted>>(drain(a)).size(), 1u);
  EXPECT_EQ(a.next_deadline(), Instant::max());
  a.invariants();
}

TEST(StreamAdmission, LinksThatEndAreForgottenAndSubscribedOnesReleased) {
  auto a = admission();
  Catalog catalog;
  // Ends before subscribing: nothing to tell anyone, no deadline left.
  const LinkToken pending = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_link_closed(kStart, pending);
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.next_deadline(), Instant::max());
  // Ends after subscribing: its producer hears of it.
  const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_frame(kStart, link, subscribe(), catalog.lookup());
  (void)drain(a);
  a.handle_link_closed(kStart, link);
  auto released = only<effect::Deliver<Released>>(drain(a));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].value.stream, kStream);
  // Closed by its producer: forgotten without a report, even if the link then ends.
  const LinkToken cut = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_frame(kStart, cut, subscribe(), catalog.lookup());
  (void)drain(a);
  a.handle_producer_closed(kStart, cut);
  a.handle_link_closed(kStart, cut);
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.subscribed(), 0u);
  a.invariants();
}

TEST(StreamAdmission, TooManyLinksWaitingAreRefusedWithNoCapacity) {
  StreamAdmission a(AdmissionConfig{.network = kNet, .max_pending_links = 2}, kStart);
  a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_accepted(kStart, kPeer, Duration::zero());
  EXPECT_TRUE(drain(a).empty());
  a.handle_accepted(kStart, kPeer, Duration::zero());
  EXPECT_EQ(refusal(a), stream_close::kNoCapacity);
  EXPECT_EQ(a.pending(), 2u);
  a.invariants();
}

TEST(StreamAdmission, ACreditAtTheInputMarkIsHandedOnLaterNotLost) {
  StreamAdmission a(AdmissionConfig{.network = kNet, .max_pending_links = 4}, kStart);
  a.handle_stream_added(kStart, kStream);
  Catalog catalog;
  const LinkToken link = a.handle_accepted(kStart, kPeer, Duration::zero());
  a.handle_frame(kStart, link, subscribe(), catalog.lookup());
  (void)drain(a);
  // Fill the queue to its mark with refusals of other links.
  while (a.pending_effects() < a.effect_limit() / 2) {
    const LinkToken other = a.handle_accepted(kStart, kOther, Duration::zero());
    a.handle_frame(kStart, other, Bytes{0xff}, catalog.lookup());
  }
  a.handle_frame(kStart, link, frame(Message{Credit{3}}), catalog.lookup());
  a.handle_frame(kStart, link, frame(Message{Credit{4}}), catalog.lookup());
  EXPECT_EQ(a.dropped_inputs(), 2u);
  EXPECT_EQ(a.next_deadline(), kStart + kDeferredCreditDelay);
  (void)drain(a);
  a.invariants();
  a.handle_timeout(kStart + kDeferredCreditDelay);
  auto credited = only<effect::Deliver<Credited>>(drain(a));
  ASSERT_EQ(credited.size(), 1u);
  EXPECT_EQ(credited[0].value.n, 7u);
  EXPECT_EQ(a.next_deadline(), Instant::max());
  a.invariants();
}

TEST(StreamAdmission, AFrameOnALinkItNeverTookIsRefused) {
  StreamAdmission a(AdmissionConfig{.network = kNet, .max_pending_links = 4}, kStart);
  Catalog catalog;
  a.handle_frame(kStart, 99, subscribe(), catalog.lookup());
  EXPECT_EQ(refusal(a), stream_close::kNoCapacity);
}

}  // namespace
}  // namespace smalti::streams::test
