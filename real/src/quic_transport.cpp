#include "smalti/real/quic_transport.hpp"

#include <gnutls/crypto.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <utility>  // before Asio: Boost 1.74's Asio misses it under C++20

#include "quic/quic_connection.hpp"
#include "smalti/base/frame.hpp"
#include "smalti/env/link_inbox.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace smalti::real {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

// Connections held at once; more connection attempts are refused.
constexpr std::size_t kMaxConnections = 8192;
// Datagrams read in one go before the loop yields to other work.
constexpr int kMaxReadsPerTurn = 64;

UdpEndpoint to_udp(const udp::endpoint& e) {
  UdpEndpoint out;
  std::memcpy(&out.addr, e.data(), e.size());
  out.len = static_cast<socklen_t>(e.size());
  return out;
}

Result<udp::endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return error(StatusCode::kInvalidArgument, "address '" + text + "' has no port");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) return error(StatusCode::kInvalidArgument, "bad host in '" + text + "'");
  unsigned long port = 0;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (...) {
    port = 70000;
  }
  if (port > 65535) return error(StatusCode::kInvalidArgument, "bad port in '" + text + "'");
  return udp::endpoint(ip, static_cast<unsigned short>(port));
}

ConnKey random_key() {
  ConnKey key{};
  (void)gnutls_rnd(GNUTLS_RND_RANDOM, key.data(), key.size());
  return key;
}

std::optional<ConnKey> key_of(const Bytes& dcid) {
  if (dcid.size() < 8) return std::nullopt;
  ConnKey key{};
  std::memcpy(key.data(), dcid.data(), key.size());
  return key;
}

}  // namespace

class QuicLink;
std::size_t transport_max_frame(const QuicTransport::Impl& t);

// One QUIC connection, its timer and the link it carries.
struct Conn final : QuicConnection::Handler, std::enable_shared_from_this<Conn> {
  Conn(QuicTransport::Impl& transport, ConnKey key, bool outbound)
      : t(transport),
        key(key),
        outbound(outbound),
        timer(io()),
        reader(transport_max_frame(transport)) {}

  asio::io_context& io();
  void on_established(const PeerId& remote, const std::string& alpn) override;
  void on_stream_data(ByteView data) override;
  void on_closed(const env::CloseInfo& info, StatusCode cause) override;

  // Sends what is due and re-arms the timer; drops the connection once it is over.
  void service();
  void schedule_flush();
  void begin_close(std::uint32_t code, std::string reason);

  QuicTransport::Impl& t;
  ConnKey key;
  bool outbound;
  std::unique_ptr<QuicConnection> quic;
  asio::steady_timer timer;
  FrameReader reader;
  std::string alpn;
  PeerId remote;
  env::ConnectFn connect_done;
  std::weak_ptr<QuicLink> link;
  std::optional<ConnKey> initial_key;  // the client's original DCID prefix (accepted side)
  bool flush_posted = false;
  bool dirty = false;
  bool closing = false;
  std::uint32_t close_code = 0;
  std::string close_reason;
  Instant close_deadline = Instant::max();
  Instant armed_at = Instant::max();        // when the timer's pending wait fires
  Instant setup_deadline = Instant::max();  // not established by then: given up
};

class QuicLink final : public env::Link, public std::enable_shared_from_this<QuicLink> {
 public:
  QuicLink(const std::shared_ptr<Conn>& conn, PeerId remote, std::string alpn,
           env::LinkInbox::Limits limits)
      : conn_(conn), remote_(remote), alpn_(std::move(alpn)), inbox_(limits) {}
  ~QuicLink() override {
    try {
      close(env::close_code::kCancelled, "link dropped");
    } catch (...) {  // out of memory while tearing down: nothing left to save
    }
  }

  const PeerId& remote() const override { return remote_; }
  const std::string& alpn() const override { return alpn_; }
  void set_handler(env::LinkHandler* handler) override;
  Status send(Bytes&& frame) override;
  Duration rtt() const override;
  Digest secret(std::string_view label) const override;
  bool is_open() const override { return inbox_.open(); }
  void close(std::uint32_t code, std::string reason) override;

  void deliver(Bytes frame);
  void remote_closed(const env::CloseInfo& info);
  std::shared_ptr<Conn> conn() const { return conn_.lock(); }

 private:
  std::weak_ptr<Conn> conn_;
  PeerId remote_;
  std::string alpn_;
  env::LinkInbox inbox_;
};

struct QuicTransport::Impl {
  Impl(Runtime& runtime, const SecretKey& key, QuicTransportOptions options)
      : runtime(runtime), key(key), options(std::move(options)), socket(runtime.io_context()) {}

  void log(const std::string& line) {
    if (options.log) options.log(line);
  }
  Instant now() const { return runtime.monotonic(); }
  void start_receive();
  void on_datagram(const udp::endpoint& from, ByteView data);
  void accept_connection(const udp::endpoint& from, ByteView data, const Bytes& dcid);
  void send(const std::vector<PacketBatch>& batches, const UdpEndpoint& to);
  void forget(Conn& conn);
  void service_dirty();

  Runtime& runtime;
  SecretKey key;
  QuicTransportOptions options;
  QuicOptions quic;
  std::unique_ptr<TlsIdentity> identity;
  udp::socket socket;
  UdpEndpoint local;
  std::string local_text;
  std::map<std::string, env::AcceptFn> listeners;
  std::map<ConnKey, std::shared_ptr<Conn>> conns;
  std::map<ConnKey, ConnKey> initial_keys;  // client's original DCID prefix -> our key
  std::array<std::uint8_t, 65536> rx{};
  std::vector<std::shared_ptr<Conn>> dirty;  // received on in this batch, not yet serviced
  udp::endpoint rx_from;
  QuicTransportStats stats;
  bool gso = true;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

std::size_t transport_max_frame(const QuicTransport::Impl& t) {
  return t.options.max_frame_size;
}

asio::io_context& Conn::io() {
  return t.runtime.io_context();
}

// ---- links -------------------------------------------------------------------------------------

void QuicLink::set_handler(env::LinkHandler* handler) {
  auto self = shared_from_this();  // a handler may drop the last reference while we deliver
  inbox_.set_handler(handler);
}

Status QuicLink::send(Bytes&& frame) {
  if (!inbox_.open()) return error(StatusCode::kUnavailable, "link closed");
  auto conn = conn_.lock();
  if (!conn || !conn->quic || conn->quic->is_closed()) {
    return error(StatusCode::kUnavailable, "connection closed");
  }
  Bytes wire;
  wire.reserve(frame.size() + kFrameHeaderSize);
  SMALTI_RETURN_IF_ERROR(append_frame(wire, frame, conn->t.options.max_frame_size));
  SMALTI_RETURN_IF_ERROR(conn->quic->write(wire));
  ++conn->t.stats.frames_out;
  conn->t.stats.bytes_out += frame.size();
  conn->schedule_flush();
  return Status::ok();
}

Duration QuicLink::rtt() const {
  auto conn = conn_.lock();
  return conn && conn->quic ? conn->quic->rtt() : Duration::zero();
}

Digest QuicLink::secret(std::string_view label) const {
  auto conn = conn_.lock();
  if (!inbox_.open() || !conn || !conn->quic || conn->quic->is_closed()) return Digest();
  auto bytes = conn->quic->export_secret(std::string(label));
  return bytes.is_ok() ? Digest(*bytes) : Digest();
}

void QuicLink::close(std::uint32_t code, std::string reason) {
  const bool was_open = inbox_.open();
  inbox_.close_locally();  // our own close is never reported back
  if (!was_open) return;
  if (auto conn = conn_.lock()) conn->begin_close(code, std::move(reason));
}

void QuicLink::deliver(Bytes frame) {
  auto self = shared_from_this();
  if (inbox_.deliver(std::move(frame))) return;
  auto conn = conn_.lock();
  if (conn) {
    conn->t.log("link " + alpn_ + " from " + remote_.short_hex() +
                ": too many frames before a handler; reset");
  }
  remote_closed(env::CloseInfo{env::close_code::kReset, "too many unclaimed frames", false});
  if (conn) conn->begin_close(env::close_code::kProtocolViolation, "too many unclaimed frames");
}

void QuicLink::remote_closed(const env::CloseInfo& info) {
  auto self = shared_from_this();
  inbox_.end(info);
}

// ---- connections -------------------------------------------------------------------------------

void Conn::on_established(const PeerId& peer, const std::string& agreed) {
  remote = peer;
  alpn = agreed;
  auto self = shared_from_this();
  auto l = std::make_shared<QuicLink>(
      self, peer, agreed,
      env::LinkInbox::Limits{t.options.max_unclaimed_frames, t.options.max_unclaimed_bytes});
  link = l;
  if (outbound) {
    auto done = std::move(connect_done);
    connect_done = nullptr;
    asio::post(io(), [done = std::move(done), l]() mutable {
      if (done) done(env::LinkPtr(std::move(l)));
    });
    return;
  }
  auto listener = t.listeners.find(agreed);
  if (listener == t.listeners.end()) {
    t.log("no listener for ALPN " + agreed + " from " + peer.short_hex());
    l->close(env::close_code::kInvalidAlpn, "no listener for " + agreed);
    return;
  }
  ++t.stats.connections_accepted;
  listener->second(std::move(l));
}

void Conn::on_stream_data(ByteView data) {
  auto self = shared_from_this();
  auto l = link.lock();
  reader.feed(data);
  while (true) {
    auto frame = reader.next();
    if (!frame.is_ok()) {
      t.log("link " + alpn + " from " + remote.short_hex() + ": " + frame.status().message());
      if (l)
        l->remote_closed(
            env::CloseInfo{env::close_code::kProtocolViolation, frame.status().message(), false});
      begin_close(env::close_code::kProtocolViolation, frame.status().message());
      return;
    }
    if (!frame->has_value()) return;
    ++t.stats.frames_in;
    t.stats.bytes_in += (*frame)->size();
    if (l) l->deliver(std::move(**frame));
  }
}

void Conn::on_closed(const env::CloseInfo& info, StatusCode cause) {
  auto self = shared_from_this();
  if (reader.buffered() > 0) {
    t.log("link " + alpn + " from " + remote.short_hex() + " ended inside a frame: " +
          std::to_string(reader.buffered()) + " bytes of a truncated frame dropped");
  }
  if (!quic || !quic->is_established()) {
    ++t.stats.handshakes_failed;
    t.log("handshake with " + (outbound ? remote.short_hex() : std::string("a new peer")) +
          " failed: " + info.reason);
  }
  if (connect_done) {
    auto done = std::move(connect_done);
    connect_done = nullptr;
    Status status = error(cause, "connect failed: " + info.reason);
    asio::post(io(), [done = std::move(done), status] { done(status); });
  }
  if (auto l = link.lock()) {
    asio::post(io(), [l, info] { l->remote_closed(info); });
  }
}

void Conn::schedule_flush() {
  if (flush_posted) return;
  flush_posted = true;
  asio::post(io(), [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->flush_posted = false;
      self->service();
    }
  });
}

void Conn::begin_close(std::uint32_t code, std::string reason) {
  if (closing || !quic || quic->is_closed()) return;
  closing = true;
  close_code = code;
  close_reason = std::move(reason);
  close_deadline = t.now() + t.options.close_linger;
  service();
}

void Conn::service() {
  if (!quic) return;
  auto self = shared_from_this();
  const Instant now = t.now();
  std::vector<PacketBatch> out;
  if (!quic->is_established() && !quic->is_closed() && now >= setup_deadline) {
    // A handshake that never completes, or a stream that never opens, must not linger.
    t.log("connection with " + remote.short_hex() + " not established in time; dropped");
    ++t.stats.handshakes_failed;
    if (connect_done) {
      auto done = std::move(connect_done);
      connect_done = nullptr;
      asio::post(io(), [done = std::move(done)] {
        done(error(StatusCode::kTimeout, "connect failed: not established in time"));
      });
    }
    quic->close(env::close_code::kCancelled, "not established in time", now, out);
  }
  quic->flush(now, out);
  // A closing link first delivers what it sent, then closes (or gives up after the linger).
  if (closing && !quic->is_closed() &&
      ((quic->unacked_bytes() == 0) || now >= close_deadline || !quic->is_established())) {
    quic->close(close_code, close_reason, now, out);
  }
  t.send(out, quic->remote());
  if (quic->is_closed() && now >= quic->discard_at()) {
    timer.cancel();
    t.forget(*this);
    return;
  }
  Instant next = quic->expiry();
  if (closing && !quic->is_closed()) next = std::min(next, close_deadline);
  if (!quic->is_established() && !quic->is_closed()) next = std::min(next, setup_deadline);
  if (next == armed_at) return;  // the pending wait already covers it
  armed_at = next;
  if (next == Instant::max()) {
    timer.cancel();
    return;
  }
  timer.expires_at(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(next.since_origin().count())));
  timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    auto c = weak.lock();
    if (!c || !c->quic) return;
    c->armed_at = Instant::max();
    c->quic->handle_expiry(c->t.now());
    c->service();
  });
}

// ---- the transport -----------------------------------------------------------------------------

void QuicTransport::Impl::forget(Conn& conn) {
  if (conn.initial_key) initial_keys.erase(*conn.initial_key);
  stats.connections_active = conns.size() - 1;
  conns.erase(conn.key);  // may destroy `conn`: nothing may touch it afterwards
}

void QuicTransport::Impl::send(const std::vector<PacketBatch>& batches, const UdpEndpoint& to) {
  const int fd = socket.native_handle();
  for (const PacketBatch& b : batches) {
    const std::size_t packets = (b.data.size() + b.segment - 1) / b.segment;
    if (gso && packets > 1) {
      iovec iov{const_cast<std::uint8_t*>(b.data.data()), b.data.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
      msghdr msg{};
      msg.msg_name = const_cast<sockaddr_storage*>(&to.addr);
      msg.msg_namelen = to.len;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto segment = static_cast<std::uint16_t>(b.segment);
      std::memcpy(CMSG_DATA(cm), &segment, sizeof segment);
      if (::sendmsg(fd, &msg, 0) >= 0) {
        stats.datagrams_out += packets;
        continue;
      }
      if (errno != EIO && errno != EINVAL && errno != ENOPROTOOPT)
        continue;  // dropped: QUIC resends
      gso = false;
      log("UDP GSO unavailable (" + std::string(std::strerror(errno)) +
          "): sending packets one by one");
    }
    for (std::size_t at = 0; at < b.data.size(); at += b.segment) {
      const std::size_t n = std::min(b.segment, b.data.size() - at);
      if (::sendto(fd, b.data.data() + at, n, 0, reinterpret_cast<const sockaddr*>(&to.addr),
                   to.len) >= 0) {
        ++stats.datagrams_out;
      }
    }
  }
}

void QuicTransport::Impl::start_receive() {
  socket.async_receive_from(asio::buffer(rx), rx_from,
                            [this, alive = std::weak_ptr<bool>(alive)](
                                const boost::system::error_code& ec, std::size_t n) {
                              if (alive.expired()) return;
                              if (ec == asio::error::operation_aborted) return;
                              if (!ec) on_datagram(rx_from, ByteView(rx.data(), n));
                              // Drain what else is waiting before going back to the loop.
                              for (int i = 0; i < kMaxReadsPerTurn && !alive.expired(); ++i) {
                                boost::system::error_code more;
                                udp::endpoint from;
                                const std::size_t got =
                                    socket.receive_from(asio::buffer(rx), from, 0, more);
                                if (more) break;
                                on_datagram(from, ByteView(rx.data(), got));
                              }
                              if (alive.expired()) return;
                              service_dirty();
                              if (!alive.expired()) start_receive();
                            });
}

void QuicTransport::Impl::on_datagram(const udp::endpoint& from, ByteView data) {
  ++stats.datagrams_in;
  auto header = QuicConnection::parse_header(data);
  if (!header) {
    ++stats.datagrams_refused;
    log("refused a datagram of " + std::to_string(data.size()) + " bytes from " +
        from.address().to_string() + ": not QUIC");
    return;
  }
  std::shared_ptr<Conn> conn;
  if (auto key = key_of(header->dcid)) {
    auto it = conns.find(*key);
    if (it == conns.end()) {
      if (auto initial = initial_keys.find(*key); initial != initial_keys.end()) {
        it = conns.find(initial->second);
      }
    }
    if (it != conns.end()) conn = it->second;
  }
  if (!conn) {
    if (header->long_header && QuicConnection::is_connection_start(data)) {
      accept_connection(from, data, header->dcid);
    } else {
      ++stats.datagrams_refused;
    }
    return;
  }
  conn->quic->receive(to_udp(from), data, now());
  // Serviced once after the whole batch of datagrams: acknowledgements and replies coalesce.
  if (!conn->dirty) {
    conn->dirty = true;
    dirty.push_back(std::move(conn));
  }
}

void QuicTransport::Impl::service_dirty() {
  std::vector<std::shared_ptr<Conn>> batch;
  batch.swap(dirty);
  for (auto& conn : batch) {
    conn->dirty = false;
    conn->service();
  }
}

void QuicTransport::Impl::accept_connection(const udp::endpoint& from, ByteView data,
                                            const Bytes& dcid) {
  if (conns.size() >= kMaxConnections) {
    ++stats.datagrams_refused;
    log("refused a connection from " + from.address().to_string() + ": too many connections");
    return;
  }
  std::vector<std::string> alpns;
  for (const auto& [alpn, fn] : listeners) alpns.push_back(alpn);
  if (alpns.empty()) return;
  const ConnKey key = random_key();
  auto conn = std::make_shared<Conn>(*this, key, false);
  conn->setup_deadline = now() + options.setup_timeout;
  conns.emplace(key, conn);
  stats.connections_active = conns.size();
  if (auto initial = key_of(dcid)) {
    initial_keys[*initial] = key;
    conn->initial_key = *initial;
  }
  auto quic_conn = QuicConnection::accept(quic, *identity, alpns, local, to_udp(from), data, key,
                                          now(), conn.get());
  if (!quic_conn.is_ok()) {
    ++stats.datagrams_refused;
    log("refused a connection from " + from.address().to_string() + ": " +
        quic_conn.status().message());
    forget(*conn);
    return;
  }
  conn->quic = std::move(quic_conn).value();
  conn->service();
}

QuicTransport::QuicTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

QuicTransport::~QuicTransport() {
  try {
    shut_down();
  } catch (...) {  // out of memory while tearing down: nothing left to save
  }
}

// Tells every peer the transport is going away, then drops the connections and the socket.
void QuicTransport::shut_down() {
  *impl_->alive = false;
  impl_->alive.reset();
  for (auto& [key, conn] : impl_->conns) {
    conn->timer.cancel();
    if (auto l = conn->link.lock())
      l->remote_closed(env::CloseInfo{env::close_code::kReset, "transport stopped", false});
    if (conn->quic && !conn->quic->is_closed()) {
      std::vector<PacketBatch> out;
      conn->quic->close(env::close_code::kGracefulShutdown, "shutting down", impl_->now(), out);
      impl_->send(out, conn->quic->remote());
    }
  }
  boost::system::error_code ec;
  impl_->socket.close(ec);
  impl_->conns.clear();
}

Result<std::unique_ptr<QuicTransport>> QuicTransport::create(Runtime& runtime, const SecretKey& key,
                                                             QuicTransportOptions options) {
  auto impl = std::make_unique<Impl>(runtime, key, std::move(options));
  SMALTI_ASSIGN_OR_RETURN(impl->identity, TlsIdentity::create(key));
  impl->quic.idle_timeout = impl->options.idle_timeout;
  impl->quic.keep_alive = impl->options.keep_alive;
  impl->gso = impl->options.use_gso;
  SMALTI_ASSIGN_OR_RETURN(udp::endpoint bind, parse_endpoint(impl->options.bind));
  boost::system::error_code ec;
  impl->socket.open(bind.protocol(), ec);
  if (!ec) impl->socket.bind(bind, ec);
  if (!ec) impl->socket.non_blocking(true, ec);
  if (ec) {
    return error(StatusCode::kUnavailable,
                 "cannot bind " + impl->options.bind + ": " + ec.message());
  }
  const udp::endpoint local = impl->socket.local_endpoint(ec);
  impl->local = to_udp(local);
  if (!impl->options.advertise.empty()) {
    impl->local_text = impl->options.advertise;
  } else if (local.address().is_unspecified()) {
    return error(StatusCode::kInvalidArgument,
                 "bound to a wildcard address: set an address to advertise");
  } else {
    impl->local_text = (local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                : local.address().to_string()) +
                       ":" + std::to_string(local.port());
  }
  std::unique_ptr<QuicTransport> transport(new QuicTransport(std::move(impl)));
  transport->impl_->start_receive();
  return transport;
}

PeerAddr QuicTransport::local_addr() const {
  return PeerAddr{impl_->key.peer_id(), {impl_->local_text}};
}

// GnuTLS accepts at most 8 ALPNs of at most 31 bytes each.
static constexpr std::size_t kMaxAlpnLength = 31;
static constexpr std::size_t kMaxListeners = 8;

Status QuicTransport::listen(const std::string& alpn, env::AcceptFn on_link) {
  if (alpn.empty() || alpn.size() > kMaxAlpnLength) {
    return error(StatusCode::kInvalidArgument, "ALPN '" + alpn + "' must be 1 to 31 bytes");
  }
  if (impl_->listeners.size() >= kMaxListeners) {
    return error(StatusCode::kLimitExceeded, "at most 8 ALPNs can be served");
  }
  if (impl_->listeners.count(alpn)) {
    return error(StatusCode::kAlreadyExists, "already listening on " + alpn);
  }
  impl_->listeners.emplace(alpn, std::move(on_link));
  return Status::ok();
}

void QuicTransport::connect(const PeerAddr& addr, const std::string& alpn, env::ConnectFn done) {
  Impl& t = *impl_;
  auto fail = [&](const Status& s) {
    asio::post(t.runtime.io_context(), [done = std::move(done), s] { done(s); });
  };
  if (addr.addresses.empty())
    return fail(error(StatusCode::kInvalidArgument, "no address to dial"));
  if (alpn.empty() || alpn.size() > kMaxAlpnLength) {
    return fail(error(StatusCode::kInvalidArgument, "ALPN '" + alpn + "' must be 1 to 31 bytes"));
  }
  auto remote = parse_endpoint(addr.addresses.front());
  if (!remote.is_ok()) return fail(remote.status());
  if (t.conns.size() >= kMaxConnections) {
    return fail(error(StatusCode::kUnavailable, "too many connections"));
  }
  const ConnKey key = random_key();
  auto conn = std::make_shared<Conn>(t, key, true);
  conn->remote = addr.id;
  conn->setup_deadline = t.now() + t.options.setup_timeout;
  conn->connect_done = std::move(done);
  auto quic_conn = QuicConnection::connect(t.quic, *t.identity, t.local, to_udp(*remote), alpn,
                                           addr.id, key, t.now(), conn.get());
  if (!quic_conn.is_ok()) {
    auto cb = std::move(conn->connect_done);
    asio::post(t.runtime.io_context(), [cb = std::move(cb), s = quic_conn.status()] { cb(s); });
    return;
  }
  conn->quic = std::move(quic_conn).value();
  t.conns.emplace(key, conn);
  t.stats.connections_active = t.conns.size();
  ++t.stats.connections_opened;
  conn->service();
}

const QuicTransportStats& QuicTransport::stats() const {
  return impl_->stats;
}

Result<std::array<std::uint8_t, 32>> QuicTransport::link_secret(const env::Link& link,
                                                                const std::string& label) const {
  const auto* quic_link = dynamic_cast<const QuicLink*>(&link);
  auto conn = quic_link ? quic_link->conn() : nullptr;
  if (!conn || !conn->quic) return error(StatusCode::kNotFound, "not a link of this transport");
  return conn->quic->export_secret(label);
}

}  // namespace smalti::real
