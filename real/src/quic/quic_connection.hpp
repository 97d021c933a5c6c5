// QuicConnection: one QUIC connection (ngtcp2 0.12 + GnuTLS) carrying one bidirectional stream.
//
// This class and quic_connection.cpp are the only code that calls ngtcp2, so a move to ngtcp2
// 1.x touches these two files. The connection is driven from outside: receive() feeds a UDP
// datagram, flush() produces the datagrams to send (batched for UDP GSO: equal-sized segments),
// expiry()/handle_expiry() run its timers. Stream bytes go in with write() and come out through
// Handler::on_stream_data, in order. The opener's first stream byte is a preamble (kPreamble)
// that the accepting side consumes, so both ends know the stream exists before a link is made.
//
// Identity: both ends present a self-signed Ed25519 certificate (TlsIdentity); the handshake
// fails if a dialer's expected PeerId differs from the certificate's key, or if no ALPN matches.
//
// Not thread-safe: one thread (the runtime's) drives it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quic/tls_identity.hpp"

struct ngtcp2_path;
#include "smalti/base/bytes.hpp"
#include "smalti/base/time.hpp"
#include "smalti/env/transport.hpp"

namespace smalti::real {

struct UdpEndpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Packets to send to one destination: `segment` bytes each, the last possibly shorter.
struct PacketBatch {
  Bytes data;
  std::size_t segment = 0;
};

// The first bytes of every connection ID we issue: the transport routes packets by them.
using ConnKey = std::array<std::uint8_t, 8>;

struct QuicOptions {
  Duration idle_timeout = 30s;
  Duration keep_alive = 10s;
  Duration handshake_timeout = 10s;
  std::uint64_t stream_window = 16u << 20;
  std::uint64_t connection_window = 32u << 20;
  // Bytes handed to write() but not yet acknowledged, beyond which write() refuses.
  std::size_t max_unacked = 64u << 20;
  // Packets produced per flush() before pacing is consulted again.
  std::size_t max_packets_per_flush = 64;
};

class QuicConnection {
 public:
  static constexpr std::uint8_t kPreamble = 0x01;

  class Handler {
   public:
    virtual ~Handler() = default;
    // The handshake finished and the stream exists: the remote's key and the agreed ALPN.
    virtual void on_established(const PeerId& remote, const std::string& alpn) = 0;
    virtual void on_stream_data(ByteView data) = 0;
    // The connection ended other than by our close(): remote close, idle timeout, failure.
    // `cause` classifies it for a dialer: kPermissionDenied (the remote's key is not the one
    // expected, or its certificate is unusable), kNotFound (no ALPN in common), kTimeout (the
    // handshake or the connection idled out), kUnavailable (anything else).
    virtual void on_closed(const env::CloseInfo& info, StatusCode cause) = 0;
  };

  // What routing needs from a datagram's header.
  struct Header {
    Bytes dcid;
    bool long_header = false;
  };
  static std::optional<Header> parse_header(ByteView packet);
  // True when the datagram could start a new connection (a client Initial of a known version).
  static bool is_connection_start(ByteView packet);

  static Result<std::unique_ptr<QuicConnection>> connect(
      const QuicOptions& options, const TlsIdentity& identity, const UdpEndpoint& local,
      const UdpEndpoint& remote, const std::string& alpn, const PeerId& expected, ConnKey key,
      Instant now, Handler* handler);
  // `alpns`: the protocols served; the client's offer must contain one of them.
  static Result<std::unique_ptr<QuicConnection>> accept(
      const QuicOptions& options, const TlsIdentity& identity,
      const std::vector<std::string>& alpns, const UdpEndpoint& local, const UdpEndpoint& remote,
      ByteView first_packet, ConnKey key, Instant now, Handler* handler);
  ~QuicConnection();
  QuicConnection(const QuicConnection&) = delete;
  QuicConnection& operator=(const QuicConnection&) = delete;

  // Feeds one datagram; a fatal error ends the connection (reported through on_closed).
  void receive(const UdpEndpoint& from, ByteView packet, Instant now);
  // Queues stream bytes. kUnavailable when closed, kLimitExceeded past max_unacked.
  Status write(ByteView data);
  // Produces what is due now. Appends batches to `out`.
  void flush(Instant now, std::vector<PacketBatch>& out);
  Instant expiry() const;
  void handle_expiry(Instant now);
  // Closes with an application code after flushing queued stream data as far as the
  // congestion window allows; appends the CONNECTION_CLOSE packet to `out`. No on_closed.
  void close(std::uint32_t code, const std::string& reason, Instant now,
             std::vector<PacketBatch>& out);

  bool is_closed() const { return closed_; }
  bool is_established() const { return established_; }
  // When a closed connection's state may be dropped (its draining period ended).
  Instant discard_at() const { return discard_at_; }
  Duration rtt() const;
  // Stream bytes written and not yet acknowledged by the peer.
  std::size_t unacked_bytes() const;
  const UdpEndpoint& remote() const { return remote_; }
  // 32 bytes from the TLS exporter (RFC 5705) with `label`: the same on both ends, unique to
  // this connection.
  Result<std::array<std::uint8_t, 32>> export_secret(const std::string& label) const;

  struct Impl;

 private:
  explicit QuicConnection(std::unique_ptr<Impl> impl);
  static std::unique_ptr<QuicConnection> create(const QuicOptions& options, Handler* handler,
                                                ConnKey key, const UdpEndpoint& local,
                                                const UdpEndpoint& remote, bool client);
  ngtcp2_path path();
  std::unique_ptr<Impl> impl_;
  UdpEndpoint remote_;
  bool closed_ = false;
  bool established_ = false;
  Instant discard_at_ = Instant::max();
  friend struct Impl;
};

}  // namespace smalti::real
