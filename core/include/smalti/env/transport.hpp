// Transport and Link: reliable, ordered, framed connections between peers, named by ALPN.
//
// A Link is one bidirectional conversation with one remote peer for one protocol (ALPN). It
// carries whole frames in order, reports the round-trip time the transport measured, and ends
// exactly once: either its owner calls close() (the handler is not called back), or the
// handler's on_closed() reports a remote close with its code and reason or a reset (idle
// timeout, unreachable or restarted peer). The simulator backs links with its simulated network;
// the real backend with one QUIC connection per (peer, ALPN) and one bidirectional stream.
//
// Threading: every call and every callback happens on the owning node's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "smalti/base/bytes.hpp"
#include "smalti/base/digest.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/env/peer.hpp"

namespace smalti::env {

// Close codes shared by every protocol (mosaik section 2.5). Protocols add their own ranges.
namespace close_code {
inline constexpr std::uint32_t kSuccess = 200;
inline constexpr std::uint32_t kGracefulShutdown = 204;
inline constexpr std::uint32_t kInvalidAlpn = 100;
inline constexpr std::uint32_t kCancelled = 102;
inline constexpr std::uint32_t kUnexpectedClose = 103;
inline constexpr std::uint32_t kProtocolViolation = 400;
// Not sent on the wire: the link ended without a close frame (idle timeout, reset, crash).
inline constexpr std::uint32_t kReset = 0;
}  // namespace close_code

struct CloseInfo {
  std::uint32_t code = close_code::kReset;
  std::string reason;
  bool by_remote = false;
};

class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  virtual void on_frame(Bytes frame) = 0;
  // Called at most once, for a remote close or a reset (never for our own close()); the link is
  // closed afterwards and send() fails.
  virtual void on_closed(const CloseInfo& info) = 0;
};

class Link {
 public:
  virtual ~Link() = default;
  virtual const PeerId& remote() const = 0;
  virtual const std::string& alpn() const = 0;
  // Frames arrive through the handler from the moment it is set. Frames that arrived before
  // are held (up to the transport's receive window) and delivered when it is set.
  virtual void set_handler(LinkHandler* handler) = 0;
  // Queues a frame. kUnavailable when closed; kLimitExceeded when the frame is larger than the
  // transport's bound or the send queue is full (back-pressure: try again later). The frame is
  // moved from only when the send succeeds: a refused frame is left to the caller.
  virtual Status send(Bytes&& frame) = 0;
  // The smoothed round-trip time the transport measured; zero before any sample.
  virtual Duration rtt() const = 0;
  // 32 bytes that both ends of this link derive and no other connection has (the TLS exporter
  // on QUIC, with `label` as its label), so a protocol can bind a proof to this connection.
  // All zero once the link has ended.
  virtual Digest secret(std::string_view label) const = 0;
  virtual bool is_open() const = 0;
  // Closes with an application code; the remote sees the code and reason. Idempotent.
  virtual void close(std::uint32_t code, std::string reason) = 0;
};

using LinkPtr = std::shared_ptr<Link>;
using AcceptFn = std::function<void(LinkPtr)>;
using ConnectFn = std::function<void(Result<LinkPtr>)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // The address others use to reach this node.
  virtual PeerAddr local_addr() const = 0;
  // Accepts links for `alpn`; kAlreadyExists if something listens already.
  virtual Status listen(const std::string& alpn, AcceptFn on_link) = 0;
  // Opens a link; `done` runs later with the link or kUnavailable / kTimeout /
  // kPermissionDenied (the remote key differs from addr.id) / kNotFound (nothing listens on alpn).
  virtual void connect(const PeerAddr& addr, const std::string& alpn, ConnectFn done) = 0;
};

}  // namespace smalti::env
