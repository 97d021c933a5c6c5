// Tests for PingService hosted in the simulator (sim::World): pings, RTT, when() conditions,
// unreachable peers, and peers that send garbage on the ping ALPN.
#include "smalti/ping/ping_service.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smalti/ping/ping_messages.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::ping {
namespace {

using sim::HostId;

Bytes request_frame(std::uint64_t nonce) {
  return encode(Message{Request{nonce}});
}
Bytes response_frame(std::uint64_t nonce) {
  return encode(Message{Response{nonce}});
}

class RecordingHandler final : public env::LinkHandler {
 public:
  void on_frame(Bytes frame) override { frames.push_back(std::move(frame)); }
  void on_closed(const env::CloseInfo& info) override { closed = info; }
  std::vector<Bytes> frames;
  std::optional<env::CloseInfo> closed;
};

// A link opened by hand on the ping ALPN, bypassing the PingService of the dialing node.
struct RawLink {
  RecordingHandler handler;
  env::LinkPtr link;
  std::optional<Status> connect_error;
};

// Connects `from` to `to` on the ping ALPN and sends `first` once connected.
void open_raw(Node& from, const PeerAddr& to, Bytes first, RawLink* raw) {
  from.connect(to, kAlpn, [raw, first = std::move(first)](Result<env::LinkPtr> link) {
    if (!link.is_ok()) {
      raw->connect_error = link.status();
      return;
    }
    raw->link = std::move(link).value();
    raw->link->set_handler(&raw->handler);
    (void)raw->link->send(Bytes(first));
  });
}

// Forwards to another transport but dials a fixed ALPN nobody serves: the sim network then
// reports kNotFound, as for a peer that does not run the ping protocol.
class AbsentAlpnTransport final : public env::Transport {
 public:
  explicit AbsentAlpnTransport(env::Transport& inner) : inner_(inner) {}
  PeerAddr local_addr() const override { return inner_.local_addr(); }
  Status listen(const std::string& alpn, env::AcceptFn on_link) override {
    return inner_.listen(alpn, std::move(on_link));
  }
  void connect(const PeerAddr& addr, const std::string&, env::ConnectFn done) override {
    inner_.connect(addr, "/smalti/test/absent/1", std::move(done));
  }

 private:
  env::Transport& inner_;
};

Task<void> ping_task(PingService& svc, PeerAddr peer, std::vector<Result<Duration>>* out) {
  out->push_back(co_await svc.ping(peer));
}

Task<void> ping_twice(PingService& svc, PeerAddr peer, std::vector<Result<Duration>>* out) {
  out->push_back(co_await svc.ping(peer));
  out->push_back(co_await svc.ping(peer));
}

Task<void> wait_reachable(PingService& svc, PeerId peer, bool* reached) {
  co_await svc.when().reachable(peer);
  *reached = true;
}

Task<void> wait_rtt_below(PingService& svc, PeerId peer, Duration bound, Duration limit,
                          std::optional<bool>* out) {
  *out = co_await svc.when().rtt_below(peer, bound).within(limit);
}

struct PingServiceTest : ::testing::Test {
  // Before the world: raw links must outlive it (it detaches them).
  std::vector<std::unique_ptr<RawLink>> raws;
  sim::World world{{.seed = 23}};
  HostId a = world.add_node({.name = "a"});
  HostId b = world.add_node({.name = "b"});
  HostId c = world.add_node({.name = "c"});

  PingService& ping(HostId h) { return world.network(h)->ping(); }
  Node& node(HostId h) { return world.network(h)->node(); }
  RawLink& raw_to(HostId from, HostId to, Bytes first) {
    raws.push_back(std::make_unique<RawLink>());
    open_raw(node(from), world.addr(to), std::move(first), raws.back().get());
    return *raws.back();
  }
  // Pings `to` from `from` with the callback form and runs until it completes.
  Result<Duration> ping_and_wait(HostId from, HostId to, Duration limit = 10s) {
    std::optional<Result<Duration>> result;
    ping(from).ping(world.addr(to), [&](Result<Duration> r) { result = std::move(r); });
    if (!world.run_until([&] { return result.has_value(); }, limit)) {
      return error(StatusCode::kInternal, "the ping never completed");
    }
    return *result;
  }
};

TEST_F(PingServiceTest, PingSucceedsAndRttIsKnown) {
  EXPECT_FALSE(ping(a).rtt(world.peer_id(b)).has_value());
  auto result = ping_and_wait(a, b);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_GT(*result, Duration::zero());
  EXPECT_LT(*result, 1s);
  auto rtt = ping(a).rtt(world.peer_id(b));
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(*rtt, *result);  // the first sample is the smoothed RTT
  EXPECT_EQ(ping(a).stats().succeeded, 1u);
  EXPECT_EQ(ping(b).stats().requests_answered, 1u);
  EXPECT_FALSE(ping(a).rtt(world.peer_id(c)).has_value());
}

TEST_F(PingServiceTest, CoroutineFormReusesTheLink) {
  std::vector<Result<Duration>> results;
  world.network(a)->spawn(ping_twice(ping(a), world.addr(b), &results));
  ASSERT_TRUE(world.run_until([&] { return results.size() == 2; }, 10s));
  EXPECT_TRUE(results[0].is_ok()) << results[0].status().to_string();
  EXPECT_TRUE(results[1].is_ok()) << results[1].status().to_string();
  EXPECT_EQ(world.net().stats().links_opened, 1u);
  EXPECT_EQ(ping(a).stats().succeeded, 2u);
}

TEST_F(PingServiceTest, ConcurrentPingsWhileConnectingAllComplete) {
  std::vector<Result<Duration>> results;
  for (int i = 0; i < 3; ++i) world.network(a)->spawn(ping_task(ping(a), world.addr(b), &results));
  ASSERT_TRUE(world.run_until([&] { return results.size() == 3; }, 10s));
  for (const auto& r : results) EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(world.net().stats().links_opened, 1u);
}

TEST_F(PingServiceTest, WhenReachableCompletesAfterTheFirstSuccess) {
  bool reached_b = false;
  bool reached_c = false;
  world.network(a)->spawn(wait_reachable(ping(a), world.peer_id(b), &reached_b));
  world.network(a)->spawn(wait_reachable(ping(a), world.peer_id(c), &reached_c));
  world.run_for(1s);
  EXPECT_FALSE(reached_b);
  ASSERT_TRUE(ping_and_wait(a, b).is_ok());
  world.run_for(1ms);
  EXPECT_TRUE(reached_b);
  EXPECT_FALSE(reached_c);
}

TEST_F(PingServiceTest, WhenRttBelow) {
  ASSERT_TRUE(ping_and_wait(a, b).is_ok());
  std::optional<bool> below_a_second;
  std::optional<bool> below_a_nanosecond;
  std::optional<bool> unknown_peer;
  world.network(a)->spawn(wait_rtt_below(ping(a), world.peer_id(b), 1s, 1s, &below_a_second));
  world.network(a)->spawn(wait_rtt_below(ping(a), world.peer_id(b), 1ns, 1s, &below_a_nanosecond));
  world.network(a)->spawn(wait_rtt_below(ping(a), world.peer_id(c), 1s, 1s, &unknown_peer));
  world.run_for(2s);
  ASSERT_TRUE(below_a_second.has_value());
  EXPECT_TRUE(*below_a_second);
  ASSERT_TRUE(below_a_nanosecond.has_value());
  EXPECT_FALSE(*below_a_nanosecond);
  ASSERT_TRUE(unknown_peer.has_value());
  EXPECT_FALSE(*unknown_peer);
}

TEST_F(PingServiceTest, PeerWithoutThePingListenerFailsQuickly) {
  // A second node on host a whose transport dials an ALPN that b does not serve.
  env::Environment env = node(a).env();
  AbsentAlpnTransport transport(*env.transport);
  env.transport = &transport;
  env.tracer = nullptr;
  auto pinger =
      Node::create(env, {.name = "pinger", .secret_seed = std::array<std::uint8_t, 32>{7}});
  ASSERT_TRUE(pinger.is_ok());
  PingService svc(**pinger);
  std::optional<Result<Duration>> result;
  const Instant started = world.now();
  svc.ping(world.addr(b), [&](Result<Duration> r) { result = std::move(r); });
  ASSERT_TRUE(world.run_until([&] { return result.has_value(); }, 10s));
  ASSERT_FALSE(result->is_ok());
  EXPECT_EQ(result->status().code(), StatusCode::kUnavailable) << result->status().to_string();
  EXPECT_LT(world.now() - started, 500ms);  // far below the 5s ping timeout
  EXPECT_EQ(svc.stats().failed, 1u);
  EXPECT_FALSE(svc.rtt(world.peer_id(b)).has_value());
}

TEST_F(PingServiceTest, ShutDownPeerFailsQuickly) {
  node(b).shutdown();
  const Instant started = world.now();
  auto result = ping_and_wait(a, b);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().to_string();
  EXPECT_LT(world.now() - started, 500ms);
}

TEST_F(PingServiceTest, WrongPeerIdAtAnAddressFailsQuickly) {
  // c's identity at b's address: the handshake sees another key.
  const PeerAddr wrong{world.peer_id(c), world.addr(b).addresses};
  std::optional<Result<Duration>> result;
  const Instant started = world.now();
  ping(a).ping(wrong, [&](Result<Duration> r) { result = std::move(r); });
  ASSERT_TRUE(world.run_until([&] { return result.has_value(); }, 10s));
  ASSERT_FALSE(result->is_ok());
  EXPECT_EQ(result->status().code(), StatusCode::kUnavailable) << result->status().to_string();
  EXPECT_LT(world.now() - started, 500ms);
  EXPECT_FALSE(ping(a).rtt(world.peer_id(c)).has_value());
  EXPECT_EQ(ping(b).stats().requests_answered, 0u);
}

TEST_F(PingServiceTest, PingToSelfSucceeds) {
  auto result = ping_and_wait(a, a);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(ping(a).stats().requests_answered, 1u);
}

TEST_F(PingServiceTest, CrashedPeerFailsWithinTheTimeout) {
  world.crash(b);
  const Instant started = world.now();
  auto result = ping_and_wait(a, b, 20s);
  ASSERT_FALSE(result.is_ok());
  EXPECT_TRUE(result.status().code() == StatusCode::kTimeout ||
              result.status().code() == StatusCode::kUnavailable)
      << result.status().to_string();
  EXPECT_LE(world.now() - started, 5s);
}

TEST_F(PingServiceTest, PingWorksAgainAfterThePeerRestarts) {
  ASSERT_TRUE(ping_and_wait(a, b).is_ok());
  world.crash(b);
  world.run_for(100ms);
  world.restart(b);
  // A ping sent in the very instant of the restart may still go out on the old link, which is
  // being reset: it may fail, but only quickly and as kUnavailable.
  const Instant started = world.now();
  auto racing = ping_and_wait(a, b);
  if (!racing.is_ok()) {
    EXPECT_EQ(racing.status().code(), StatusCode::kUnavailable) << racing.status().to_string();
    EXPECT_LT(world.now() - started, 500ms);
  }
  world.run_for(10ms);
  auto result = ping_and_wait(a, b);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_GE(ping(a).stats().succeeded, 2u);
}

TEST_F(PingServiceTest, PartitionedPeerTimesOutAndALateResponseIsIgnored) {
  ASSERT_TRUE(ping_and_wait(a, b).is_ok());  // the link is up
  const sim::PartitionId cut = world.net().partition({a}, {b});
  const Instant started = world.now();
  auto result = ping_and_wait(a, b);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kTimeout) << result.status().to_string();
  EXPECT_EQ(world.now() - started, 5s);  // the default Config::timeout, exactly
  EXPECT_EQ(ping(a).stats().timed_out, 1u);
  // Healed before the link idles out: the stalled request is answered, too late.
  world.net().heal(cut);
  world.run_for(1s);
  EXPECT_EQ(ping(a).stats().unexpected_responses, 1u);
  EXPECT_TRUE(ping_and_wait(a, b).is_ok());
}

TEST(PingServiceLimitTest, OutstandingLimitFailsAtOnce) {
  sim::World world({.seed = 5});
  const HostId a = world.add_node({.name = "a", .options = {.ping = {.max_outstanding = 1}}});
  const HostId b = world.add_node({.name = "b"});
  PingService& svc = world.network(a)->ping();
  std::optional<Result<Duration>> first;
  std::optional<Result<Duration>> second;
  svc.ping(world.addr(b), [&](Result<Duration> r) { first = std::move(r); });
  svc.ping(world.addr(b), [&](Result<Duration> r) { second = std::move(r); });
  ASSERT_TRUE(second.has_value());  // refused inline, before any event ran
  EXPECT_EQ(second->status().code(), StatusCode::kLimitExceeded);
  EXPECT_FALSE(first.has_value());
  ASSERT_TRUE(world.run_until([&] { return first.has_value(); }, 10s));
  EXPECT_TRUE(first->is_ok());
}

TEST_F(PingServiceTest, RawRequestOnThePingAlpnIsAnswered) {
  RawLink& raw = raw_to(c, b, request_frame(77));
  ASSERT_TRUE(world.run_until([&] { return !raw.handler.frames.empty(); }, 10s));
  EXPECT_EQ(raw.handler.frames[0], response_frame(77));
  EXPECT_FALSE(raw.handler.closed.has_value());
  EXPECT_TRUE(raw.link->is_open());
}

TEST_F(PingServiceTest, GarbageClosesTheLinkWithProtocolViolation) {
  RawLink& raw = raw_to(c, b, Bytes{0xff, 0xfe, 0x01});
  ASSERT_TRUE(world.run_until([&] { return raw.handler.closed.has_value(); }, 10s));
  EXPECT_FALSE(raw.connect_error.has_value());
  EXPECT_EQ(raw.handler.closed->code, env::close_code::kProtocolViolation);
  EXPECT_TRUE(raw.handler.closed->by_remote);
  EXPECT_TRUE(raw.handler.frames.empty());
  EXPECT_EQ(ping(b).stats().malformed_frames, 1u);
  // b keeps answering other peers, and the sender itself on a fresh link.
  auto from_a = ping_and_wait(a, b);
  EXPECT_TRUE(from_a.is_ok()) << from_a.status().to_string();
  auto from_c = ping_and_wait(c, b);
  EXPECT_TRUE(from_c.is_ok()) << from_c.status().to_string();
}

TEST_F(PingServiceTest, OversizedFrameClosesTheLinkWithProtocolViolation) {
  Bytes big = request_frame(1);
  big.resize(kMaxFrameSize + 1, 0);
  RawLink& raw = raw_to(c, b, big);
  ASSERT_TRUE(world.run_until([&] { return raw.handler.closed.has_value(); }, 10s));
  EXPECT_EQ(raw.handler.closed->code, env::close_code::kProtocolViolation);
  EXPECT_EQ(ping(b).stats().malformed_frames, 1u);
  EXPECT_EQ(ping(b).stats().requests_answered, 0u);
}

TEST_F(PingServiceTest, GarbageDoesNotDisturbAnotherPeersPingInFlight) {
  std::vector<Result<Duration>> results;
  world.network(a)->spawn(ping_task(ping(a), world.addr(b), &results));
  RawLink& raw = raw_to(c, b, Bytes{0x07});
  ASSERT_TRUE(world.run_until([&] { return results.size() == 1 && raw.handler.closed; }, 10s));
  EXPECT_TRUE(results[0].is_ok()) << results[0].status().to_string();
  EXPECT_EQ(raw.handler.closed->code, env::close_code::kProtocolViolation);
}

// Regression test for a fixed bug: a link closed for a protocol violation must be forgotten at
// once, since a local close() is never reported back to the closing side's handler. Before the
// fix the inbound entry stayed forever, so after max_inbound_links misbehaving links the node
// refused every new ping link: one peer could disable b's ping service for everyone.
TEST_F(PingServiceTest, LinksClosedForViolationsAreReleased) {
  for (std::size_t i = 0; i < Config{}.max_inbound_links; ++i) raw_to(c, b, Bytes{0xff});
  ASSERT_TRUE(world.run_until(
      [&] {
        for (const auto& r : raws) {
          if (!r->handler.closed) return false;
        }
        return true;
      },
      60s));
  EXPECT_EQ(ping(b).stats().malformed_frames, Config{}.max_inbound_links);
  auto result = ping_and_wait(a, b);
  EXPECT_TRUE(result.is_ok()) << "b refuses ping links after closing misbehaving ones: "
                              << result.status().to_string();
}

}  // namespace
}  // namespace smalti::ping
