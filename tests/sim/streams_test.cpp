// Streams in the simulator: delivery in order, back-pressure and TooSlow, refusals, reconnection.
#include <gtest/gtest.h>

#include "discovery_support.hpp"
#include "fault_test_support.hpp"

namespace smalti {

struct Price {
  std::string symbol;
  std::uint64_t seq = 0;
  friend bool operator==(const Price&, const Price&) = default;
};
SMALTI_FIELDS(Price, symbol, seq)
SMALTI_STREAM(Price, "test.price")

struct Other {
  std::uint64_t x = 0;
};
SMALTI_FIELDS(Other, x)
SMALTI_STREAM(Other, "test.other")

}  // namespace smalti

namespace smalti::sim {
namespace {

using support::add_discovery_nodes;

// Pulls everything queued on `c` into `out`.
template <typename T>
void drain(streams::Consumer<T>& c, std::vector<T>& out) {
  while (auto d = c.try_recv()) out.push_back(std::move(*d));
}

TEST(Streams, ProducerReachesEveryConsumerInOrder) {
  World world({.seed = 41});
  auto hosts = add_discovery_nodes(world, 4);
  auto producer = world.network(hosts[0])->streams().producer<Price>().build().value();
  std::vector<streams::Consumer<Price>> consumers;
  for (int i = 1; i < 4; ++i)
    consumers.push_back(world.network(hosts[i])->streams().consumer<Price>().build().value());
  ASSERT_TRUE(
      world.run_until([&] { return producer.when().subscribed().minimum_of(3).is_met(); }, 30s));
  EXPECT_TRUE(producer.is_online());
  std::vector<std::vector<Price>> got(3);
  for (std::uint64_t i = 0; i < 500; ++i) {
    ASSERT_TRUE(producer.try_send({"ETH", i}).is_ok());
    if (i % 50 == 0) world.run_for(10ms);
    for (int c = 0; c < 3; ++c) drain(consumers[c], got[c]);
  }
  ASSERT_TRUE(world.run_until(
      [&] {
        for (int c = 0; c < 3; ++c) drain(consumers[c], got[c]);
        return got[0].size() == 500 && got[1].size() == 500 && got[2].size() == 500;
      },
      10s));
  for (int c = 0; c < 3; ++c) {
    for (std::uint64_t i = 0; i < 500; ++i) ASSERT_EQ(got[c][i].seq, i);
  }
  // The producer's entry advertises the stream; every consumer sees one connected producer.
  EXPECT_TRUE(world.network(hosts[0])->discovery().me().entry.streams.count(
      streams::stream_id_of<Price>()));
  EXPECT_TRUE(consumers[0].when().subscribed().minimum_of(1).is_met());
}

TEST(Streams, OfflineProducerRefusesToSend) {
  World world({.seed = 42});
  auto hosts = add_discovery_nodes(world, 1);
  auto producer = world.network(hosts[0])->streams().producer<Price>().build().value();
  auto s = producer.try_send({"BTC", 1});
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
}

TEST(Streams, SlowConsumerIsCutWithTooSlowWhileFastOnesKeepEverything) {
  World world({.seed = 43});
  auto hosts = add_discovery_nodes(world, 3);
  auto producer =
      world.network(hosts[0])->streams().producer<Price>().with_buffer_size(16).build().value();
  auto fast =
      world.network(hosts[1])->streams().consumer<Price>().with_buffer_size(16).build().value();
  auto slow =
      world.network(hosts[2])->streams().consumer<Price>().with_buffer_size(16).build().value();
  ASSERT_TRUE(
      world.run_until([&] { return producer.when().subscribed().minimum_of(2).is_met(); }, 30s));
  std::vector<Price> fast_got;
  for (std::uint64_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(producer.try_send({"ETH", i}).is_ok()) << "the fast consumer keeps it online";
    world.run_for(5ms);
    drain(fast, fast_got);  // the slow one never reads: its credits run out, then its queue
  }
  world.run_for(1s);
  drain(fast, fast_got);
  ASSERT_EQ(fast_got.size(), 200u);
  for (std::uint64_t i = 0; i < 200; ++i) ASSERT_EQ(fast_got[i].seq, i);
  EXPECT_GT(producer.dropped(), 0u) << "the slow consumer's queue overflowed";
  // It was cut with TooSlow and came back after its backoff: what it got is in order, without
  // duplicates, starts with its first window, and has a gap where it was cut.
  std::vector<Price> slow_got;
  drain(slow, slow_got);
  ASSERT_GE(slow_got.size(), 16u);
  for (std::uint64_t i = 0; i < 16; ++i) EXPECT_EQ(slow_got[i].seq, i);
  for (std::size_t i = 1; i < slow_got.size(); ++i) EXPECT_LT(slow_got[i - 1].seq, slow_got[i].seq);
  EXPECT_LT(slow_got.size(), 200u);
}

TEST(Streams, MaxConsumersAndRequireRefuseSubscriptions) {
  World world({.seed = 44});
  const Tag trusted = Tag::from_string("trusted");
  auto hosts = add_discovery_nodes(world, 4, [&](std::size_t i, discovery::Config& c) {
    if (i == 1 || i == 2) c.with_tag(trusted);
  });
  auto producer = world.network(hosts[0])
                      ->streams()
                      .producer<Price>()
                      .with_max_consumers(2)
                      .require([&](const streams::PeerInfo& p) { return p.has_tag(trusted); })
                      .build()
                      .value();
  auto c1 = world.network(hosts[1])->streams().consumer<Price>().build().value();
  world.run_for(20s);
  auto untrusted = world.network(hosts[3])->streams().consumer<Price>().build().value();
  world.run_for(20s);
  ASSERT_EQ(untrusted.producers().size(), 1u);
  EXPECT_EQ(untrusted.producers()[0].state, streams::ChannelState::kTerminated)
      << "NotAllowed is final";
  auto c2 = world.network(hosts[2])->streams().consumer<Price>().build().value();
  world.run_for(20s);
  EXPECT_EQ(producer.consumers().size(), 2u);
  // A third trusted subscription (a second consumer on node 1) finds the producer full: it is
  // refused with NoCapacity and keeps retrying with backoff.
  auto c3 = world.network(hosts[1])->streams().consumer<Price>().build().value();
  world.run_for(20s);
  EXPECT_EQ(producer.consumers().size(), 2u);
  EXPECT_TRUE(c1.when().subscribed().minimum_of(1).is_met());
  EXPECT_TRUE(c2.when().subscribed().minimum_of(1).is_met());
  ASSERT_EQ(c3.producers().size(), 1u);
  EXPECT_NE(c3.producers()[0].state, streams::ChannelState::kConnected);
  EXPECT_NE(c3.producers()[0].state, streams::ChannelState::kTerminated);
}

TEST(Streams, ConsumerReconnectsAfterAPartitionHeals) {
  World world({.seed = 45});
  auto hosts = add_discovery_nodes(world, 2);
  auto producer = world.network(hosts[0])->streams().producer<Price>().build().value();
  auto consumer = world.network(hosts[1])->streams().consumer<Price>().build().value();
  ASSERT_TRUE(
      world.run_until([&] { return consumer.when().subscribed().minimum_of(1).is_met(); }, 30s));
  world.net().partition({hosts[0]}, {hosts[1]});
  ASSERT_TRUE(world.run_until([&] { return !producer.is_online(); }, 30s));
  world.net().heal_all();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 60s));
  ASSERT_TRUE(producer.try_send({"SOL", 7}).is_ok());
  std::vector<Price> got;
  ASSERT_TRUE(world.run_until(
      [&] {
        drain(consumer, got);
        return !got.empty();
      },
      5s));
  EXPECT_EQ(got[0].seq, 7u);
}

TEST(Streams, DroppingTheLastProducerHandleWithdrawsTheStream) {
  World world({.seed = 46});
  auto hosts = add_discovery_nodes(world, 2);
  auto& d0 = world.network(hosts[0])->discovery();
  {
    auto producer = world.network(hosts[0])->streams().producer<Other>().build().value();
    auto again =
        world.network(hosts[0])->streams().producer<Other>().build().value();  // the same one
    EXPECT_TRUE(d0.me().entry.streams.count(streams::stream_id_of<Other>()));
    auto consumer = world.network(hosts[1])->streams().consumer<Other>().build().value();
    ASSERT_TRUE(
        world.run_until([&] { return again.when().subscribed().minimum_of(1).is_met(); }, 30s));
    EXPECT_TRUE(producer.is_online()) << "both handles share one producer";
  }
  EXPECT_FALSE(d0.me().entry.streams.count(streams::stream_id_of<Other>()));
}

TEST(Streams, OptionsStreamIdUndeliveredSinkNoLaggingCutAndTaggedSubscriptions) {
  World world({.seed = 47});
  const Tag eu = Tag::from_string("eu");
  auto hosts = add_discovery_nodes(world, 3, [&](std::size_t i, discovery::Config& c) {
    if (i == 1) c.with_tag(eu);
  });
  const streams::StreamId custom = streams::StreamId::from_string("prices.v2");
  std::vector<Price> undelivered;
  auto producer = world.network(hosts[0])
                      ->streams()
                      .producer<Price>()
                      .with_stream_id(custom)
                      .with_buffer_size(4)
                      .disconnect_lagging(false)
                      .online_when(streams::ChannelConditions().minimum_of(0))
                      .with_undelivered_sink([&](const Price& p) { undelivered.push_back(p); })
                      .build()
                      .value();
  // Online with no consumer (online_when 0): the datum goes to the undelivered sink.
  ASSERT_TRUE(producer.try_send({"A", 1}).is_ok());
  ASSERT_EQ(undelivered.size(), 1u);
  EXPECT_EQ(undelivered[0].seq, 1u);
  // A consumer of the default id does not find it; one of the custom id does.
  auto wrong = world.network(hosts[1])->streams().consumer<Price>().build().value();
  auto right = world.network(hosts[1])
                   ->streams()
                   .consumer<Price>()
                   .with_stream_id(custom)
                   .with_buffer_size(4)
                   .build()
                   .value();
  auto other = world.network(hosts[2])
                   ->streams()
                   .consumer<Price>()
                   .with_stream_id(custom)
                   .with_buffer_size(4)
                   .build()
                   .value();
  ASSERT_TRUE(
      world.run_until([&] { return producer.when().subscribed().minimum_of(2).is_met(); }, 30s));
  EXPECT_TRUE(producer.when().subscribed().with_tag(eu).is_met());
  EXPECT_FALSE(producer.when().subscribed().minimum_of(2).with_tag(eu).is_met());
  EXPECT_TRUE(wrong.producers().empty());
  // Nobody reads: with disconnect_lagging off, datums beyond the window and queue are dropped
  // for that consumer, and it stays subscribed.
  for (std::uint64_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(producer.try_send({"A", 100 + i}).is_ok());
    world.run_for(10ms);
  }
  EXPECT_EQ(producer.consumers().size(), 2u) << "not cut";
  EXPECT_GT(producer.dropped(), 0u);
  std::vector<Price> got;
  drain(right, got);
  ASSERT_FALSE(got.empty());
  for (std::size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].seq, got[i].seq);
  EXPECT_EQ(got[0].seq, 100u);
}

TEST(Streams, ConsumerStatsCountWhatArrived) {
  World world({.seed = 48});
  auto hosts = add_discovery_nodes(world, 2);
  auto producer = world.network(hosts[0])->streams().producer<Price>().build().value();
  auto consumer = world.network(hosts[1])->streams().consumer<Price>().build().value();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 30s));
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(producer.try_send({"X", i}).is_ok());
  world.run_for(1s);
  ASSERT_EQ(consumer.producers().size(), 1u);
  EXPECT_EQ(consumer.producers()[0].state, streams::ChannelState::kConnected);
  EXPECT_EQ(consumer.producers()[0].stats.datums, 10u);
  EXPECT_GT(consumer.producers()[0].stats.bytes, 10u);
  ASSERT_EQ(producer.consumers().size(), 1u);
  EXPECT_EQ(producer.consumers()[0].stats.datums, 10u);
}

// A test ticket: 8 bytes of expiry (unix milliseconds, little endian), valid until then.
class ExpiringTicket final : public tickets::TicketValidator {
 public:
  static UniqueId klass() { return UniqueId::from_string("test.expiring-ticket"); }
  static discovery::Ticket make(WallTime expiry) {
    Bytes data(8);
    const auto ms = static_cast<std::uint64_t>(expiry.unix_millis());
    for (int i = 0; i < 8; ++i) data[i] = static_cast<std::uint8_t>(ms >> (8 * i));
    return discovery::Ticket{klass(), data};
  }
  UniqueId ticket_class() const override { return klass(); }
  Result<WallTime> validate(ByteView data, const PeerId&, WallTime now) const override {
    if (data.size() != 8) return error(StatusCode::kInvalidArgument, "not a test ticket");
    std::uint64_t ms = 0;
    for (int i = 0; i < 8; ++i) ms |= static_cast<std::uint64_t>(data[i]) << (8 * i);
    const WallTime expiry = WallTime::from_unix_nanos(static_cast<std::int64_t>(ms) * 1'000'000);
    if (expiry <= now) return error(StatusCode::kPermissionDenied, "expired");
    return expiry;
  }
};

TEST(Streams, RequireTicketAdmitsTicketHoldersUntilTheirTicketsExpire) {
  World world({.seed = 49});
  auto hosts = add_discovery_nodes(world, 3);
  auto validator = std::make_shared<ExpiringTicket>();
  auto producer = world.network(hosts[0])
                      ->streams()
                      .producer<Price>()
                      .require_ticket(validator)
                      .build()
                      .value();
  // Node 1 holds a ticket valid for 40 s; node 2 holds none.
  world.network(hosts[1])->discovery().add_ticket(
      ExpiringTicket::make(world.network(hosts[1])->node().wall_now() + 40s));
  auto holder = world.network(hosts[1])->streams().consumer<Price>().build().value();
  auto stranger = world.network(hosts[2])->streams().consumer<Price>().build().value();
  ASSERT_TRUE(
      world.run_until([&] { return holder.when().subscribed().minimum_of(1).is_met(); }, 30s));
  world.run_for(2s);
  EXPECT_EQ(producer.consumers().size(), 1u);
  ASSERT_EQ(stranger.producers().size(), 1u);
  EXPECT_EQ(stranger.producers()[0].state, streams::ChannelState::kTerminated);
  // At expiry the producer ends the subscription (NotAllowed); without a new ticket it stays out.
  ASSERT_TRUE(world.run_until([&] { return producer.consumers().empty(); }, 40s));
  world.run_for(10s);
  EXPECT_TRUE(producer.consumers().empty());
  // A fresh ticket (announced at once) lets it back in.
  world.network(hosts[1])->discovery().replace_ticket(
      ExpiringTicket::make(world.network(hosts[1])->node().wall_now() + 5min));
  ASSERT_TRUE(world.run_until([&] { return producer.consumers().size() == 1u; }, 30s));
}

TEST(Streams, SubscribingToAStreamNobodyProducesIsStreamNotFound) {
  World world({.seed = 51});
  auto hosts = add_discovery_nodes(world, 2);
  ASSERT_TRUE(world.run_until([&] { return support::converged(world, hosts); }, 20s));
  auto link = support::connect_now(world, hosts[1], world.addr(hosts[0]), streams::kAlpn);
  ASSERT_TRUE(link.is_ok());
  support::Held held{std::make_unique<support::Recorder>(world), std::move(link).value()};
  held.link->set_handler(held.rec.get());
  const streams::Subscribe subscribe{support::test_network(),
                                     streams::StreamId::from_string("none"), 8};
  ASSERT_TRUE(held.link->send(encode(streams::Message{subscribe})).is_ok());
  world.run_for(1s);
  ASSERT_TRUE(held.rec->closed.has_value());
  EXPECT_EQ(held.rec->closed->code, streams::stream_close::kStreamNotFound);
  // And one from another network is DifferentNetwork.
  auto other = support::connect_now(world, hosts[1], world.addr(hosts[0]), streams::kAlpn);
  ASSERT_TRUE(other.is_ok());
  support::Held held2{std::make_unique<support::Recorder>(world), std::move(other).value()};
  held2.link->set_handler(held2.rec.get());
  const streams::Subscribe foreign{NetworkId::from_string("elsewhere"),
                                   streams::stream_id_of<Price>(), 8};
  ASSERT_TRUE(held2.link->send(encode(streams::Message{foreign})).is_ok());
  world.run_for(1s);
  ASSERT_TRUE(held2.rec->closed.has_value());
  EXPECT_EQ(held2.rec->closed->code, streams::stream_close::kDifferentNetwork);
}

const streams::StreamDef<Price> kPrices{
    .name = "test.prices.v3", .buffer_size = 32, .max_consumers = 1};

TEST(Streams, AStreamDefinitionConfiguresBothSidesInOnePlace) {
  World world({.seed = 52});
  auto hosts = add_discovery_nodes(world, 3);
  auto producer = kPrices.producer(world.network(hosts[0])->streams()).build().value();
  EXPECT_EQ(producer.stream_id(), streams::StreamId::from_string("test.prices.v3"));
  auto c1 = kPrices.consumer(world.network(hosts[1])->streams()).build().value();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 30s));
  auto c2 = kPrices.consumer(world.network(hosts[2])->streams()).build().value();
  world.run_for(10s);
  EXPECT_EQ(producer.consumers().size(), 1u) << "max_consumers from the definition";
  ASSERT_TRUE(producer.try_send({"DEF", 1}).is_ok());
  world.run_for(1s);
  auto got = c1.try_recv();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->symbol, "DEF");
}

TEST(Streams, AConsumerThatOnlyHasAnUnsignedHintOfTheProducerStillSubscribes) {
  World world({.seed = 53});
  // No bootstrap: the nodes do not know each other.
  std::vector<HostId> hosts;
  for (int i = 0; i < 2; ++i) {
    NodeSpec spec{.name = "u" + std::to_string(i)};
    spec.options.discovery = discovery::Config(support::test_network());
    hosts.push_back(world.add_node(std::move(spec)));
  }
  auto producer = world.network(hosts[0])->streams().producer<Price>().build().value();
  // The consumer's node learns of the producer only as an unsigned hint.
  discovery::PeerEntry hint = world.network(hosts[0])->discovery().me().entry;
  ASSERT_TRUE(world.network(hosts[1])->discovery().insert(hint));
  auto consumer = world.network(hosts[1])->streams().consumer<Price>().build().value();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 30s));
  // Catalogs were exchanged (on join, or on UnknownPeer): the hint gave way to the signed entry.
  EXPECT_EQ(world.network(hosts[1])->discovery().signed_peers_count(), 1u);
  EXPECT_EQ(world.network(hosts[0])->discovery().signed_peers_count(), 1u);
}

TEST(Streams, ConsumerRequireTicketSkipsProducersWithoutOne) {
  World world({.seed = 50});
  auto hosts = add_discovery_nodes(world, 3);
  auto validator = std::make_shared<ExpiringTicket>();
  world.network(hosts[0])->discovery().add_ticket(
      ExpiringTicket::make(world.network(hosts[0])->node().wall_now() + 1h));
  auto certified = world.network(hosts[0])->streams().producer<Price>().build().value();
  auto uncertified = world.network(hosts[1])->streams().producer<Price>().build().value();
  auto consumer = world.network(hosts[2])
                      ->streams()
                      .consumer<Price>()
                      .require_ticket(validator)
                      .build()
                      .value();
  world.run_for(30s);
  ASSERT_EQ(consumer.producers().size(), 1u);
  EXPECT_EQ(consumer.producers()[0].producer, world.peer_id(hosts[0]));
  EXPECT_TRUE(uncertified.consumers().empty());
}

}  // namespace
}  // namespace smalti::sim
