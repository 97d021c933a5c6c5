// Discovery: finds the peers of a network and keeps a signed, current catalog of them.
//
// It runs a DiscoveryMachine for its node: it serves the announce and sync ALPNs, opens the links
// the machine asks for, feeds it frames, closures and timeouts, pings peers for RTT and turns
// the machine's events into subscriptions and when() conditions.
//
//   auto& discovery = net.discovery();
//   co_await discovery.when().peers_at_least(10);
//   co_await discovery.when().tagged_at_least(Tag::from_string("validator"), 3).within(30s);
//   auto events = discovery.events();          // events from now on
//   discovery::EventOrLag e = co_await events.next();
//   Status s = co_await discovery.sync_with(peer_addr);
//   discovery.add_tags({Tag::from_string("oracle")});   // re-signed and announced at once
//
// Callbacks run in their own executor turn. Executor thread only. Handles it gives out
// (EventStream, Condition) must not outlive it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "smalti/discovery/discovery_machine.hpp"
#include "smalti/ping/ping_service.hpp"
#include "smalti/runtime/await_callback.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/detail/effect_loop.hpp"
#include "smalti/runtime/detail/link_table.hpp"
#include "smalti/runtime/node.hpp"
#include "smalti/runtime/signal.hpp"
#include "smalti/runtime/task.hpp"

namespace smalti::discovery {

class Discovery;

// A subscriber's view of the events, from the moment it was created.
class EventStream {
 public:
  // The next event, Lagged when more than events_backlog were missed, or nothing yet.
  std::optional<EventOrLag> try_next();
  // Waits for the next event.
  Task<EventOrLag> next();

 private:
  friend class Discovery;
  EventStream(Discovery& discovery, std::uint64_t cursor)
      : discovery_(&discovery), cursor_(cursor) {}
  Discovery* discovery_;
  std::uint64_t cursor_;
};

class Discovery {
 public:
  Discovery(Node& node, ping::PingService& ping, Config config);
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Serves the discovery ALPNs and starts announcing and joining the bootstrap peers.
  Status start();

  // The local entry, as last signed.
  const SignedPeerEntry& me() const { return machine_.local(); }
  // Known peers except this node: signed entries that are not stale, then unsigned ones,
  // leaving out peers slower than max_rtt (a peer whose RTT is unknown is kept).
  std::vector<PeerEntry> peers() const;
  // Signed, non-stale entries, without the RTT filter.
  std::vector<PeerEntry> signed_peers() const;
  // The signed non-stale entry, else the unsigned one; filtered by max_rtt.
  std::optional<PeerEntry> get(const PeerId& peer) const;
  std::size_t peers_count() const;
  std::size_t signed_peers_count() const;
  std::optional<Duration> rtt(const PeerId& peer) const { return machine_.rtt(peer); }
  std::vector<PeerId> neighbours() const { return machine_.neighbours(); }
  const Catalog& catalog() const { return machine_.catalog(); }
  const Stats& stats() const { return machine_.stats(); }
  const Config& config() const { return machine_.config(); }
  // A counter bumped by every change of the catalog or the local entry (a cheap watch: compare
  // it with an earlier value, or wait with when().changed_since()).
  std::uint64_t catalog_version() const { return machine_.catalog_version(); }

  EventStream events() { return EventStream(*this, events_.end()); }

  // Joins these peers (they become neighbours if they accept; the catalogs are exchanged).
  void dial(const std::vector<PeerAddr>& peers);
  // Exchanges catalogs with `peer` once; `done` gets the outcome.
  void sync_with(const PeerAddr& peer, std::function<void(Status)> done);
  CallbackAwaiter<Status> sync_with(const PeerAddr& peer);
  // Adds a signed entry learnt elsewhere; true when it was new or newer.
  bool feed(const SignedPeerEntry& entry);
  // Unsigned entries: known locally only, never announced; a signed entry replaces them.
  bool insert(const PeerEntry& entry);
  bool remove(const PeerId& peer);
  void clear_unsigned();
  // RTT measured by another protocol's link.
  void record_rtt(const PeerId& peer, Duration rtt);

  // Changes to the local entry: each re-signs it and announces it at once if it changed.
  void add_tags(const std::set<Tag>& tags);
  void remove_tags(const std::set<Tag>& tags);
  void add_ticket(const Ticket& ticket);
  void remove_ticket(const UniqueId& ticket_id);
  void remove_tickets_of(const UniqueId& ticket_class);
  void replace_ticket(const Ticket& ticket);
  void add_streams(const std::set<Digest>& streams);
  void remove_streams(const std::set<Digest>& streams);
  void add_groups(const std::set<Digest>& groups);
  void remove_groups(const std::set<Digest>& groups);

  // Tells the neighbours this node leaves, waits graceful_departure_window, then closes every
  // discovery link. Discovery stays quiet afterwards.
  void depart(std::function<void()> done);
  CallbackAwaiter<bool> depart();

  class When {
   public:
    explicit When(Discovery& discovery) : d_(discovery) {}
    // At least n peers (peers_count()) are known.
    Condition peers_at_least(std::size_t n) const;
    // At least n signed, non-stale peers carry `tag`.
    Condition tagged_at_least(const Tag& tag, std::size_t n) const;
    // A signed, non-stale entry of `peer` is known.
    Condition knows(const PeerId& peer) const;
    // No entry of `peer` is known (it departed, was purged or was never seen).
    Condition forgot(const PeerId& peer) const;
    // The catalog or the local entry changed since catalog_version() returned `version`.
    Condition changed_since(std::uint64_t version) const;

   private:
    Discovery& d_;
  };
  When when() { return When(*this); }

 private:
  friend class EventStream;
  void on_accept(Channel channel, env::LinkPtr link);
  void on_frame(LinkToken token, Bytes frame);
  void sample_link_rtt(LinkToken token);
  void run_effects();
  void execute(Effect& effect);
  template <typename Change>
  void change_local(Change&& change) {
    machine_.update_local(node_.now(), node_.wall_now(), std::forward<Change>(change));
    run_effects();
  }
  bool visible(const PeerEntry& entry) const;

  Node& node_;
  ping::PingService& ping_;
  DiscoveryMachine machine_;
  LinkTable links_;
  DeadlineTimer timer_;
  EventLog events_;
  Signal changed_;       // catalog or local entry changed
  Signal event_signal_;  // an event was logged
  std::uint64_t seen_version_ = 0;
  std::map<SyncId, std::function<void(Status)>> sync_waiters_;
  std::map<LinkToken, Instant> last_rtt_sample_;
  std::map<LinkToken, PeerId> link_peers_;
  std::optional<env::TimerId> departure_timer_;
  std::shared_ptr<Discovery*> alive_;
};

}  // namespace smalti::discovery
