// discovery::Config::validate(): the defaults are valid, and each setting out of range is refused
// with kInvalidArgument naming it.
#include "smalti/discovery/config.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "smalti/network.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::discovery {
namespace {

TEST(DiscoveryConfig, TheDefaultsAreValid) {
  EXPECT_TRUE(Config(NetworkId::from_string("n")).validate().is_ok());
}

TEST(DiscoveryConfig, EachSettingOutOfRangeIsRefusedByName) {
  const std::vector<std::pair<const char*, std::function<void(Config&)>>> cases = {
      {"events_backlog", [](Config& c) { c.events_backlog = 0; }},
      {"purge_after", [](Config& c) { c.with_purge_after(Duration{0}); }},
      {"max_time_drift", [](Config& c) { c.with_max_time_drift(-1s); }},
      {"announce_interval", [](Config& c) { c.with_announce_interval(Duration{0}); }},
      {"announce_jitter", [](Config& c) { c.with_announce_jitter(1.0); }},
      {"announce_jitter", [](Config& c) { c.with_announce_jitter(-0.1); }},
      {"rtt_probe_interval", [](Config& c) { c.with_rtt_probe_interval(Duration{0}); }},
      {"max_probes_per_round", [](Config& c) { c.max_probes_per_round = 0; }},
      {"max_rtt", [](Config& c) { c.with_max_rtt(Duration{0}); }},
      {"active_view", [](Config& c) { c.with_active_view(0, 3); }},
      {"max_active_view", [](Config& c) { c.with_active_view(4, 3); }},
      {"ihave_interval", [](Config& c) { c.ihave_interval = Duration{0}; }},
      {"graft_timeout", [](Config& c) { c.graft_timeout = Duration{0}; }},
      {"join_backoff_min", [](Config& c) { c.join_backoff_min = Duration{0}; }},
      {"join_backoff_max", [](Config& c) { c.join_backoff_max = c.join_backoff_min / 2; }},
      {"max_entries", [](Config& c) { c.max_entries = 0; }},
  };
  for (const auto& [name, spoil] : cases) {
    Config c(NetworkId::from_string("n"));
    spoil(c);
    const Status s = c.validate();
    ASSERT_FALSE(s.is_ok()) << name;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
  }
}

TEST(DiscoveryConfig, ANetworkWithAnInvalidConfigIsNotCreated) {
  sim::World world({.seed = 3});
  const sim::HostId h = world.add_node({.name = "n"});
  NetworkOptions options;
  options.discovery = Config(NetworkId::from_string("n")).with_announce_jitter(2.0);
  auto net = Network::create(world.network(h)->node().env(), std::move(options));
  ASSERT_FALSE(net.is_ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument) << net.status().to_string();
}

}  // namespace
}  // namespace smalti::discovery
