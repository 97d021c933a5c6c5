// DiscoveryMachine: discovery as a pure state machine (no I/O, no clock reads, no threads).
//
// It keeps the catalog, the local signed entry, the overlay of neighbours and the RTT estimates,
// and speaks the protocol of messages.hpp over links its driver opens and accepts:
//   - Overlay (HyParView-like): a node keeps `active_view` neighbours, chosen at random from its
//     catalog (and the bootstrap peers), joined over an announce link; it accepts joins up to
//     `max_active_view` (an urgent join, from a node with no neighbour, evicts a random one);
//     each announce round it joins one more random peer and drops one, so views keep mixing and
//     separated parts of the network find each other again after a partition.
//   - Dissemination (Plumtree-like): a new entry goes eagerly (Gossip) to "eager" neighbours and
//     lazily (IHave, batched) to "lazy" ones; a duplicate eager copy prunes its sender to lazy;
//     an announced entry that does not arrive eagerly within graft_timeout is fetched with Graft,
//     which makes that neighbour eager again. Per entry each node receives about one full copy.
//   - Catalog exchange on every join (accepted or not) and on sync_with: summaries of
//     (peer, version) first, then only the entries the other side lacks.
//   - Periodic re-announce with jitter, immediate re-announce on local changes, signed graceful
//     departure, purge of stale entries, RTT probes to a bounded round-robin of peers.
//
// Inputs take `now` (monotonic, never decreasing) and `wall` (for entry timestamps) first.
// Links are named by LinkTokens the machine hands out: Connect effects for outbound links,
// handle_accepted() for inbound ones. Outputs are pulled with poll_effect(); next_deadline()
// says when handle_timeout() is due. Peer input never crashes the machine: bad frames close the
// link with ProtocolViolation. Not synchronised: owned by one driver on one executor.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "smalti/base/buggify.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/base/rtt_estimator.hpp"
#include "smalti/discovery/catalog.hpp"
#include "smalti/discovery/config.hpp"
#include "smalti/discovery/events.hpp"
#include "smalti/discovery/messages.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/runtime/effects.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::discovery {

using smalti::LinkToken;
using SyncId = std::uint64_t;

enum class Channel : std::uint8_t { kAnnounce, kSync };
// The ALPN a channel's links use.
const char* channel_alpn(Channel channel);

// Measure the RTT to this peer (the driver pings it and reports handle_rtt_sample).
struct Probe {
  PeerAddr addr;
};
// A sync_with() finished: ok, or why it failed.
struct SyncDone {
  SyncId id = 0;
  Status status = Status::ok();
};
// Links: effect::Connect (the ALPN names the channel), Send and Close; catalog events go up as
// effect::Deliver<Event>.
using Effect = std::variant<effect::Connect, effect::Send, effect::Close, Probe,
                            effect::Deliver<Event>, SyncDone>;

struct Stats {
  std::uint64_t gossip_received = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t grafts_sent = 0;
  std::uint64_t prunes_sent = 0;
  std::uint64_t entries_rejected = 0;
  std::uint64_t syncs_completed = 0;
  std::uint64_t violations = 0;
};

class DiscoveryMachine : public MachineBase<Effect> {
 public:
  // Neighbour joins in flight at once, inbound links waiting for their first message, and sync
  // links open at once: beyond these, links are refused.
  static constexpr std::size_t kMaxPendingInbound = 256;
  static constexpr std::size_t kMaxSyncLinks = 64;
  // Lazy announcements queued per neighbour, and entries awaited from lazy announcements.
  static constexpr std::size_t kMaxLazyQueue = 4 * kMaxStampsPerFrame;
  static constexpr std::size_t kMaxMissing = 4096;
  // Effects waiting to be pulled (the machine contract's bound, machine.hpp).
  static constexpr std::size_t kMaxPendingEffects = 1u << 20;
  // Addresses remembered from dial() that are not (yet) in the catalog.
  static constexpr std::size_t kMaxDialed = 1024;
  // A link that is not a neighbour's (a join, an exchange, a sync) lives at most this long.
  static constexpr Duration kHandshakeTimeout = 30s;

  // `effect_limit`: the machine contract's bound (machine.hpp); tests use small ones.
  DiscoveryMachine(Config config, const SecretKey& key, PeerAddr self, std::uint64_t seed,
                   std::size_t effect_limit = kMaxPendingEffects);

  // Fault points (base/buggify.hpp, docs/buggify.md); none until set. The driver sets them.
  void set_buggify(Buggify buggify) { buggify_ = std::move(buggify); }

  // Signs the first entry, arms the timers and joins the bootstrap peers (one named by PeerId
  // alone once the catalog knows its address).
  void start(Instant now, WallTime wall);

  // Links.
  void handle_connected(Instant now, WallTime wall, LinkToken link);
  // An outbound link could not be opened, or any link ended (never after our own Close).
  void handle_link_closed(Instant now, WallTime wall, LinkToken link);
  // The link refused a frame (closed, or its send queue full): the link is given up, as a lost
  // frame would leave a join or an exchange hanging; gossip repairs what it carried.
  void handle_send_refused(Instant now, LinkToken link, const Bytes& frame, const Status& why);
  // An inbound link; returns its token, or nothing when refused (the driver closes it).
  std::optional<LinkToken> handle_accepted(Instant now, WallTime wall, const PeerId& remote,
                                           Channel channel);
  void handle_frame(Instant now, WallTime wall, LinkToken link, ByteView frame);
  void handle_timeout(Instant now, WallTime wall);
  void handle_rtt_sample(Instant now, const PeerId& peer, Duration rtt);

  // Commands.
  void dial(Instant now, WallTime wall, const std::vector<PeerAddr>& peers);
  SyncId sync_with(Instant now, WallTime wall, const PeerAddr& peer);
  Result<Upsert> feed(Instant now, WallTime wall, const SignedPeerEntry& entry);
  bool insert(const PeerEntry& entry);
  bool remove(const PeerId& id);
  void clear_unsigned();
  // Applies `change` to the local entry; when it changed anything the entry gets a new version,
  // is re-signed and announced at once. `change` must not alter the id or network.
  template <typename Change>
  void update_local(Instant now, WallTime wall, Change&& change) {
    advance(now);
    if (!started_ || departed_) return;
    PeerEntry next = local_.entry;
    change(next);
    SMALTI_ASSERT(next.id() == local_.entry.id() && next.network == local_.entry.network);
    if (next == local_.entry) return;
    local_.entry = std::move(next);
    reannounce(now, wall);
  }
  // Broadcasts a signed departure to every neighbour; the driver then waits the departure
  // window and closes the links. The machine ignores input and commands afterwards (feed and
  // sync_with fail with kCancelled). Commands before start() do nothing or fail likewise.
  void depart(Instant now, WallTime wall);

  Instant next_deadline() const;
  void invariants() const;

  // Views.
  const SignedPeerEntry& local() const { return local_; }
  const Catalog& catalog() const { return catalog_; }
  std::optional<Duration> rtt(const PeerId& peer) const;
  // Peers admitted by max_rtt (unknown RTT admits).
  bool within_max_rtt(const PeerId& peer) const;
  std::vector<PeerId> neighbours() const;
  bool is_eager(const PeerId& peer) const;
  // Bumped on every change of the catalog or the local entry: a cheap watch.
  std::uint64_t catalog_version() const { return catalog_version_; }
  const Config& config() const { return config_; }
  const Stats& stats() const { return stats_; }
  bool departed() const { return departed_; }

 private:
  enum class Phase : std::uint8_t {
    kConnecting,  // outbound, waiting for the transport
    kJoining,     // outbound announce: Join sent, waiting for JoinReply
    kAwaitJoin,   // inbound announce: waiting for Join
    kExchanging,  // summaries and entries going both ways
    kNeighbour,   // exchange done: neighbour traffic only, or waiting for the opener's close
  };
  struct Exchange {
    std::map<PeerId, EntryVersion> remote;  // the other side's summary so far
    bool remote_summary_done = false;
    bool entries_sent = false;
    bool remote_entries_done = false;
    std::size_t entries_received = 0;
  };
  struct LinkState {
    PeerId peer;
    Channel channel = Channel::kAnnounce;
    bool outbound = false;
    Phase phase = Phase::kConnecting;
    bool neighbour = false;  // accepted into the view (on either side)
    bool rotation = false;   // a join made to mix the view: drop another when accepted
    Exchange exchange;
    std::optional<SyncId> sync_id;      // a sync_with waiting for this link
    Instant deadline = Instant::max();  // a link that is not a neighbour's is closed then
  };
  struct Neighbour {
    LinkToken link = 0;
    bool eager = true;
    std::vector<Stamp> lazy_queue;  // IHave stamps not yet flushed
  };
  struct Missing {
    Instant deadline;
    std::deque<PeerId> sources;  // neighbours that announced it, oldest first
  };
  struct Backoff {
    Instant retry_at;
    Duration delay;
  };

  // machine.cpp
  void send(LinkToken link, const Message& message);
  void close_link(LinkToken link, std::uint32_t code, std::string reason);
  void violation(LinkToken link, const Status& why);
  void reannounce(Instant now, WallTime wall);
  void force_sync(WallTime wall);
  Duration jittered(Duration base, double jitter);
  void run_probes(Instant now, WallTime wall);
  void purge(Instant now, WallTime wall);
  std::optional<PeerAddr> pick_candidate(Instant now, WallTime wall);
  // A bootstrap peer's address: its own, or for one named by PeerId alone, the catalog's.
  std::optional<PeerAddr> resolve_bootstrap(const PeerAddr& addr, WallTime wall) const;
  // Joins the PeerId-only bootstrap peers the catalog has come to know.
  void join_resolved_bootstrap(Instant now, WallTime wall);
  // The catalog learnt `peer`: a PeerId-only bootstrap peer is joined at the next upkeep.
  void note_catalog_knows(const PeerId& peer);
  void maintain_view(Instant now, WallTime wall);
  void rotate_view(Instant now, WallTime wall);
  void note_join_failed(Instant now, const PeerId& peer);
  // Closes links that are not a neighbour's and outlived the handshake timeout.
  void expire_handshakes(Instant now, WallTime wall);
  // Forgets a link that closed or that we close: its neighbour, pending join and sync waiter.
  // Returns true when it was the link of a current neighbour.
  bool forget_link(LinkToken link, const Status& reason);
  // Applies an entry from a peer; delivers the event; returns the outcome.
  Result<Upsert> accept_entry(WallTime wall, const SignedPeerEntry& entry);
  void deliver_event(Event event);

  // machine_links.cpp
  LinkToken open_link(const PeerAddr& addr, Channel channel);
  void join(Instant now, WallTime wall, const PeerAddr& addr, bool rotation);
  void on_join(Instant now, WallTime wall, LinkToken link, LinkState& state, const Join& join);
  void on_join_reply(Instant now, WallTime wall, LinkToken link, LinkState& state,
                     const JoinReply& reply);
  void add_neighbour(Instant now, WallTime wall, LinkToken link);
  void drop_neighbour(Instant now, WallTime wall, const PeerId& peer, std::uint32_t code);
  void drop_random_neighbour(Instant now, WallTime wall, const PeerId& keep);
  void start_exchange(LinkToken link, WallTime wall);
  void on_summary(Instant now, WallTime wall, LinkToken link, LinkState& state,
                  const Summary& summary);
  void on_entries(Instant now, WallTime wall, LinkToken link, LinkState& state,
                  const Entries& entries);
  void finish_exchange(Instant now, WallTime wall, LinkToken link, LinkState& state);
  std::vector<Stamp> summary_stamps(WallTime wall) const;

  // machine_gossip.cpp
  // kTree: eagerly to eager neighbours, lazily to the others (a new version spreading).
  // kLazy: only announced, to every neighbour (entries learnt in bulk from an exchange, which
  // most neighbours already have: they fetch what they lack with Graft).
  enum class Push : std::uint8_t { kTree, kLazy };
  void broadcast(const SignedPeerEntry& entry, const PeerId* except, Push push = Push::kTree);
  void on_gossip(Instant now, WallTime wall, LinkToken link, const PeerId& from,
                 const Gossip& gossip);
  void on_ihave(Instant now, const PeerId& from, const IHave& ihave);
  void on_graft(const PeerId& from, const Graft& graft);
  void on_departure(WallTime wall, LinkToken link, const PeerId& from, const Departure& departure);
  void flush_lazy();
  void expire_missing(Instant now);
  void forget_missing_source(const PeerId& peer);
  void on_neighbour_message(Instant now, WallTime wall, LinkToken link, LinkState& state,
                            Message message);

  Config config_;
  SecretKey key_;
  Catalog catalog_;
  SignedPeerEntry local_;
  Rng rng_;
  bool started_ = false;
  bool departed_ = false;

  std::map<LinkToken, LinkState> links_;
  LinkToken next_link_ = 1;
  std::map<PeerId, Neighbour> neighbours_;
  std::map<PeerId, LinkToken> joining_;  // outbound joins not yet answered
  std::map<PeerId, Backoff> backoff_;
  std::map<PeerId, PeerAddr> dialed_;      // addresses given to dial(), bounded
  std::set<PeerId> unresolved_bootstrap_;  // PeerId-only bootstrap peers not joined yet
  std::map<Stamp, Missing> missing_;
  std::set<std::pair<Instant, Stamp>> missing_deadlines_;
  std::map<PeerId, RttEstimator> rtt_;
  PeerId probe_cursor_;

  SyncId next_sync_ = 1;
  Instant announce_at_ = Instant::max();
  Instant probe_at_ = Instant::max();
  Instant purge_at_ = Instant::max();
  Instant maintain_at_ = Instant::max();
  Instant flush_at_ = Instant::max();

  std::uint64_t catalog_version_ = 0;
  Stats stats_;
  Buggify buggify_;
};

}  // namespace smalti::discovery
