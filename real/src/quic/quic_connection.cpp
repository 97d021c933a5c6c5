// The ngtcp2 adapter: every ngtcp2 call of the project is in this file.
#include "quic/quic_connection.hpp"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <algorithm>
#include <cstring>

namespace smalti::real {
namespace {

constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE";
constexpr std::size_t kCidLength = 16;
constexpr std::size_t kMaxPacket = 1452;
// How long a closed connection keeps absorbing late packets.
constexpr Duration kDrainTime = 2s;
// Vectors handed to one writev_stream call.
constexpr std::size_t kMaxVecs = 16;
// Stream bytes are appended into chunks of at least this capacity (stable addresses).
constexpr std::size_t kChunkCapacity = 64u << 10;

ngtcp2_tstamp ts(Instant now) {
  return static_cast<ngtcp2_tstamp>(now.since_origin().count());
}

void random_bytes(std::uint8_t* out, std::size_t n) {
  (void)gnutls_rnd(GNUTLS_RND_RANDOM, out, n);
}

ngtcp2_cid make_cid(const ConnKey& key) {
  std::uint8_t raw[kCidLength];
  std::memcpy(raw, key.data(), key.size());
  random_bytes(raw + key.size(), kCidLength - key.size());
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, raw, kCidLength);
  return cid;
}

}  // namespace

struct QuicConnection::Impl {
  QuicConnection* self = nullptr;
  Handler* handler = nullptr;
  QuicOptions options;
  ngtcp2_conn* conn = nullptr;
  gnutls_session_t session = nullptr;
  ngtcp2_crypto_conn_ref conn_ref{};
  bool client = false;
  std::optional<PeerId> expected;
  std::optional<PeerId> remote_id;
  std::string alpn;
  std::string alpn_offer;  // the bytes the session points at
  std::vector<std::string> served;
  ConnKey key{};
  UdpEndpoint local;
  std::int64_t stream_id = -1;
  bool preamble_seen = false;
  bool handshake_done = false;
  Status handshake_error;
  // Outbound stream bytes: chunks with stable addresses until acknowledged.
  std::deque<Bytes> chunks;
  std::uint64_t chunks_start = 0;  // stream offset of chunks.front()
  std::uint64_t queued = 0;        // stream offset after the last byte queued
  std::uint64_t sent = 0;          // handed to ngtcp2
  std::uint64_t acked = 0;
  Bytes inbound;                         // received, not yet handed to the handler
  std::vector<PacketBatch> pending_out;  // a CONNECTION_CLOSE written outside flush()
  std::optional<env::CloseInfo> closed_info;
  StatusCode close_cause = StatusCode::kUnavailable;

  ~Impl() {
    if (conn) ngtcp2_conn_del(conn);
    if (session) gnutls_deinit(session);
  }

  void queue(ByteView data) {
    std::size_t at = 0;
    while (at < data.size()) {
      if (chunks.empty() || chunks.back().size() == chunks.back().capacity()) {
        chunks.emplace_back();
        chunks.back().reserve(std::max(kChunkCapacity, data.size() - at));
      }
      Bytes& last = chunks.back();
      const std::size_t n = std::min(last.capacity() - last.size(), data.size() - at);
      // Within capacity: appending never moves bytes ngtcp2 may still point at.
      last.insert(last.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
                  data.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
    }
    queued += data.size();
  }

  // The chunk that holds stream offset `sent` (so a packet never walks the whole queue).
  std::size_t cursor = 0;
  std::uint64_t cursor_start = 0;

  std::size_t unsent_vecs(ngtcp2_vec* vecs) {
    while (cursor + 1 < chunks.size() && cursor_start + chunks[cursor].size() <= sent) {
      cursor_start += chunks[cursor].size();
      ++cursor;
    }
    std::size_t n = 0;
    std::uint64_t offset = cursor_start;
    for (std::size_t i = cursor; i < chunks.size() && n < kMaxVecs; ++i) {
      Bytes& chunk = chunks[i];
      const std::uint64_t end = offset + chunk.size();
      if (end > sent) {
        const std::size_t skip = sent > offset ? static_cast<std::size_t>(sent - offset) : 0;
        vecs[n].base = chunk.data() + skip;
        vecs[n].len = chunk.size() - skip;
        ++n;
      }
      offset = end;
    }
    return n;
  }

  void on_acked(std::uint64_t offset) {
    acked = std::max(acked, offset);
    // A fully acknowledged chunk goes, unless it is the last one and may still grow.
    while (!chunks.empty() && chunks_start + chunks.front().size() <= acked &&
           (chunks.size() > 1 || chunks.front().size() == chunks.front().capacity())) {
      chunks_start += chunks.front().size();
      chunks.pop_front();
      if (cursor > 0) {
        --cursor;
      } else {
        cursor_start = chunks_start;
      }
    }
  }

  void write_close(const ngtcp2_connection_close_error& ccerr, Instant now) {
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi{};
    PacketBatch batch;
    batch.data.resize(kMaxPacket);
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
        conn, &ps.path, &pi, batch.data.data(), batch.data.size(), &ccerr, ts(now));
    if (n > 0) {
      batch.data.resize(static_cast<std::size_t>(n));
      batch.segment = batch.data.size();
      pending_out.push_back(std::move(batch));
    }
  }

  // Ends the connection after a library error (`rv`), telling the peer why when possible.
  void fail(int rv, Instant now) {
    if (self->closed_) return;
    env::CloseInfo info;
    info.code = env::close_code::kReset;
    info.by_remote = false;
    if (rv == NGTCP2_ERR_DRAINING) {
      ngtcp2_connection_close_error cc;
      ngtcp2_conn_get_connection_close_error(conn, &cc);
      info.by_remote = true;
      if (cc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
        info.code = static_cast<std::uint32_t>(cc.error_code);
        info.reason.assign(reinterpret_cast<const char*>(cc.reason), cc.reasonlen);
      } else if (cc.error_code == 0x100 + 120) {  // TLS alert no_application_protocol
        info.reason = "no application protocol (ALPN) in common";
        close_cause = StatusCode::kNotFound;
      } else {
        info.reason =
            "transport closed the connection (error " + std::to_string(cc.error_code) + ")";
      }
    } else if (rv == NGTCP2_ERR_IDLE_CLOSE) {
      info.reason = "idle timeout";
      close_cause = StatusCode::kTimeout;
    } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
      info.reason = "handshake timeout";
      close_cause = StatusCode::kTimeout;
    } else if (rv == NGTCP2_ERR_DROP_CONN) {
      info.reason = "connection dropped";
    } else {
      ngtcp2_connection_close_error cc;
      ngtcp2_connection_close_error_default(&cc);
      if (rv == NGTCP2_ERR_CRYPTO) {
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &cc, ngtcp2_conn_get_tls_alert(conn), nullptr, 0);
      } else {
        ngtcp2_connection_close_error_set_transport_error_liberr(&cc, rv, nullptr, 0);
      }
      write_close(cc, now);
      info.reason = handshake_error.is_ok() ? std::string("QUIC error: ") + ngtcp2_strerror(rv)
                                            : handshake_error.message();
      if (!handshake_error.is_ok()) close_cause = handshake_error.code();
    }
    self->closed_ = true;
    self->discard_at_ = now + kDrainTime;
    closed_info = std::move(info);
  }

  // ---- ngtcp2 callbacks -----------------------------------------------------------------------
  static Impl* of(void* user_data) { return static_cast<Impl*>(user_data); }

  static int on_handshake_completed(ngtcp2_conn*, void* user_data) {
    Impl* impl = of(user_data);
    auto peer = peer_id_of(impl->session);
    if (!peer.is_ok()) {
      impl->handshake_error = peer.status();
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (impl->expected && *peer != *impl->expected) {
      impl->handshake_error = error(StatusCode::kPermissionDenied,
                                    "the peer's key " + peer->short_hex() +
                                        " is not the expected " + impl->expected->short_hex());
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    gnutls_datum_t selected{};
    if (gnutls_alpn_get_selected_protocol(impl->session, &selected) != 0) {
      impl->handshake_error = error(StatusCode::kNotFound, "no ALPN was agreed");
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    impl->alpn.assign(reinterpret_cast<const char*>(selected.data), selected.size);
    impl->remote_id = *peer;
    impl->handshake_done = true;
    return 0;
  }

  static int on_recv_stream_data(ngtcp2_conn* conn, std::uint32_t, std::int64_t stream_id,
                                 std::uint64_t, const std::uint8_t* data, std::size_t len,
                                 void* user_data, void*) {
    Impl* impl = of(user_data);
    if (impl->stream_id < 0) impl->stream_id = stream_id;
    if (stream_id != impl->stream_id) return 0;  // one stream per connection: ignore others
    impl->inbound.insert(impl->inbound.end(), data, data + len);
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, len);
    ngtcp2_conn_extend_max_offset(conn, len);
    return 0;
  }

  static int on_acked_stream_data(ngtcp2_conn*, std::int64_t, std::uint64_t offset,
                                  std::uint64_t len, void* user_data, void*) {
    of(user_data)->on_acked(offset + len);
    return 0;
  }

  static void on_rand(std::uint8_t* dest, std::size_t len, const ngtcp2_rand_ctx*) {
    random_bytes(dest, len);
  }

  static int on_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                  std::size_t cidlen, void* user_data) {
    Impl* impl = of(user_data);
    if (cidlen < impl->key.size()) return NGTCP2_ERR_CALLBACK_FAILURE;
    std::uint8_t raw[NGTCP2_MAX_CIDLEN];
    std::memcpy(raw, impl->key.data(), impl->key.size());
    random_bytes(raw + impl->key.size(), cidlen - impl->key.size());
    ngtcp2_cid_init(cid, raw, cidlen);
    random_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
  }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) {
    return static_cast<Impl*>(ref->user_data)->conn;
  }

  static ngtcp2_callbacks callbacks(bool client) {
    ngtcp2_callbacks cb{};
    if (client) {
      cb.client_initial = ngtcp2_crypto_client_initial_cb;
      cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    } else {
      cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    }
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.handshake_completed = on_handshake_completed;
    cb.recv_stream_data = on_recv_stream_data;
    cb.acked_stream_data_offset = on_acked_stream_data;
    cb.rand = on_rand;
    cb.get_new_connection_id = on_new_connection_id;
    return cb;
  }

  void settings_and_params(ngtcp2_settings& settings, ngtcp2_transport_params& params,
                           Instant now) const {
    ngtcp2_settings_default(&settings);
    settings.initial_ts = ts(now);
    settings.max_window = options.connection_window * 2;
    settings.max_stream_window = options.stream_window * 2;
    settings.handshake_timeout = static_cast<ngtcp2_duration>(options.handshake_timeout.count());
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_bidi = client ? 0 : 1;
    params.initial_max_streams_uni = 0;
    params.initial_max_stream_data_bidi_local = options.stream_window;
    params.initial_max_stream_data_bidi_remote = options.stream_window;
    params.initial_max_data = options.connection_window;
    params.max_idle_timeout = static_cast<ngtcp2_duration>(options.idle_timeout.count());
    // Links are between known addresses: no migration, so every packet goes to `remote_`.
    params.disable_active_migration = 1;
  }

  Status setup_session(const TlsIdentity& identity) {
    const unsigned flags =
        client ? (GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA)
               : (GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA);
    if (gnutls_init(&session, flags) != 0) return error(StatusCode::kInternal, "gnutls_init");
    const int configured = client ? ngtcp2_crypto_gnutls_configure_client_session(session)
                                  : ngtcp2_crypto_gnutls_configure_server_session(session);
    if (configured != 0) return error(StatusCode::kInternal, "configure the QUIC TLS session");
    if (gnutls_priority_set_direct(session, kPriority, nullptr) != 0 ||
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, identity.credentials()) != 0) {
      return error(StatusCode::kInternal, "TLS priorities or credentials");
    }
    if (!client) gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
    conn_ref.get_conn = get_conn;
    conn_ref.user_data = this;
    gnutls_session_set_ptr(session, &conn_ref);
    std::vector<gnutls_datum_t> protocols;
    if (client) {
      protocols.push_back({reinterpret_cast<unsigned char*>(alpn_offer.data()),
                           static_cast<unsigned>(alpn_offer.size())});
    } else {
      for (std::string& a : served) {
        protocols.push_back(
            {reinterpret_cast<unsigned char*>(a.data()), static_cast<unsigned>(a.size())});
      }
    }
    if (protocols.empty() || gnutls_alpn_set_protocols(session, protocols.data(),
                                                       static_cast<unsigned>(protocols.size()),
                                                       GNUTLS_ALPN_MANDATORY) != 0) {
      return error(StatusCode::kInternal, "ALPN setup");
    }
    ngtcp2_conn_set_tls_native_handle(conn, session);
    return Status::ok();
  }

  // Keep-alive only for established links: a peer that never finishes setting one up times out.
  void start_keep_alive() {
    ngtcp2_conn_set_keep_alive_timeout(conn,
                                       static_cast<ngtcp2_duration>(options.keep_alive.count()));
  }

  // After every input: open the stream, deliver data, report establishment or closure.
  void after_input(Instant now) {
    if (handshake_done && client && stream_id < 0 && !self->closed_) {
      std::int64_t id = -1;
      if (ngtcp2_conn_open_bidi_stream(conn, &id, nullptr) == 0) {
        stream_id = id;
        // The preamble goes first, ahead of anything queued before the stream existed.
        Bytes preamble{kPreamble};
        chunks.emplace_front(std::move(preamble));
        chunks.front().shrink_to_fit();
        queued += 1;
        self->established_ = true;
        start_keep_alive();
        handler->on_established(*remote_id, alpn);
      }
    }
    if (!client && handshake_done && !preamble_seen && !inbound.empty()) {
      if (inbound.front() != kPreamble) {
        handshake_error = error(StatusCode::kInvalidArgument, "bad stream preamble");
        fail(NGTCP2_ERR_PROTO, now);
      } else {
        preamble_seen = true;
        inbound.erase(inbound.begin());
        self->established_ = true;
        start_keep_alive();
        handler->on_established(*remote_id, alpn);
      }
    }
    if (self->established_ && !inbound.empty() && !self->closed_) {
      Bytes data = std::move(inbound);
      inbound.clear();
      handler->on_stream_data(data);
    }
    if (closed_info) {
      env::CloseInfo info = std::move(*closed_info);
      closed_info.reset();
      handler->on_closed(info, close_cause);
    }
  }
};

std::optional<QuicConnection::Header> QuicConnection::parse_header(ByteView packet) {
  ngtcp2_version_cid vc{};
  const int rv = ngtcp2_pkt_decode_version_cid(&vc, packet.data(), packet.size(), kCidLength);
  if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION) return std::nullopt;
  Header h;
  h.dcid.assign(vc.dcid, vc.dcid + vc.dcidlen);
  h.long_header = (packet[0] & 0x80) != 0;
  return h;
}

bool QuicConnection::is_connection_start(ByteView packet) {
  ngtcp2_pkt_hd hd{};
  return ngtcp2_accept(&hd, packet.data(), packet.size()) == 0;
}

QuicConnection::QuicConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->self = this;
}

QuicConnection::~QuicConnection() = default;

std::unique_ptr<QuicConnection> QuicConnection::create(const QuicOptions& options, Handler* handler,
                                                       ConnKey key, const UdpEndpoint& local,
                                                       const UdpEndpoint& remote, bool client) {
  auto impl = std::make_unique<Impl>();
  impl->handler = handler;
  impl->options = options;
  impl->client = client;
  impl->key = key;
  impl->local = local;
  std::unique_ptr<QuicConnection> c(new QuicConnection(std::move(impl)));
  c->remote_ = remote;
  return c;
}

// The path ngtcp2 sees: our bound address and the peer's (ngtcp2 keeps pointers, not copies,
// so both live in this object).
ngtcp2_path QuicConnection::path() {
  return ngtcp2_path{{reinterpret_cast<ngtcp2_sockaddr*>(&impl_->local.addr), impl_->local.len},
                     {reinterpret_cast<ngtcp2_sockaddr*>(&remote_.addr), remote_.len},
                     nullptr};
}

Result<std::unique_ptr<QuicConnection>> QuicConnection::connect(
    const QuicOptions& options, const TlsIdentity& identity, const UdpEndpoint& local,
    const UdpEndpoint& remote, const std::string& alpn, const PeerId& expected, ConnKey key,
    Instant now, Handler* handler) {
  auto c = create(options, handler, key, local, remote, true);
  Impl& m = *c->impl_;
  m.expected = expected;
  m.alpn_offer = alpn;
  std::uint8_t raw_dcid[18];
  random_bytes(raw_dcid, sizeof raw_dcid);
  ngtcp2_cid dcid;
  ngtcp2_cid_init(&dcid, raw_dcid, sizeof raw_dcid);
  const ngtcp2_cid scid = make_cid(key);
  ngtcp2_path path = c->path();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  m.settings_and_params(settings, params, now);
  const ngtcp2_callbacks cb = Impl::callbacks(true);
  const int rv = ngtcp2_conn_client_new(&m.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
                                        &settings, &params, nullptr, &m);
  if (rv != 0)
    return error(StatusCode::kInternal, std::string("QUIC client: ") + ngtcp2_strerror(rv));
  SMALTI_RETURN_IF_ERROR(m.setup_session(identity));
  return c;
}

Result<std::unique_ptr<QuicConnection>> QuicConnection::accept(
    const QuicOptions& options, const TlsIdentity& identity, const std::vector<std::string>& alpns,
    const UdpEndpoint& local, const UdpEndpoint& remote, ByteView first_packet, ConnKey key,
    Instant now, Handler* handler) {
  ngtcp2_pkt_hd hd{};
  if (ngtcp2_accept(&hd, first_packet.data(), first_packet.size()) != 0) {
    return error(StatusCode::kInvalidArgument, "not a QUIC connection start");
  }
  auto c = create(options, handler, key, local, remote, false);
  Impl& m = *c->impl_;
  m.served = alpns;
  const ngtcp2_cid scid = make_cid(key);
  ngtcp2_path path = c->path();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  m.settings_and_params(settings, params, now);
  params.original_dcid = hd.dcid;
  const ngtcp2_callbacks cb = Impl::callbacks(false);
  const int rv = ngtcp2_conn_server_new(&m.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings,
                                        &params, nullptr, &m);
  if (rv != 0)
    return error(StatusCode::kInternal, std::string("QUIC server: ") + ngtcp2_strerror(rv));
  SMALTI_RETURN_IF_ERROR(m.setup_session(identity));
  c->receive(remote, first_packet, now);
  return c;
}

void QuicConnection::receive(const UdpEndpoint& from, ByteView packet, Instant now) {
  if (closed_) return;
  UdpEndpoint source = from;
  ngtcp2_path path{{reinterpret_cast<ngtcp2_sockaddr*>(&impl_->local.addr), impl_->local.len},
                   {reinterpret_cast<ngtcp2_sockaddr*>(&source.addr), source.len},
                   nullptr};
  ngtcp2_pkt_info pi{};
  const int rv =
      ngtcp2_conn_read_pkt(impl_->conn, &path, &pi, packet.data(), packet.size(), ts(now));
  if (rv != 0) impl_->fail(rv, now);
  impl_->after_input(now);
}

Status QuicConnection::write(ByteView data) {
  if (closed_) return error(StatusCode::kUnavailable, "connection closed");
  if (impl_->queued - impl_->acked + data.size() > impl_->options.max_unacked) {
    return error(StatusCode::kLimitExceeded, "send queue full");
  }
  impl_->queue(data);
  return Status::ok();
}

std::size_t QuicConnection::unacked_bytes() const {
  return static_cast<std::size_t>(impl_->queued - impl_->acked);
}

void QuicConnection::flush(Instant now, std::vector<PacketBatch>& out) {
  for (PacketBatch& b : impl_->pending_out) out.push_back(std::move(b));
  impl_->pending_out.clear();
  if (closed_) return;
  Impl& m = *impl_;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  const std::size_t max_payload = ngtcp2_conn_get_max_tx_udp_payload_size(m.conn);
  const std::size_t quantum = ngtcp2_conn_get_send_quantum(m.conn);
  const std::size_t max_packets =
      std::min(m.options.max_packets_per_flush, std::max<std::size_t>(1, quantum / max_payload));
  PacketBatch batch;
  bool stream_blocked = false;
  std::uint8_t buf[kMaxPacket];
  for (std::size_t packets = 0; packets < max_packets;) {
    ngtcp2_vec vecs[kMaxVecs];
    std::size_t nvecs = 0;
    std::int64_t sid = -1;
    std::uint32_t flags = 0;
    if (!stream_blocked && m.stream_id >= 0 && m.sent < m.queued) {
      nvecs = m.unsent_vecs(vecs);
      sid = m.stream_id;
      flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    }
    ngtcp2_ssize datalen = -1;
    const ngtcp2_ssize n =
        ngtcp2_conn_writev_stream(m.conn, &ps.path, &pi, buf, std::min(max_payload, sizeof buf),
                                  &datalen, flags, sid, vecs, nvecs, ts(now));
    if (datalen > 0) m.sent += static_cast<std::uint64_t>(datalen);
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) continue;
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
        stream_blocked = true;
        continue;
      }
      m.fail(static_cast<int>(n), now);
      break;
    }
    if (n == 0) break;  // nothing more, or congestion / pacing limited
    const auto size = static_cast<std::size_t>(n);
    // GSO: equal-sized segments; a shorter one ends the batch, a longer one starts a new one.
    if (!batch.data.empty() && (size > batch.segment || batch.data.size() % batch.segment != 0)) {
      out.push_back(std::move(batch));
      batch = PacketBatch{};
    }
    if (batch.data.empty()) batch.segment = size;
    batch.data.insert(batch.data.end(), buf, buf + size);
    ++packets;
  }
  if (!batch.data.empty()) out.push_back(std::move(batch));
  ngtcp2_conn_update_pkt_tx_time(m.conn, ts(now));
  for (PacketBatch& b : m.pending_out) out.push_back(std::move(b));
  m.pending_out.clear();
  m.after_input(now);
}

Instant QuicConnection::expiry() const {
  if (closed_) return discard_at_;
  const ngtcp2_tstamp e = ngtcp2_conn_get_expiry(impl_->conn);
  if (e >= static_cast<ngtcp2_tstamp>(INT64_MAX)) return Instant::max();
  return Instant::from_nanos(static_cast<std::int64_t>(e));
}

void QuicConnection::handle_expiry(Instant now) {
  if (closed_) return;
  const int rv = ngtcp2_conn_handle_expiry(impl_->conn, ts(now));
  if (rv != 0) impl_->fail(rv, now);
  impl_->after_input(now);
}

void QuicConnection::close(std::uint32_t code, const std::string& reason, Instant now,
                           std::vector<PacketBatch>& out) {
  if (closed_) return;
  flush(now, out);
  if (closed_) return;
  ngtcp2_connection_close_error cc;
  ngtcp2_connection_close_error_default(&cc);
  ngtcp2_connection_close_error_set_application_error(
      &cc, code, reinterpret_cast<const std::uint8_t*>(reason.data()),
      std::min<std::size_t>(reason.size(), 512));
  impl_->write_close(cc, now);
  closed_ = true;
  discard_at_ = now + kDrainTime;
  for (PacketBatch& b : impl_->pending_out) out.push_back(std::move(b));
  impl_->pending_out.clear();
}

Duration QuicConnection::rtt() const {
  ngtcp2_conn_stat stat{};
  ngtcp2_conn_get_conn_stat(impl_->conn, &stat);
  if (stat.first_rtt_sample_ts == UINT64_MAX) return Duration::zero();  // no sample yet
  return Duration(static_cast<std::int64_t>(stat.smoothed_rtt));
}

Result<std::array<std::uint8_t, 32>> QuicConnection::export_secret(const std::string& label) const {
  std::array<std::uint8_t, 32> out{};
  if (!impl_->handshake_done ||
      gnutls_prf_rfc5705(impl_->session, label.size(), label.data(), 0, nullptr, out.size(),
                         reinterpret_cast<char*>(out.data())) != 0) {
    return error(StatusCode::kFailedPrecondition, "no TLS exporter before the handshake");
  }
  return out;
}

}  // namespace smalti::real
