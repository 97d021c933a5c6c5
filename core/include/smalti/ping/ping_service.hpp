// PingService: runs the ping protocol for a node and offers it to applications.
//
// It serves /smalti/discovery/ping/1, opens one outbound link per pinged peer (reused while it
// lives), feeds frames, link closures and timeouts to a PingMachine, and executes its effects.
//
//   Result<Duration> rtt = co_await node_ping.ping(peer_addr);
//   co_await node_ping.when().reachable(peer_id);          // a ping to it has succeeded
//   node_ping.ping(peer_addr, [](Result<Duration> r) {});  // callback form
//
// Completion callbacks run in their own executor turn, never inside the service's own code.
// Executor thread only. Destroying the service closes its links; pending callbacks never run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "smalti/env/transport.hpp"
#include "smalti/ping/ping_machine.hpp"
#include "smalti/runtime/await_callback.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/effect_loop.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/runtime/signal.hpp"

namespace smalti::ping {

class PingService {
 public:
  // Frames queued for a peer whose link is still connecting.
  static constexpr std::size_t kMaxQueuedPerPeer = 256;
  // Incoming links served at once; more are refused.
  static constexpr std::size_t kMaxInboundLinks = 4096;

  PingService(Node& node, Config config = {});
  ~PingService();
  PingService(const PingService&) = delete;
  PingService& operator=(const PingService&) = delete;

  // Starts serving the ping ALPN.
  Status start();

  using Callback = std::function<void(Result<Duration>)>;
  void ping(const PeerAddr& peer, Callback done);
  CallbackAwaiter<Result<Duration>> ping(const PeerAddr& peer);

  // The smoothed RTT to `peer`, once a ping succeeded.
  std::optional<Duration> rtt(const PeerId& peer) const;
  const Stats& stats() const { return machine_.stats(); }

  class When {
   public:
    explicit When(PingService& service) : service_(service) {}
    // A ping to `peer` has succeeded at least once.
    Condition reachable(const PeerId& peer) const;
    // The smoothed RTT to `peer` is known and below `bound`.
    Condition rtt_below(const PeerId& peer, Duration bound) const;

   private:
    PingService& service_;
  };
  When when() { return When(*this); }

 private:
  class LinkAdapter;
  struct Outbound {
    env::LinkPtr link;
    std::unique_ptr<LinkAdapter> adapter;
    LinkToken token = 0;       // of `link`; closures of older links carry other tokens
    std::deque<Bytes> queued;  // frames waiting for the link to open
    bool connecting = false;
  };
  struct Inbound {
    env::LinkPtr link;
    std::unique_ptr<LinkAdapter> adapter;
  };

  void accept(env::LinkPtr link);
  void on_frame(LinkToken token, const PeerId& from, Bytes frame);
  void on_closed(LinkToken token, const PeerId& peer, bool outbound);
  void retire(env::LinkPtr link, std::unique_ptr<LinkAdapter> adapter);
  // Forgets the current link of `out` (closed or stale) so a new one can be opened.
  void forget_link(Outbound& out);
  // Closes a link for a protocol violation and forgets it.
  void drop_link(LinkToken token, const Status& reason);
  void send_request(const PeerId& to, Bytes frame);
  void on_connected(const PeerId& peer, Result<env::LinkPtr> link);
  void run_effects();
  void execute(Effect effect, bool& completed_any);

  Node& node_;
  PingMachine machine_;
  Signal changed_;
  std::map<PingId, Callback> waiters_;
  std::map<PeerId, PeerAddr> addresses_;
  std::map<PeerId, Outbound> outbound_;
  std::map<LinkToken, Inbound> inbound_;
  std::map<LinkToken, PeerId> outbound_tokens_;
  LinkToken next_token_ = 1;
  DeadlineTimer timer_;
  std::shared_ptr<PingService*> alive_;
};

}  // namespace smalti::ping
