// QuicTransport: the real backend's Transport, QUIC (ngtcp2 + GnuTLS) over one UDP socket.
//
// Every link is one QUIC connection with one bidirectional stream, named by its ALPN; frames are
// 4-byte big-endian lengths and payloads on that stream. Both ends authenticate with their node's
// Ed25519 key (a self-signed certificate): the remote key is the link's remote() PeerId, and a
// connect() to a PeerAddr fails with kPermissionDenied when the key differs. Sends are batched:
// frames written in one executor turn leave in as few packets as fit, through UDP GSO where the
// kernel offers it. Link::close() delivers the frames sent before it, then closes with its code.
// Datagrams that are not QUIC, handshakes that fail and frames beyond the size bound are refused
// with a logged reason; other connections carry on.
//
// Threading: the Runtime's thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "smalti/base/identity.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/real/runtime.hpp"

namespace smalti::real {

struct QuicTransportOptions {
  // "host:port"; port 0 picks a free one.
  std::string bind = "127.0.0.1:0";
  std::size_t max_frame_size = 16u << 20;
  // Frames (and their bytes) that arrive before the link's handler is set; beyond either bound
  // the link is reset.
  std::size_t max_unclaimed_frames = 1024;
  std::size_t max_unclaimed_bytes = 16u << 20;
  // What others dial ("host:port"); required when `bind` is a wildcard address.
  std::string advertise;
  // A connection not established (handshake and stream) within this is dropped.
  Duration setup_timeout = 10s;
  Duration idle_timeout = 30s;
  Duration keep_alive = 10s;
  // How long a closing link waits for its last frames to be acknowledged.
  Duration close_linger = 5s;
  bool use_gso = true;
  // Receives one line per refused datagram, failed handshake or dropped link (optional).
  std::function<void(const std::string&)> log;
};

struct QuicTransportStats {
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_active = 0;
  std::uint64_t handshakes_failed = 0;
  std::uint64_t datagrams_in = 0;
  std::uint64_t datagrams_out = 0;
  std::uint64_t datagrams_refused = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

class QuicTransport final : public env::Transport {
 public:
  static Result<std::unique_ptr<QuicTransport>> create(Runtime& runtime, const SecretKey& key,
                                                       QuicTransportOptions options);
  ~QuicTransport() override;

  PeerAddr local_addr() const override;
  Status listen(const std::string& alpn, env::AcceptFn on_link) override;
  void connect(const PeerAddr& addr, const std::string& alpn, env::ConnectFn done) override;

  const QuicTransportStats& stats() const;
  // 32 bytes from the TLS exporter of the link's connection (same on both ends), for protocols
  // that bind a proof to one connection. kNotFound for a link that is not this transport's.
  Result<std::array<std::uint8_t, 32>> link_secret(const env::Link& link,
                                                   const std::string& label) const;

  struct Impl;

 private:
  explicit QuicTransport(std::unique_ptr<Impl> impl);
  void shut_down();
  std::unique_ptr<Impl> impl_;
};

}  // namespace smalti::real
