// Helpers for discovery simulation tests: a world of nodes that bootstrap from the first one,
// and checks over every live node's catalog. Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "smalti/sim/world.hpp"

namespace smalti::sim::support {

inline NetworkId test_network() {
  return NetworkId::from_string("smalti.test.discovery");
}

// Adds `n` nodes; node 0 is the bootstrap of the others. `tune` adjusts each node's config.
inline std::vector<HostId> add_discovery_nodes(
    World& world, std::size_t n,
    const std::function<void(std::size_t, discovery::Config&)>& tune = {}) {
  std::vector<HostId> hosts;
  for (std::size_t i = 0; i < n; ++i) {
    NodeSpec spec{.name = "n" + std::to_string(i)};
    spec.options.discovery = discovery::Config(test_network());
    if (i > 0) spec.options.discovery.with_bootstrap(world.addr(hosts[0]));
    if (tune) tune(i, spec.options.discovery);
    hosts.push_back(world.add_node(std::move(spec)));
  }
  return hosts;
}

// True when the node on `host` knows exactly the (signed, non-stale) peers in `expected`.
inline bool knows_exactly(World& world, HostId host, const std::vector<HostId>& expected) {
  Network* net = world.network(host);
  if (!net) return false;
  const bool self_listed = std::find(expected.begin(), expected.end(), host) != expected.end();
  if (net->discovery().signed_peers_count() != expected.size() - (self_listed ? 1 : 0)) {
    return false;
  }
  for (HostId other : expected) {
    if (other == host) continue;
    if (!net->discovery().when().knows(world.peer_id(other)).is_met()) return false;
  }
  return true;
}

// True when every live node in `group` knows every other node of `group` and no one else.
inline bool converged(World& world, const std::vector<HostId>& group) {
  for (HostId h : group) {
    if (!knows_exactly(world, h, group)) return false;
  }
  return true;
}

}  // namespace smalti::sim::support
