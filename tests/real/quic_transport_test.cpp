// QuicTransport in one process: two transports on one Runtime exchange frames over real QUIC on
// 127.0.0.1; identity, ALPN and bad input are refused with a reason while other links carry on.
#include "smalti/real/quic_transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <random>

#include "support/test_keys.hpp"

namespace smalti::real {
namespace {

constexpr const char* kAlpn = "/smalti/test/1";

SecretKey key(std::uint8_t n) {
  return test_support::test_key(n, 0x7e);
}

// Records what arrives on a link.
struct Recorder final : env::LinkHandler {
  void on_frame(Bytes frame) override { frames.push_back(std::move(frame)); }
  void on_closed(const env::CloseInfo& info) override { closed = info; }
  std::vector<Bytes> frames;
  std::optional<env::CloseInfo> closed;
};

class QuicTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<QuicTransport> make(std::uint8_t n, QuicTransportOptions options = {}) {
    options.log = [this](const std::string& line) { log.push_back(line); };
    auto t = QuicTransport::create(runtime, key(n), std::move(options));
    EXPECT_TRUE(t.is_ok()) << t.status().to_string();
    return std::move(t).value();
  }
  // Runs the loop until `done` or `limit` of wall time.
  bool run_until(const std::function<bool()>& done, Duration limit = 5s) {
    const Instant deadline = runtime.monotonic() + limit;
    while (!done() && runtime.monotonic() < deadline) runtime.run_for(5ms);
    return done();
  }
  Result<env::LinkPtr> connect(QuicTransport& from, const PeerAddr& to,
                               const std::string& alpn = kAlpn) {
    std::optional<Result<env::LinkPtr>> out;
    from.connect(to, alpn, [&](Result<env::LinkPtr> r) { out = std::move(r); });
    if (!run_until([&] { return out.has_value(); }, 15s)) {
      return error(StatusCode::kTimeout, "connect did not complete");
    }
    return std::move(*out);
  }
  bool logged(const std::string& needle) const {
    for (const auto& line : log) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  Runtime runtime;
  std::vector<std::string> log;
};

// A server that accepts links on kAlpn and records them.
struct Server {
  explicit Server(QuicTransport& t) {
    EXPECT_TRUE(t.listen(kAlpn, [this](env::LinkPtr link) {
                   auto rec = std::make_unique<Recorder>();
                   link->set_handler(rec.get());
                   links.push_back(std::move(link));
                   recorders.push_back(std::move(rec));
                 }).is_ok());
  }
  std::vector<std::unique_ptr<Recorder>> recorders;  // outlive the links
  std::vector<env::LinkPtr> links;
};

TEST_F(QuicTransportTest, FramesFlowBothWaysInOrderAndTheRemoteKeyIsTheLinksPeer) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  auto link = connect(*a, b->local_addr());
  ASSERT_TRUE(link.is_ok()) << link.status().to_string();
  EXPECT_EQ((*link)->remote(), key(2).peer_id());
  Recorder client;
  (*link)->set_handler(&client);
  for (std::uint8_t i = 0; i < 200; ++i) ASSERT_TRUE((*link)->send(Bytes(i + 1, i)).is_ok());
  ASSERT_TRUE(run_until(
      [&] { return !server.recorders.empty() && server.recorders[0]->frames.size() == 200; }));
  EXPECT_EQ(server.links[0]->remote(), key(1).peer_id());
  for (std::uint8_t i = 0; i < 200; ++i) EXPECT_EQ(server.recorders[0]->frames[i], Bytes(i + 1, i));
  // A large frame, and an answer.
  Bytes big(3u << 20, 0x5a);
  ASSERT_TRUE(server.links[0]->send(Bytes(big)).is_ok());
  ASSERT_TRUE(run_until([&] { return client.frames.size() == 1; }));
  EXPECT_EQ(client.frames[0], big);
  EXPECT_GT((*link)->rtt(), Duration::zero());
  // Both ends derive the same per-connection secret; another label gives another secret.
  auto s1 = a->link_secret(**link, "smalti bond");
  auto s2 = b->link_secret(*server.links[0], "smalti bond");
  ASSERT_TRUE(s1.is_ok() && s2.is_ok());
  EXPECT_EQ(*s1, *s2);
  EXPECT_NE(*s1, *a->link_secret(**link, "other"));
  EXPECT_EQ((*link)->secret("smalti bond"), server.links[0]->secret("smalti bond"));
  EXPECT_EQ((*link)->secret("smalti bond"), Digest(*s1));
}

TEST_F(QuicTransportTest, CloseDeliversEarlierFramesThenTheCodeAndReason) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  auto link = connect(*a, b->local_addr());
  ASSERT_TRUE(link.is_ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*link)->send(Bytes(1000, 7)).is_ok());
  (*link)->close(4242, "done here");
  EXPECT_FALSE((*link)->is_open());
  EXPECT_FALSE((*link)->send(Bytes{1}).is_ok());
  ASSERT_TRUE(run_until(
      [&] { return !server.recorders.empty() && server.recorders[0]->closed.has_value(); }));
  EXPECT_EQ(server.recorders[0]->frames.size(), 50u);
  EXPECT_EQ(server.recorders[0]->closed->code, 4242u);
  EXPECT_EQ(server.recorders[0]->closed->reason, "done here");
  EXPECT_TRUE(server.recorders[0]->closed->by_remote);
}

TEST_F(QuicTransportTest, DialingTheWrongKeyIsRefused) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  PeerAddr wrong = b->local_addr();
  wrong.id = key(3).peer_id();
  auto link = connect(*a, wrong);
  ASSERT_FALSE(link.is_ok());
  EXPECT_EQ(link.status().code(), StatusCode::kPermissionDenied) << link.status().to_string();
  EXPECT_TRUE(logged("handshake")) << "the refusal is logged";
  // b keeps serving the right dialer.
  auto good = connect(*a, b->local_addr());
  ASSERT_TRUE(good.is_ok()) << good.status().to_string();
}

TEST_F(QuicTransportTest, AnAlpnNobodyServesIsRefused) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  auto link = connect(*a, b->local_addr(), "/smalti/nobody/1");
  ASSERT_FALSE(link.is_ok());
  EXPECT_EQ(link.status().code(), StatusCode::kNotFound) << link.status().to_string();
}

TEST_F(QuicTransportTest, OversizedFramesAreRefusedAndOtherLinksCarryOn) {
  auto a = make(1);
  QuicTransportOptions small;
  small.max_frame_size = 1024;
  auto b = make(2, small);
  Server server(*b);
  auto bad = connect(*a, b->local_addr());
  auto good = connect(*a, b->local_addr());
  ASSERT_TRUE(bad.is_ok() && good.is_ok());
  Recorder bad_end;
  (*bad)->set_handler(&bad_end);
  ASSERT_TRUE((*bad)->send(Bytes(4096, 1)).is_ok());  // fine for a, too big for b
  ASSERT_TRUE(run_until([&] { return bad_end.closed.has_value(); }))
      << "log: " << (log.empty() ? "" : log.back()) << " / " << log.size();
  EXPECT_EQ(bad_end.closed->code, env::close_code::kProtocolViolation);
  EXPECT_TRUE(logged("exceeds")) << "the refusal is logged";
  ASSERT_TRUE((*good)->send(Bytes(100, 2)).is_ok());
  ASSERT_TRUE(run_until([&] {
    for (auto& r : server.recorders) {
      if (r->frames.size() == 1 && r->frames[0] == Bytes(100, 2)) return true;
    }
    return false;
  }));
}

TEST_F(QuicTransportTest, AFrameCutShortByAClosedConnectionIsDroppedWithAReason) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  auto link = connect(*a, b->local_addr());
  ASSERT_TRUE(link.is_ok());
  ASSERT_TRUE((*link)->send(Bytes(8u << 20, 9)).is_ok());
  runtime.run_for(3ms);  // part of it is on its way
  link->reset();
  a.reset();  // the sender vanishes: its transport closes at once
  ASSERT_TRUE(run_until(
      [&] { return !server.recorders.empty() && server.recorders[0]->closed.has_value(); }));
  EXPECT_TRUE(server.recorders[0]->frames.empty()) << "no partial frame is ever delivered";
  EXPECT_TRUE(logged("truncated frame")) << (log.empty() ? "" : log.back());
}

TEST_F(QuicTransportTest, RandomDatagramsAreRefusedAndTheNodeKeepsServing) {
  auto a = make(1);
  auto b = make(2);
  Server server(*b);
  auto link = connect(*a, b->local_addr());
  ASSERT_TRUE(link.is_ok());
  // Garbage from a plain UDP socket, including things that look like QUIC long headers.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  const std::string text = b->local_addr().addresses[0];
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(text.rfind(':') + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  std::mt19937 gen(7);
  for (int i = 0; i < 300; ++i) {
    Bytes junk(1 + gen() % 1500);
    for (auto& byte : junk) byte = static_cast<std::uint8_t>(gen());
    if (i % 3 == 0) junk[0] = 0xc0;  // long header bit set
    ::sendto(fd, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  ::close(fd);
  runtime.run_for(200ms);
  EXPECT_GT(b->stats().datagrams_refused, 0u);
  ASSERT_TRUE((*link)->send(Bytes(10, 3)).is_ok());
  ASSERT_TRUE(
      run_until([&] { return !server.recorders.empty() && !server.recorders[0]->frames.empty(); }));
}

}  // namespace
}  // namespace smalti::real
