// Streams on both backends: a producer and consumers on two nodes, in the simulator and over
// real QUIC on loopback, exchange datums in order (small and large ones), and a second consumer
// that joins later receives everything sent after it subscribed.
#include <gtest/gtest.h>

#include "real/cluster.hpp"

namespace smalti {

struct Tick {
  std::uint64_t seq = 0;
  std::string pad;
};
SMALTI_FIELDS(Tick, seq, pad)
SMALTI_STREAM(Tick, "test.both-backends.tick")

}  // namespace smalti

namespace smalti::real {
namespace {

using support::Backend;
using support::Cluster;

class StreamsBothBackends : public ::testing::TestWithParam<Backend> {
 protected:
  NetworkOptions options(Cluster& cluster, bool bootstrap) {
    NetworkOptions o;
    o.discovery = discovery::Config(NetworkId::from_string("streams-both-backends"))
                      .with_announce_interval(2s)
                      .with_purge_after(6s);
    if (bootstrap) o.discovery.with_bootstrap(cluster.addr(0));
    return o;
  }
};

// Every 100th datum is large (64 KiB), so frames of several QUIC packets cross too.
Tick tick(std::uint64_t seq) {
  return Tick{seq, std::string(seq % 100 == 99 ? 64u << 10 : 16u, 'x')};
}

// Sends ticks [from, to) as fast as the producer's queue for every consumer has room, while
// pulling what the consumers received; true once each consumer holds `expect[i]` ticks.
bool exchange(Cluster& c, streams::Producer<Tick>& producer, std::uint64_t from, std::uint64_t to,
              std::vector<streams::Consumer<Tick>*> consumers,
              std::vector<std::vector<std::uint64_t>*> got, std::vector<std::size_t> expect) {
  std::uint64_t next = from;
  return c.run_until(
      [&] {
        auto subs = producer.consumers();
        const bool room =
            std::all_of(subs.begin(), subs.end(),
                        [](const streams::SubscriptionInfo& s) { return s.queued < 128; });
        for (int i = 0; room && i < 64 && next < to; ++i) {
          if (!producer.try_send(tick(next)).is_ok()) break;
          ++next;
        }
        bool done = next == to;
        for (std::size_t k = 0; k < consumers.size(); ++k) {
          while (auto t = consumers[k]->try_recv()) {
            EXPECT_EQ(t->pad.size(), tick(t->seq).pad.size());
            got[k]->push_back(t->seq);
          }
          done = done && got[k]->size() >= expect[k];
        }
        return done;
      },
      60s);
}

void expect_in_order(const std::vector<std::uint64_t>& got, std::uint64_t first,
                     std::uint64_t count) {
  ASSERT_EQ(got.size(), count);
  for (std::uint64_t i = 0; i < count; ++i) ASSERT_EQ(got[i], first + i) << "at " << i;
}

TEST_P(StreamsBothBackends, DatumsArriveInOrderAtEveryConsumer) {
  Cluster c(GetParam());
  c.add(options(c, false));
  c.add(options(c, true));
  auto producer = c.net(0).streams().producer<Tick>().with_buffer_size(256).build().value();
  auto first = c.net(1).streams().consumer<Tick>().with_buffer_size(256).build().value();
  ASSERT_TRUE(c.run_until([&] { return producer.is_online(); }, 20s));
  std::vector<std::uint64_t> got_first;
  ASSERT_TRUE(exchange(c, producer, 0, 2000, {&first}, {&got_first}, {2000}));
  expect_in_order(got_first, 0, 2000);

  // A second consumer (a link of its own to the same producer) joins.
  auto second = c.net(1).streams().consumer<Tick>().with_buffer_size(256).build().value();
  ASSERT_TRUE(
      c.run_until([&] { return producer.when().subscribed().minimum_of(2).is_met(); }, 20s));
  std::vector<std::uint64_t> got_second;
  ASSERT_TRUE(exchange(c, producer, 2000, 4000, {&first, &second}, {&got_first, &got_second},
                       {4000, 2000}));
  expect_in_order(got_first, 0, 4000);
  expect_in_order(got_second, 2000, 2000);
  EXPECT_EQ(producer.dropped(), 0u);
  EXPECT_EQ(first.stats().datums, 4000u);
  EXPECT_EQ(second.stats().datums, 2000u);
  EXPECT_TRUE(second.stats().uptime.has_value());
  ASSERT_EQ(producer.consumers().size(), 2u);
  for (const auto& s : producer.consumers()) EXPECT_GT(s.stats.bytes, 2000u * 16);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamsBothBackends,
                         ::testing::Values(Backend::kSim, Backend::kReal),
                         [](const auto& info) { return support::backend_name(info.param); });

}  // namespace
}  // namespace smalti::real
