// The public Discovery API in the simulator: when() conditions, events, sync_with, unsigned
// entries, local changes announced at once, and max_rtt filtering.
#include <gtest/gtest.h>

#include "discovery_support.hpp"
#include "fault_test_support.hpp"

namespace smalti::sim {
namespace {

using support::add_discovery_nodes;
using support::converged;
using support::test_network;

const Tag kValidator = Tag::from_string("validator");

TEST(DiscoveryApi, WhenTaggedAtLeastCompletesOnceEnoughTaggedPeersAreKnown) {
  World world({.seed = 31});
  auto hosts = add_discovery_nodes(world, 10, [](std::size_t i, discovery::Config& c) {
    if (i >= 7) c.with_tag(kValidator);
  });
  auto& d0 = world.network(hosts[0])->discovery();
  auto three = d0.when().tagged_at_least(kValidator, 3);
  auto four = d0.when().tagged_at_least(kValidator, 4);
  bool three_met = false;
  auto sub = three.on_met([&] { three_met = true; });
  world.run_for(20s);
  EXPECT_TRUE(three_met);
  EXPECT_FALSE(four.is_met());
  // A tag added at run time is announced at once, long before the next periodic announce.
  world.network(hosts[2])->discovery().add_tags({kValidator});
  ASSERT_TRUE(world.run_until([&] { return four.is_met(); }, 3s));
}

TEST(DiscoveryApi, EventsReportDiscoveryAndBoundTheBacklog) {
  World world({.seed = 32});
  auto hosts = add_discovery_nodes(world, 8, [](std::size_t i, discovery::Config& c) {
    if (i == 0) c.with_events_backlog(3);
  });
  auto& d0 = world.network(hosts[0])->discovery();
  auto& d1 = world.network(hosts[1])->discovery();
  auto slow = d0.events();  // never read until the end: it lags
  auto fresh = d1.events();
  std::set<PeerId> discovered;
  world.run_for(20s);
  while (auto e = fresh.try_next()) {
    ASSERT_TRUE(std::holds_alternative<discovery::Event>(*e));
    if (auto* d = std::get_if<discovery::PeerDiscovered>(&std::get<discovery::Event>(*e))) {
      discovered.insert(d->entry.id());
    }
  }
  EXPECT_EQ(discovered.size(), 7u);
  auto first = slow.try_next();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(std::holds_alternative<discovery::Lagged>(*first));
  EXPECT_GT(std::get<discovery::Lagged>(*first).missed, 0u);
  int held = 0;
  while (slow.try_next()) ++held;
  EXPECT_EQ(held, 3);
}

TEST(DiscoveryApi, SyncWithExchangesCatalogsAndReplacesUnsignedEntries) {
  World world({.seed = 33});
  // No bootstrap: the nodes only meet through sync_with.
  std::vector<HostId> hosts;
  for (int i = 0; i < 2; ++i) {
    NodeSpec spec{.name = "s" + std::to_string(i)};
    spec.options.discovery = discovery::Config(test_network());
    hosts.push_back(world.add_node(std::move(spec)));
  }
  auto& a = world.network(hosts[0])->discovery();
  auto& b = world.network(hosts[1])->discovery();
  discovery::PeerEntry hint =
      discovery::make_entry(test_network(), world.addr(hosts[1]), WallTime::from_unix_nanos(0));
  ASSERT_TRUE(a.insert(hint));
  EXPECT_EQ(a.peers_count(), 1u);
  EXPECT_EQ(a.signed_peers_count(), 0u);
  std::optional<Status> result;
  a.sync_with(world.addr(hosts[1]), [&](Status s) { result = s; });
  world.run_for(2s);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->is_ok()) << result->message();
  EXPECT_EQ(a.signed_peers_count(), 1u);
  EXPECT_TRUE(a.catalog().unsigned_entries().empty()) << "the signed entry replaces the hint";
  EXPECT_EQ(b.signed_peers_count(), 1u);
  // A sync with a node of another network adds nothing.
  NodeSpec other{.name = "other"};
  other.options.discovery = discovery::Config(NetworkId::from_string("another network"));
  const HostId stranger = world.add_node(std::move(other));
  std::optional<Status> second;
  a.sync_with(world.addr(stranger), [&](Status s) { second = s; });
  world.run_for(2s);
  EXPECT_EQ(a.signed_peers_count(), 1u);
  EXPECT_EQ(world.network(stranger)->discovery().signed_peers_count(), 0u);
}

TEST(DiscoveryApi, MaxRttHidesSlowPeersFromPeersButNotFromSignedPeers) {
  World world({.seed = 34});
  auto hosts = add_discovery_nodes(world, 3, [](std::size_t i, discovery::Config& c) {
    if (i == 0) c.with_max_rtt(100ms);
  });
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, 20s));
  auto& d0 = world.network(hosts[0])->discovery();
  const PeerId slow = world.peer_id(hosts[2]);
  for (int i = 0; i < 20; ++i) d0.record_rtt(slow, 500ms);
  EXPECT_EQ(d0.signed_peers().size(), 2u);
  EXPECT_EQ(d0.peers().size(), 1u);
  EXPECT_FALSE(d0.get(slow).has_value());
  EXPECT_TRUE(d0.get(world.peer_id(hosts[1])).has_value());
}

TEST(DiscoveryApi, ProbesMeasureRttToPeers) {
  World world({.seed = 35});
  auto hosts = add_discovery_nodes(
      world, 4, [](std::size_t, discovery::Config& c) { c.with_rtt_probe_interval(2s); });
  world.run_for(20s);
  auto& d0 = world.network(hosts[0])->discovery();
  for (std::size_t i = 1; i < hosts.size(); ++i) {
    auto rtt = d0.rtt(world.peer_id(hosts[i]));
    ASSERT_TRUE(rtt.has_value()) << "no RTT to n" << i;
    EXPECT_GT(*rtt, Duration::zero());
  }
}

TEST(DiscoveryApi, DifferentNetworksStayApart) {
  World world({.seed = 36});
  auto first = add_discovery_nodes(world, 5);
  std::vector<HostId> second;
  for (int i = 0; i < 5; ++i) {
    NodeSpec spec{.name = "o" + std::to_string(i)};
    spec.options.discovery = discovery::Config(NetworkId::from_string("another network"));
    // Bootstrapped from the first network's node: it must not mix the two.
    spec.options.discovery.with_bootstrap(world.addr(first[0]));
    second.push_back(world.add_node(std::move(spec)));
  }
  world.run_for(60s);
  EXPECT_TRUE(converged(world, first));
  for (HostId h : second) EXPECT_EQ(world.network(h)->discovery().signed_peers_count(), 0u);
}

TEST(DiscoveryApi, DialMakesNeighboursAndWatchersSeeTheChange) {
  World world({.seed = 38});
  std::vector<HostId> hosts;
  for (int i = 0; i < 2; ++i) {
    NodeSpec spec{.name = "d" + std::to_string(i)};
    spec.options.discovery = discovery::Config(test_network());
    hosts.push_back(world.add_node(std::move(spec)));
  }
  auto& a = world.network(hosts[0])->discovery();
  auto& b = world.network(hosts[1])->discovery();
  world.run_for(5s);
  EXPECT_EQ(a.signed_peers_count(), 0u) << "no bootstrap: nobody is known yet";
  const std::uint64_t before = b.catalog_version();
  auto changed = b.when().changed_since(before);
  EXPECT_FALSE(changed.is_met());
  a.dial({world.addr(hosts[1])});
  world.run_for(2s);
  EXPECT_TRUE(changed.is_met());
  EXPECT_EQ(a.signed_peers_count(), 1u);
  EXPECT_EQ(b.signed_peers_count(), 1u);
  EXPECT_EQ(a.neighbours(), std::vector<PeerId>{world.peer_id(hosts[1])});
  EXPECT_EQ(b.neighbours(), std::vector<PeerId>{world.peer_id(hosts[0])});
}

// A node given its bootstrap peer by PeerId alone (no address) dials nothing until its catalog
// learns the peer's address, then joins it and discovers the network. Here the catalog learns it
// the two ways the real backend offers: an address hint the application inserts, or the peer's
// signed entry brought by a member of the network that reaches the node. (Neither backend can
// resolve a PeerId with no source at all: the simulator, like QUIC, dials addresses.)
TEST(DiscoveryApi, APeerIdOnlyBootstrapJoinsOnceTheCatalogKnowsTheAddress) {
  for (bool hint : {true, false}) {
    SCOPED_TRACE(hint ? "an inserted address hint" : "an entry learnt from a peer");
    World world({.seed = 39});
    auto hosts = add_discovery_nodes(world, 4);
    NodeSpec spec{.name = "newcomer"};
    spec.options.discovery = discovery::Config(test_network());
    spec.options.discovery.with_bootstrap(world.peer_id(hosts[0]));
    // One neighbour fills its view: once n2 has joined it, a join of n0 comes from the bootstrap
    // rule, not from the view's upkeep.
    spec.options.discovery.with_active_view(1, 2);
    const HostId newcomer = world.add_node(std::move(spec));
    auto& discovery = world.network(newcomer)->discovery();
    world.run_for(10s);
    EXPECT_EQ(discovery.peers_count(), 0u) << "nobody is known without an address";
    EXPECT_TRUE(discovery.neighbours().empty());
    ASSERT_TRUE(converged(world, hosts)) << "the others never heard of the newcomer";

    if (hint) {
      ASSERT_TRUE(discovery.insert(discovery::make_entry(
          test_network(), world.addr(hosts[0]), world.network(newcomer)->node().wall_now())));
    } else {
      world.network(hosts[2])->discovery().dial({world.addr(newcomer)});
    }
    hosts.push_back(newcomer);
    ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, 30s));
    const PeerId bootstrap = world.peer_id(hosts[0]);
    ASSERT_TRUE(world.run_until(
        [&] {
          const auto n = discovery.neighbours();
          return std::find(n.begin(), n.end(), bootstrap) != n.end();
        },
        10s))
        << "the bootstrap peer was never joined";
    EXPECT_TRUE(discovery.catalog().unsigned_entries().empty()) << "the signed entry replaces it";
  }
}

TEST(DiscoveryApi, SilentOrGarbageSpeakingPeersAreCut) {
  World world({.seed = 37});
  auto hosts = add_discovery_nodes(world, 3);
  ASSERT_TRUE(world.run_until([&] { return converged(world, hosts); }, 20s));
  // A link to the announce ALPN that never says anything is closed after the handshake timeout.
  auto silent =
      support::connect_now(world, hosts[1], world.addr(hosts[0]), discovery::kAnnounceAlpn);
  ASSERT_TRUE(silent.is_ok());
  support::Held quiet{std::make_unique<support::Recorder>(world), std::move(silent).value()};
  quiet.link->set_handler(quiet.rec.get());
  // One that sends garbage is closed at once with ProtocolViolation.
  auto noisy_link =
      support::connect_now(world, hosts[2], world.addr(hosts[0]), discovery::kSyncAlpn);
  ASSERT_TRUE(noisy_link.is_ok());
  support::Held noisy{std::make_unique<support::Recorder>(world), std::move(noisy_link).value()};
  noisy.link->set_handler(noisy.rec.get());
  ASSERT_TRUE(noisy.link->send(Bytes{0xff, 0xff, 0xff}).is_ok());
  world.run_for(1s);
  ASSERT_TRUE(noisy.rec->closed.has_value());
  EXPECT_EQ(noisy.rec->closed->code, env::close_code::kProtocolViolation);
  EXPECT_FALSE(quiet.rec->closed.has_value());
  world.run_for(discovery::DiscoveryMachine::kHandshakeTimeout);
  ASSERT_TRUE(quiet.rec->closed.has_value());
  EXPECT_EQ(quiet.rec->closed->code, env::close_code::kCancelled);
  // The node kept serving its real peers.
  EXPECT_TRUE(converged(world, hosts));
  EXPECT_GT(world.network(hosts[0])->discovery().stats().violations, 0u);
}

}  // namespace
}  // namespace smalti::sim
