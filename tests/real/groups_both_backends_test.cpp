// A 3-member key-value group on both backends: in the simulator and over real QUIC on
// loopback (one process, three nodes). It forms, commits from every member (forwarding to
// the leader), answers strong reads, loses its leader and goes on with the other two.
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "real/cluster.hpp"
#include "smalti/groups/groups.hpp"
#include "smalti/sim/kv_state_machine.hpp"

namespace smalti::real {
namespace {

using support::Backend;
using support::Cluster;
using Kv = sim::KvStateMachine;

class GroupsBothBackends : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    for (std::size_t i = 0; i < 3; ++i) {
      NetworkOptions o;
      o.discovery = discovery::Config(NetworkId::from_string("groups-both-backends"))
                        .with_announce_interval(1s)
                        .with_purge_after(30s);
      if (i > 0) o.discovery.with_bootstrap(cluster_.addr(0));
      cluster_.add(std::move(o));
      auto group = cluster_.net(i)
                       .groups()
                       .with_key(groups::GroupKey::from_secret("both-backends.kv"))
                       .with_state_machine(Kv{})
                       .with_consensus_config(groups::ConsensusConfig{}
                                                  .with_heartbeat_interval(100ms)
                                                  .with_heartbeat_jitter(30ms)
                                                  .with_election_timeout(600ms)
                                                  .with_election_timeout_jitter(300ms)
                                                  .with_bootstrap_delay(300ms)
                                                  .with_bootstrap_expect(2))
                       .join();
      ASSERT_TRUE(group.is_ok()) << group.status().to_string();
      groups_.emplace(i, std::move(group).value());
    }
  }
  void TearDown() override { groups_.clear(); }

  std::optional<std::size_t> leader() {
    for (auto& [i, g] : groups_) {
      if (g.is_leader()) return i;
    }
    return std::nullopt;
  }
  // Every member online, and all three voters (the founding configuration holds the founder
  // and the first member to vote for it; the leader then adds the third).
  bool formed() {
    for (auto& [i, g] : groups_) {
      if (!g.status().online || g.status().voters != 3) return false;
    }
    return true;
  }
  // Runs `execute(put)` on member i to completion.
  Result<groups::Index> put(std::size_t i, std::uint64_t key, std::uint64_t value) {
    std::optional<Result<groups::Index>> out;
    cluster_.net(i).spawn([](groups::Group<Kv>& g, sim::KvCommand c,
                             std::optional<Result<groups::Index>>& out) -> Task<void> {
      out = co_await g.execute(c);
    }(groups_.at(i), sim::KvCommand{key, value}, out));
    cluster_.run_until([&] { return out.has_value(); }, 20s);
    return out.value_or(error(StatusCode::kUnavailable, "no answer in 20 s"));
  }
  Result<std::uint64_t> strong_read(std::size_t i, std::uint64_t key) {
    std::optional<Result<std::uint64_t>> out;
    cluster_.net(i).spawn([](groups::Group<Kv>& g, std::uint64_t key,
                             std::optional<Result<std::uint64_t>>& out) -> Task<void> {
      auto r = co_await g.query(sim::KvQuery{key}, groups::Consistency::kStrong);
      if (r.is_ok()) {
        out = r->result;
      } else {
        out = r.status();
      }
    }(groups_.at(i), key, out));
    cluster_.run_until([&] { return out.has_value(); }, 20s);
    return out.value_or(error(StatusCode::kUnavailable, "no answer in 20 s"));
  }

  Cluster cluster_{GetParam()};
  std::map<std::size_t, groups::Group<Kv>> groups_;
};

TEST_P(GroupsBothBackends, FormsCommitsFromEveryMemberAndSurvivesItsLeader) {
  ASSERT_TRUE(cluster_.run_until([&] { return leader() && formed(); }, 30s));
  for (std::size_t i = 0; i < 3; ++i) {
    auto r = put(i, i, 100 + i);
    ASSERT_TRUE(r.is_ok()) << "member " << i << ": " << r.status().to_string();
  }
  for (std::size_t i = 0; i < 3; ++i) {
    auto read = strong_read((i + 1) % 3, i);
    ASSERT_TRUE(read.is_ok()) << read.status().to_string();
    EXPECT_EQ(*read, 100 + i);
  }

  const std::size_t old_leader = *leader();
  groups_.erase(old_leader);
  cluster_.crash(old_leader);
  ASSERT_TRUE(cluster_.run_until(
      [&] {
        if (!leader()) return false;
        for (auto& [i, g] : groups_) {
          if (!g.status().online) return false;
        }
        return true;
      },
      30s))
      << "the two members left elected no leader";
  const std::size_t other =
      (*leader() + 1) % 3 == old_leader ? (*leader() + 2) % 3 : (*leader() + 1) % 3;
  auto r = put(other, 7, 700);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto read = strong_read(*leader(), 7);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, 700u);
  auto earlier = strong_read(other, old_leader);
  ASSERT_TRUE(earlier.is_ok()) << earlier.status().to_string();
  EXPECT_EQ(*earlier, 100 + old_leader) << "a committed put was lost";
}

INSTANTIATE_TEST_SUITE_P(Backends, GroupsBothBackends,
                         ::testing::Values(Backend::kSim, Backend::kReal),
                         [](const auto& info) { return support::backend_name(info.param); });

}  // namespace
}  // namespace smalti::real
