// Streams' API in the simulator: one producer per stream (build, produce, kAlreadyExists),
// online_when and when().subscribed() with tags and predicates on both sides, aggregate and
// per-channel stats, RTT predicates under latency, and refused sends under a small window.
#include <gtest/gtest.h>

#include "discovery_support.hpp"

namespace smalti {

struct Quote {
  std::string symbol;
  std::uint64_t seq = 0;
};
SMALTI_FIELDS(Quote, symbol, seq)
SMALTI_STREAM(Quote, "test.quote")

}  // namespace smalti

namespace smalti::sim {
namespace {

using streams::ChannelConditions;
using support::add_discovery_nodes;

template <typename T>
void drain(streams::Consumer<T>& c, std::vector<T>& out) {
  while (auto d = c.try_recv()) out.push_back(std::move(*d));
}

TEST(StreamsApi, OneProducerPerStreamBuildSaysAlreadyExistsForOtherSettings) {
  World world({.seed = 60});
  auto hosts = add_discovery_nodes(world, 2);
  auto& streams = world.network(hosts[0])->streams();
  EXPECT_FALSE(streams.find_producer<Quote>().has_value());
  auto first = streams.producer<Quote>().with_buffer_size(64).build();
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  // The same settings: the same producer.
  auto same = streams.producer<Quote>().with_buffer_size(64).build();
  ASSERT_TRUE(same.is_ok());
  // Other settings: kAlreadyExists, and find_producer() gives the one that exists.
  auto other = streams.producer<Quote>().with_buffer_size(32).build();
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(streams.producer<Quote>()
                   .require([](const streams::PeerInfo&) { return true; })
                   .with_buffer_size(64)
                   .build()
                   .is_ok())
      << "a predicate never compares equal";
  auto found = streams.find_producer<Quote>();
  ASSERT_TRUE(found.has_value());
  // produce() returns the existing one whatever its settings.
  auto produced = streams.produce<Quote>();
  auto consumer = world.network(hosts[1])->streams().consume<Quote>();
  ASSERT_TRUE(world.run_until([&] { return first->is_online(); }, 30s));
  for (auto* p : {&*first, &*same, &*found, &produced}) {
    EXPECT_TRUE(p->is_online()) << "every handle shares the one producer";
    EXPECT_EQ(p->consumers().size(), 1u);
  }
  // Out-of-bounds options are refused.
  auto bad = world.network(hosts[1])->streams().producer<Quote>().with_buffer_size(0).build();
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto bad_consumer = world.network(hosts[1])
                          ->streams()
                          .consumer<Quote>()
                          .with_backoff({.initial = Duration::zero()})
                          .build();
  EXPECT_EQ(bad_consumer.status().code(), StatusCode::kInvalidArgument);
}

TEST(StreamsApi, ProduceMakesADefaultProducerOnceTheLastHandleIsGone) {
  World world({.seed = 61});
  auto hosts = add_discovery_nodes(world, 1);
  auto& streams = world.network(hosts[0])->streams();
  {
    auto configured = streams.producer<Quote>().with_max_consumers(1).build();
    ASSERT_TRUE(configured.is_ok());
    EXPECT_EQ(streams.produce<Quote>().stream_id(), streams::stream_id_of<Quote>());
  }
  EXPECT_FALSE(streams.find_producer<Quote>().has_value());
  auto fresh = streams.produce<Quote>();
  EXPECT_TRUE(streams.producer<Quote>().build().is_ok()) << "defaults, as produce() made it";
}

// Hosts 1 and 2 carry `eu`, host 3 does not; host 2 also carries `beta`.
std::vector<HostId> tagged_world(World& world, const Tag& eu, const Tag& beta) {
  return add_discovery_nodes(world, 4, [&](std::size_t i, discovery::Config& c) {
    if (i == 1 || i == 2) c.with_tag(eu);
    if (i == 2) c.with_tag(beta);
  });
}

TEST(StreamsApi, ProducerOnlineWhenCountsConsumersWithTagsAndPredicates) {
  World world({.seed = 62});
  const Tag eu = Tag::from_string("eu");
  const Tag beta = Tag::from_string("beta");
  auto hosts = tagged_world(world, eu, beta);
  auto producer = world.network(hosts[0])
                      ->streams()
                      .producer<Quote>()
                      .online_when(ChannelConditions().minimum_of(2).with_tag(eu))
                      .build()
                      .value();
  auto untagged = world.network(hosts[3])->streams().consume<Quote>();
  auto first = world.network(hosts[1])->streams().consume<Quote>();
  ASSERT_TRUE(world.run_until([&] { return producer.consumers().size() == 2u; }, 30s));
  EXPECT_FALSE(producer.is_online()) << "only one consumer carries the tag";
  EXPECT_EQ(producer.try_send({"X", 1}).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(producer.when().subscribed().minimum_of(2).is_met());
  EXPECT_FALSE(producer.when().subscribed().minimum_of(2).with_tag(eu).is_met());
  auto beta_only = producer.when().subscribed().with_predicate(
      [&](const discovery::PeerEntry& e) { return e.tags.count(beta) != 0; });
  EXPECT_FALSE(beta_only.is_met());
  std::optional<streams::Consumer<Quote>> second =
      world.network(hosts[2])->streams().consume<Quote>();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 30s));
  EXPECT_TRUE(beta_only.is_met());
  EXPECT_TRUE(producer.try_send({"X", 2}).is_ok());
  // A tagged consumer going away takes it offline again.
  second.reset();
  ASSERT_TRUE(world.run_until([&] { return !producer.is_online(); }, 30s));
  EXPECT_TRUE(producer.when().offline().is_met());
  EXPECT_FALSE(beta_only.is_met());
}

TEST(StreamsApi, ConsumerOnlineWhenCountsConnectedProducersWithTags) {
  World world({.seed = 63});
  const Tag eu = Tag::from_string("eu");
  const Tag beta = Tag::from_string("beta");
  auto hosts = tagged_world(world, eu, beta);
  auto consumer = world.network(hosts[0])
                      ->streams()
                      .consumer<Quote>()
                      .online_when(ChannelConditions().minimum_of(2).with_tag(eu))
                      .build()
                      .value();
  EXPECT_FALSE(consumer.is_online());
  auto default_consumer = world.network(hosts[0])->streams().consume<Quote>();
  EXPECT_TRUE(default_consumer.is_online()) << "online at once by default, as in mosaik";
  EXPECT_TRUE(default_consumer.when().unsubscribed().is_met());
  auto p3 = world.network(hosts[3])->streams().produce<Quote>();
  auto p1 = world.network(hosts[1])->streams().produce<Quote>();
  ASSERT_TRUE(
      world.run_until([&] { return consumer.when().subscribed().minimum_of(2).is_met(); }, 30s));
  EXPECT_FALSE(consumer.is_online());
  std::optional<streams::Producer<Quote>> p2 = world.network(hosts[2])->streams().produce<Quote>();
  ASSERT_TRUE(world.run_until([&] { return consumer.is_online(); }, 30s));
  EXPECT_TRUE(consumer.when()
                  .subscribed()
                  .with_predicate([&](const discovery::PeerEntry& e) { return e.tags.count(beta); })
                  .is_met());
  // The producer that goes away (its stream leaves its entry) takes it offline.
  p2.reset();
  ASSERT_TRUE(world.run_until([&] { return !consumer.is_online(); }, 30s));
  EXPECT_TRUE(consumer.when().subscribed().minimum_of(2).is_met());
}

TEST(StreamsApi, SubscribedConditionsAreAwaitable) {
  World world({.seed = 64});
  auto hosts = add_discovery_nodes(world, 3);
  Network& net = *world.network(hosts[0]);
  auto producer = net.streams().produce<Quote>();
  int reached = 0;
  net.spawn([](streams::Producer<Quote> p, int& reached) -> Task<void> {
    co_await p.when().subscribed().minimum_of(2);
    reached = 1;
    co_await p.when().unsubscribed();
    reached = 2;
  }(producer, reached));
  std::optional<streams::Consumer<Quote>> c1 = world.network(hosts[1])->streams().consume<Quote>();
  world.run_for(10s);
  EXPECT_EQ(reached, 0);
  std::optional<streams::Consumer<Quote>> c2 = world.network(hosts[2])->streams().consume<Quote>();
  ASSERT_TRUE(world.run_until([&] { return reached == 1; }, 30s));
  c1.reset();
  c2.reset();
  ASSERT_TRUE(world.run_until([&] { return reached == 2; }, 30s));
}

TEST(StreamsApi, ConsumerStatsAggregateAndChannelUptimeOnlyWhileConnected) {
  World world({.seed = 65});
  auto hosts = add_discovery_nodes(world, 3);
  auto consumer = world.network(hosts[0])->streams().consume<Quote>();
  EXPECT_FALSE(consumer.stats().uptime.has_value()) << "none while disconnected";
  std::optional<streams::Producer<Quote>> p1 = world.network(hosts[1])->streams().produce<Quote>();
  auto p2 = world.network(hosts[2])->streams().produce<Quote>();
  ASSERT_TRUE(
      world.run_until([&] { return consumer.when().subscribed().minimum_of(2).is_met(); }, 30s));
  const Quote q{"ABC", 1};
  const std::uint64_t size = encode(q).size();
  ASSERT_TRUE(p1->try_send(q).is_ok());
  ASSERT_TRUE(p1->try_send(q).is_ok());
  ASSERT_TRUE(p2.try_send(q).is_ok());
  world.run_for(2s);
  std::vector<Quote> got;
  drain(consumer, got);
  ASSERT_EQ(got.size(), 3u);
  const streams::Stats total = consumer.stats();
  EXPECT_EQ(total.datums, 3u);
  EXPECT_EQ(total.bytes, 3 * size) << "payload bytes, without framing";
  ASSERT_TRUE(total.uptime.has_value());
  EXPECT_GE(*total.uptime, 2s);
  for (const auto& channel : consumer.producers()) {
    EXPECT_EQ(channel.state, streams::ChannelState::kConnected);
    ASSERT_TRUE(channel.stats.uptime.has_value());
    EXPECT_EQ(channel.stats.datums, channel.producer == world.peer_id(hosts[1]) ? 2u : 1u);
  }
  ASSERT_EQ(p1->consumers().size(), 1u);
  EXPECT_EQ(p1->consumers()[0].stats.datums, 2u);
  EXPECT_EQ(p1->consumers()[0].stats.bytes, 2 * size);
  EXPECT_TRUE(p1->consumers()[0].stats.uptime.has_value());
  // Both producers go: the totals stay, the uptime is none.
  p1.reset();
  world.network(hosts[2])->discovery().remove_streams({streams::stream_id_of<Quote>()});
  ASSERT_TRUE(world.run_until([&] { return consumer.when().unsubscribed().is_met(); }, 30s));
  EXPECT_FALSE(consumer.stats().uptime.has_value());
  EXPECT_EQ(consumer.stats().datums, 3u);
}

TEST(StreamsApi, RttPredicatesSeeTheMeasuredRttOnBothSides) {
  // 20 to 30 ms one way: a round trip of 40 ms or more.
  WorldOptions options{.seed = 66};
  options.network.latency = LatencyModel{.min = 20ms, .median = 25ms, .tail_probability = 0};
  World world(options);
  auto hosts = add_discovery_nodes(world, 3);
  const streams::StreamId near_id = streams::StreamId::from_string("test.quote.near");
  const streams::StreamId far_id = streams::StreamId::from_string("test.quote.far");
  std::vector<Duration> seen;
  auto accepting = world.network(hosts[0])
                       ->streams()
                       .producer<Quote>()
                       .with_stream_id(near_id)
                       .require([&](const streams::PeerInfo& p) {
                         if (p.rtt) seen.push_back(*p.rtt);
                         return p.rtt && *p.rtt < 1s;
                       })
                       .build()
                       .value();
  auto refusing = world.network(hosts[0])
                      ->streams()
                      .producer<Quote>()
                      .with_stream_id(far_id)
                      .require([](const streams::PeerInfo& p) { return p.rtt && *p.rtt < 5ms; })
                      .build()
                      .value();
  auto near = world.network(hosts[1])->streams().consumer<Quote>().with_stream_id(near_id).build();
  auto far = world.network(hosts[1])->streams().consumer<Quote>().with_stream_id(far_id).build();
  ASSERT_TRUE(near.is_ok() && far.is_ok());
  ASSERT_TRUE(world.run_until([&] { return accepting.is_online(); }, 30s));
  world.run_for(30s);
  EXPECT_TRUE(refusing.consumers().empty()) << "no consumer is that close";
  ASSERT_FALSE(seen.empty());
  for (Duration rtt : seen) EXPECT_GE(rtt, 40ms);
  // The consumer side: only producers within the bound are subscribed to.
  auto fast_only = world.network(hosts[2])
                       ->streams()
                       .consumer<Quote>()
                       .with_stream_id(near_id)
                       .require([](const streams::PeerInfo& p) { return p.rtt && *p.rtt < 5ms; })
                       .build()
                       .value();
  auto any_near = world.network(hosts[2])
                      ->streams()
                      .consumer<Quote>()
                      .with_stream_id(near_id)
                      .require([](const streams::PeerInfo& p) { return p.rtt && *p.rtt < 1s; })
                      .build()
                      .value();
  ASSERT_TRUE(world.run_until([&] { return any_near.when().subscribed().is_met(); }, 60s));
  world.run_for(20s);
  EXPECT_TRUE(fast_only.producers().empty());
  EXPECT_EQ(accepting.consumers().size(), 2u);
}

TEST(StreamsApi, ARefusedSendNeitherLosesADatumNorLeaksACredit) {
  // A send window of 2 KiB per direction: with a credit window of 64 datums of ~300 bytes, the
  // producer's link refuses sends again and again.
  WorldOptions options{.seed = 67};
  options.network.max_in_flight_bytes = 2048;
  World world(options);
  auto hosts = add_discovery_nodes(world, 2);
  auto producer =
      world.network(hosts[0])->streams().producer<Quote>().with_buffer_size(64).build().value();
  auto consumer =
      world.network(hosts[1])->streams().consumer<Quote>().with_buffer_size(64).build().value();
  ASSERT_TRUE(world.run_until([&] { return producer.is_online(); }, 30s));
  const std::string symbol(300, 'q');
  constexpr std::uint64_t kTotal = 2000;
  std::uint64_t sent = 0;
  std::vector<Quote> got;
  ASSERT_TRUE(world.run_until(
      [&] {
        // Keep the producer's queue for the consumer from overflowing: nothing may be dropped.
        while (sent < kTotal && producer.consumers().at(0).queued < 32) {
          EXPECT_TRUE(producer.try_send({symbol, sent}).is_ok());
          ++sent;
        }
        drain(consumer, got);
        return got.size() == kTotal;
      },
      120s));
  for (std::uint64_t i = 0; i < kTotal; ++i) ASSERT_EQ(got[i].seq, i);
  EXPECT_EQ(producer.dropped(), 0u);
  EXPECT_GT(producer.refused_sends(), 10u) << "the window refused sends";
  // No credit leaked: what the producer holds is the window less what the consumer has taken
  // and not yet granted back (under half a window).
  world.run_for(1s);
  ASSERT_EQ(producer.consumers().size(), 1u);
  EXPECT_GT(producer.consumers()[0].credits, 32u);
  EXPECT_LE(producer.consumers()[0].credits, 64u);
  EXPECT_EQ(consumer.producers().at(0).state, streams::ChannelState::kConnected);
}

}  // namespace
}  // namespace smalti::sim
