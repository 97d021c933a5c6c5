// RealNetwork pieces: identity files, peer address strings, and the Prometheus endpoint.
#include "smalti/real/real_network.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <thread>

#include "real/node_process.hpp"
#include "smalti/real/metrics_server.hpp"

namespace smalti::real {
namespace {

TEST(IdentityFile, IsCreatedPrivateAndReadBackUnchanged) {
  support::TempDir dir;
  const std::string path = dir.path() + "/node.key";
  auto first = load_or_create_identity(path);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = load_or_create_identity(path);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*first, *again);
  std::ofstream(dir.path() + "/bad.key") << "not a key";
  auto bad = load_or_create_identity(dir.path() + "/bad.key");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(PeerAddrText, RoundTripsAndRejectsGarbage) {
  const PeerAddr addr{SecretKey::from_seed({}).value().peer_id(), {"127.0.0.1:7000"}};
  auto parsed = parse_peer_addr(format_peer_addr(addr));
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(*parsed, addr);
  EXPECT_FALSE(parse_peer_addr("127.0.0.1:7000").is_ok());
  EXPECT_FALSE(parse_peer_addr("abcd@127.0.0.1:7000").is_ok());
}

// A blocking HTTP GET, run on a helper thread while the runtime serves.
std::string http_get(const std::string& address) {
  const auto colon = address.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return "";
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    response.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return response;
}

TEST(MetricsServer, ServesPrometheusTextWithTransportAndDiscoveryFigures) {
  Runtime runtime;
  RealNetworkOptions options;
  options.network.discovery = discovery::Config(NetworkId::from_string("metrics-test"));
  auto a = RealNetwork::create(runtime, options);
  ASSERT_TRUE(a.is_ok());
  options.network.discovery.with_bootstrap((*a)->network().addr());
  auto b = RealNetwork::create(runtime, options);
  ASSERT_TRUE(b.is_ok());
  const Instant deadline = runtime.monotonic() + 10s;
  while ((*a)->network().discovery().peers_count() < 1 && runtime.monotonic() < deadline) {
    runtime.run_for(5ms);
  }
  // A group of one (founding alone) on `a`: its figures are served too.
  auto group =
      (*a)->network()
          .groups()
          .with_key(groups::GroupKey::from_secret("metrics-test.group"))
          .with_consensus_config(
              groups::ConsensusConfig{}.with_bootstrap_delay(100ms).with_bootstrap_expect(1))
          .join();
  ASSERT_TRUE(group.is_ok()) << group.status().to_string();
  while (group->status().committed < 1 && runtime.monotonic() < deadline + 10s) {
    runtime.run_for(5ms);
  }
  auto server = MetricsServer::start(runtime, **a, "127.0.0.1:0");
  ASSERT_TRUE(server.is_ok()) << server.status().to_string();
  auto response = std::async(std::launch::async, http_get, (*server)->address());
  while (response.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    runtime.run_for(5ms);
  }
  const std::string text = response.get();
  EXPECT_NE(text.find("HTTP/1.1 200 OK"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE smalti_connections_active gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("smalti_catalog_peers 1"), std::string::npos) << text;
  EXPECT_NE(text.find("smalti_frames_in_total"), std::string::npos);
  EXPECT_NE(text.find("smalti_bytes_out_total"), std::string::npos);
  EXPECT_NE(text.find("smalti_peer_rtt_seconds"), std::string::npos);
  const std::string label = "{group=\"" + group->id().to_hex() + "\"} ";
  EXPECT_NE(text.find("# TYPE smalti_group_store_failed gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("smalti_group_store_failed" + label + "0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("smalti_group_is_leader" + label + "1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("smalti_group_committed_index" + label + "0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace smalti::real
