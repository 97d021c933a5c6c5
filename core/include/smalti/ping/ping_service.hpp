// PingService: runs the ping protocol for a node and offers it to applications.
//
// It serves /smalti/discovery/ping/1 and drives a PingMachine, which owns the protocol's links
// (one outbound link per pinged peer, reused while it lives): the service only moves frames,
// link events and time between the machine and a LinkTable.
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
#include "smalti/runtime/detail/effect_loop.hpp"
#include "smalti/runtime/detail/link_table.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/runtime/signal.hpp"

namespace smalti::ping {

class PingService {
 public:
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
  void accept(env::LinkPtr link);
  void run_effects();
  void execute(Effect effect, bool& completed_any);

  Node& node_;
  PingMachine machine_;
  Signal changed_;
  std::map<PingId, Callback> waiters_;
  LinkTable links_;
  DeadlineTimer timer_;
  std::shared_ptr<PingService*> alive_;
};

}  // namespace smalti::ping
