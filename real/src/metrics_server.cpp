#include "smalti/real/metrics_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <sstream>
#include <string>
#include <utility>  // before Asio: Boost 1.74's Asio misses it under C++20

namespace smalti::real {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Requests larger than this are answered without being read further.
constexpr std::size_t kMaxRequest = 8192;

void metric(std::ostringstream& out, const char* name, const char* type, const char* help,
            double value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
      << name << ' ' << value << '\n';
}

// One series per active group, labelled with its id. A failed store is what an operator must
// see: the member stays up but acknowledges nothing until it restarts (GroupStatus::store_error).
void render_group_metrics(std::ostringstream& out, const groups::Groups& groups) {
  std::vector<std::pair<std::string, groups::GroupStatus>> statuses;
  for (const groups::GroupId& id : groups.active()) {
    if (auto status = groups.status(id)) statuses.emplace_back(id.to_hex(), *status);
  }
  auto series = [&](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    for (const auto& [group, status] : statuses) {
      out << name << "{group=\"" << group << "\"} " << value(status) << '\n';
    }
  };
  series("smalti_group_store_failed", "gauge",
         "1 when the member's store failed and it acknowledges nothing until restarted",
         [](const groups::GroupStatus& s) { return s.store_error.is_ok() ? 0 : 1; });
  series("smalti_group_committed_index", "gauge", "the highest log index known committed",
         [](const groups::GroupStatus& s) { return s.committed; });
  series("smalti_group_applied_index", "gauge", "the highest log index applied",
         [](const groups::GroupStatus& s) { return s.applied; });
  series("smalti_group_is_leader", "gauge", "1 when this member leads the group",
         [](const groups::GroupStatus& s) { return s.role == groups::Role::kLeader ? 1 : 0; });
}

}  // namespace

std::string render_metrics(RealNetwork& node) {
  const QuicTransportStats& s = node.transport().stats();
  auto& d = node.network().discovery();
  std::ostringstream out;
  metric(out, "smalti_connections_opened_total", "counter", "QUIC connections dialed",
         static_cast<double>(s.connections_opened));
  metric(out, "smalti_connections_accepted_total", "counter", "QUIC connections accepted",
         static_cast<double>(s.connections_accepted));
  metric(out, "smalti_connections_active", "gauge", "QUIC connections open now",
         static_cast<double>(s.connections_active));
  metric(out, "smalti_handshakes_failed_total", "counter", "QUIC handshakes that failed",
         static_cast<double>(s.handshakes_failed));
  metric(out, "smalti_datagrams_in_total", "counter", "UDP datagrams received",
         static_cast<double>(s.datagrams_in));
  metric(out, "smalti_datagrams_out_total", "counter", "UDP datagrams sent",
         static_cast<double>(s.datagrams_out));
  metric(out, "smalti_datagrams_refused_total", "counter", "datagrams refused (not QUIC, unknown)",
         static_cast<double>(s.datagrams_refused));
  metric(out, "smalti_frames_in_total", "counter", "frames received on links",
         static_cast<double>(s.frames_in));
  metric(out, "smalti_frames_out_total", "counter", "frames sent on links",
         static_cast<double>(s.frames_out));
  metric(out, "smalti_bytes_in_total", "counter", "frame payload bytes received",
         static_cast<double>(s.bytes_in));
  metric(out, "smalti_bytes_out_total", "counter", "frame payload bytes sent",
         static_cast<double>(s.bytes_out));
  metric(out, "smalti_catalog_peers", "gauge", "peers in the discovery catalog",
         static_cast<double>(d.peers_count()));
  metric(out, "smalti_discovery_neighbours", "gauge", "discovery overlay neighbours",
         static_cast<double>(d.neighbours().size()));
  out << "# HELP smalti_peer_rtt_seconds smoothed round-trip time to a peer\n"
      << "# TYPE smalti_peer_rtt_seconds gauge\n";
  for (const auto& [id, entry] : d.catalog().signed_entries()) {
    if (auto rtt = d.rtt(id)) {
      out << "smalti_peer_rtt_seconds{peer=\"" << id.to_hex() << "\"} "
          << static_cast<double>(rtt->count()) / 1e9 << '\n';
    }
  }
  render_group_metrics(out, node.network().groups());
  return out.str();
}

struct MetricsServer::Impl {
  Impl(Runtime& runtime, RealNetwork& node) : node(node), acceptor(runtime.io_context()) {}
  void accept_next();

  RealNetwork& node;
  tcp::acceptor acceptor;
  std::string address;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

void MetricsServer::Impl::accept_next() {
  acceptor.async_accept([this, alive = std::weak_ptr<bool>(alive)](
                            const boost::system::error_code& ec, tcp::socket socket) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto peer = std::make_shared<tcp::socket>(std::move(socket));
      auto request = std::make_shared<asio::streambuf>(kMaxRequest);
      asio::async_read_until(
          *peer, *request, "\r\n\r\n",
          [this, peer, request, alive](const boost::system::error_code&, std::size_t) {
            if (alive.expired()) return;
            const std::string body = render_metrics(node);
            auto response = std::make_shared<std::string>(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
            asio::async_write(*peer, asio::buffer(*response),
                              [peer, response](const boost::system::error_code&, std::size_t) {
                                boost::system::error_code ignored;
                                peer->shutdown(tcp::socket::shutdown_both, ignored);
                              });
          });
    }
    accept_next();
  });
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(Runtime& runtime, RealNetwork& node,
                                                            const std::string& bind) {
  auto impl = std::make_unique<Impl>(runtime, node);
  const auto colon = bind.rfind(':');
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(bind.substr(0, colon), ec);
  if (colon == std::string::npos || ec) {
    return error(StatusCode::kInvalidArgument, "bad metrics address '" + bind + "'");
  }
  unsigned port = 0;
  const std::string port_text = bind.substr(colon + 1);
  const auto [end, err] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return error(StatusCode::kInvalidArgument, "bad metrics port in '" + bind + "'");
  }
  const tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(16, ec);
  if (ec) return error(StatusCode::kUnavailable, "metrics on " + bind + ": " + ec.message());
  const tcp::endpoint local = impl->acceptor.local_endpoint(ec);
  impl->address = local.address().to_string() + ":" + std::to_string(local.port());
  impl->accept_next();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  *impl_->alive = false;
  impl_->alive.reset();
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

const std::string& MetricsServer::address() const {
  return impl_->address;
}

}  // namespace smalti::real
