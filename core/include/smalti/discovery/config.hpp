// discovery::Config: how a node finds its peers. Defaults follow mosaik (section 3.1 of the
// behaviour reference) where mosaik has the knob; the overlay's own knobs are smalti's.
//
//   auto config = discovery::Config(network_id).with_bootstrap(addr).with_tags({"validator"});
//
// Value type.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "smalti/base/digest.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/env/peer.hpp"

namespace smalti::discovery {

struct Config {
  Config() = default;
  explicit Config(NetworkId id) : network(id) {}

  NetworkId network;
  std::vector<PeerAddr> bootstrap;
  std::set<Tag> tags;
  // Events kept for subscribers that fall behind; a slower one is told how many it missed.
  std::size_t events_backlog = 100;
  // Signed entries not updated for this long are hidden, then purged.
  Duration purge_after = 300s;
  // Entries and departures whose timestamp is further than this from our wall clock are refused.
  Duration max_time_drift = 50s;
  // The local entry is re-announced every interval +/- interval * jitter.
  Duration announce_interval = 45s;
  double announce_jitter = 0.5;
  // RTT probes run every interval/2 .. 3*interval/2, to at most max_probes_per_round peers.
  Duration rtt_probe_interval = 30s;
  std::size_t max_probes_per_round = 16;
  // When set, peers whose RTT is known and not below it are left out of peers() and get().
  std::optional<Duration> max_rtt;
  // How long a departing node waits after broadcasting its departure.
  Duration graceful_departure_window = 500ms;

  // The overlay (docs/decisions.md, "Discovery overlay"). A node keeps active_view neighbours,
  // accepts up to max_active_view, batches lazy pushes every ihave_interval and asks a lazy
  // neighbour for an entry it announced when no eager copy came within graft_timeout.
  std::size_t active_view = 5;
  std::size_t max_active_view = 10;
  Duration ihave_interval = 200ms;
  Duration graft_timeout = 1s;
  // Backoff between attempts to join the same peer.
  Duration join_backoff_min = 1s;
  Duration join_backoff_max = 60s;
  // The catalog holds at most this many peers; more are refused.
  std::size_t max_entries = 100'000;

  Config& with_bootstrap(PeerAddr addr) {
    bootstrap.push_back(std::move(addr));
    return *this;
  }
  // A bootstrap peer named by its PeerId alone: its address is resolved through the catalog (an
  // entry learnt from another peer, or one the application inserted as an unsigned entry), and
  // it is joined as soon as the catalog knows it.
  Config& with_bootstrap(const PeerId& id) {
    bootstrap.push_back(PeerAddr{id, {}});
    return *this;
  }
  Config& with_tags(std::initializer_list<std::string_view> names) {
    for (auto name : names) tags.insert(Tag::from_string(name));
    return *this;
  }
  Config& with_tag(Tag tag) {
    tags.insert(tag);
    return *this;
  }
  Config& with_events_backlog(std::size_t n) {
    events_backlog = n;
    return *this;
  }
  Config& with_purge_after(Duration d) {
    purge_after = d;
    return *this;
  }
  Config& with_max_time_drift(Duration d) {
    max_time_drift = d;
    return *this;
  }
  Config& with_announce_interval(Duration d) {
    announce_interval = d;
    return *this;
  }
  Config& with_announce_jitter(double j) {
    announce_jitter = j;
    return *this;
  }
  Config& with_rtt_probe_interval(Duration d) {
    rtt_probe_interval = d;
    return *this;
  }
  Config& with_max_rtt(Duration d) {
    max_rtt = d;
    return *this;
  }
  Config& with_active_view(std::size_t target, std::size_t max) {
    active_view = target;
    max_active_view = max;
    return *this;
  }

  // kInvalidArgument naming the first setting out of range (a zero interval, a jitter outside
  // [0, 1), an empty view or catalog, a backoff whose minimum exceeds its maximum). Network
  // creation refuses an invalid configuration, as the stream and group builders do theirs.
  Status validate() const;
};

}  // namespace smalti::discovery
