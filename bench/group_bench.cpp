// A simulated 5-node key-value group under 1,000 commands per second with faults: virtual time
// simulated per second of wall time (DESIGN.md section 11: goal at least 1,000).
//
// Each member submits puts whether or not earlier ones finished (open loop, so the rate holds
// through leader changes): one every 5 ms (`/1`), or a batch of B every B x 5 ms through
// execute_many (`/B`), through a partition of the leader, a follower's crash and restart, the
// leader's crash and restart, and 1% message loss. `/0` submits nothing: the fixed cost of
// discovery (with its defaults), bonds, heartbeats and the faults. One iteration is one minute
// of virtual time from an empty world, formation included; building and freeing the world are
// not timed. A new world seed each iteration.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "smalti/groups/groups.hpp"
#include "smalti/sim/kv_state_machine.hpp"
#include "smalti/sim/world.hpp"

namespace {

using namespace smalti;
using namespace std::chrono_literals;
using KvGroup = groups::Group<sim::KvStateMachine>;

constexpr std::size_t kMembers = 5;
constexpr Duration kEvery = 5ms;  // per member and command: 5 x 200 = 1,000 commands per second
constexpr Duration kRun = 60s;

struct Counts {
  std::uint64_t submitted = 0;
  std::uint64_t committed = 0;
};

class GroupLoad {
 public:
  GroupLoad(std::uint64_t seed, std::size_t batch) : world_({.seed = seed}), batch_(batch) {
    for (std::size_t i = 0; i < kMembers; ++i) {
      sim::NodeSpec spec{.name = "g" + std::to_string(i)};
      spec.options.discovery = discovery::Config(NetworkId::from_string("smalti.bench.group"));
      if (i > 0) spec.options.discovery.with_bootstrap(world_.addr(hosts_[0]));
      const sim::HostId host = static_cast<sim::HostId>(world_.host_count());
      spec.setup = [this, host](Network& net) { join(host, net); };
      hosts_.push_back(world_.add_node(std::move(spec)));
    }
    world_.net().set_loss(0.01);
  }
  ~GroupLoad() { groups_.clear(); }

  void run() {
    at(10s, [this] {
      if (auto l = leader()) {
        std::vector<sim::HostId> rest;
        for (auto h : hosts_) {
          if (h != *l) rest.push_back(h);
        }
        world_.net().partition({*l}, rest);
      }
    });
    at(20s, [this] { world_.net().heal_all(); });
    at(25s, [this] { crash(hosts_[(leader().value_or(0) + 1) % kMembers]); });
    at(35s, [this] { restart_all(); });
    at(40s, [this] {
      if (auto l = leader()) crash(*l);
    });
    at(50s, [this] { restart_all(); });
    world_.run_until(Instant() + kRun);
  }
  const Counts& counts() const { return *counts_; }
  std::uint64_t frames() { return world_.net().stats().frames_delivered; }
  std::uint64_t events() const { return world_.events_processed(); }
  Duration virtual_time() const { return world_.now().since_origin(); }

 private:
  void join(sim::HostId host, Network& net) {
    groups_.erase(host);
    auto group = net.groups()
                     .with_key(groups::GroupKey::from_secret("bench.group"))
                     .with_state_machine(sim::KvStateMachine{})
                     .with_consensus_config(groups::ConsensusConfig{}.with_bootstrap_expect(3))
                     .join();
    SMALTI_ASSERT(group.is_ok(), "the bench group could not be joined");
    groups_.emplace(host, std::move(group).value());
    net.spawn(submit(host, net));
  }

  // Open loop: a batch of puts every batch_ x kEvery, each batch awaited by its own task.
  Task<void> submit(sim::HostId host, Network& net) {
    if (batch_ == 0) co_return;
    std::uint64_t value = 0;
    while (true) {
      co_await net.node().sleep(kEvery * static_cast<std::int64_t>(batch_));
      auto it = groups_.find(host);
      if (it == groups_.end()) co_return;
      std::vector<sim::KvCommand> commands;
      for (std::size_t i = 0; i < batch_; ++i, ++value) commands.push_back({value % 8, value});
      counts_->submitted += batch_;
      net.spawn(put(&it->second, std::move(commands), counts_));
    }
  }
  static Task<void> put(KvGroup* group, std::vector<sim::KvCommand> commands,
                        std::shared_ptr<Counts> counts) {
    const std::size_t n = commands.size();
    auto r = co_await group->execute_many(std::move(commands));
    if (r.is_ok()) counts->committed += n;
  }

  std::optional<sim::HostId> leader() {
    for (auto& [host, group] : groups_) {
      if (world_.network(host) && group.is_leader()) return host;
    }
    return std::nullopt;
  }
  void crash(sim::HostId host) {
    if (!world_.network(host)) return;
    groups_.erase(host);
    world_.crash(host);
  }
  void restart_all() {
    for (auto h : hosts_) {
      if (!world_.network(h)) world_.restart(h);
    }
  }
  template <typename F>
  void at(Duration when, F fault) {
    world_.run_until(Instant() + when);
    fault();
  }

  sim::World world_;
  std::size_t batch_;
  std::vector<sim::HostId> hosts_;
  std::map<sim::HostId, KvGroup> groups_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

void BM_GroupUnderLoadWithFaults(benchmark::State& state) {
  std::uint64_t seed = 1;
  double virtual_seconds = 0;
  Counts total;
  std::uint64_t frames = 0;
  std::uint64_t events = 0;
  for (auto _ : state) {
    // Building the world (five identities) and freeing it are set-up, not simulation: untimed.
    state.PauseTiming();
    auto load = std::make_unique<GroupLoad>(seed++, static_cast<std::size_t>(state.range(0)));
    state.ResumeTiming();
    load->run();
    state.PauseTiming();
    frames += load->frames();
    events += load->events();
    virtual_seconds += static_cast<double>(load->virtual_time().count()) / 1e9;
    total.submitted += load->counts().submitted;
    total.committed += load->counts().committed;
    load.reset();
    state.ResumeTiming();
  }
  state.counters["virtual_seconds_per_wall_second"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
  if (state.range(0) == 0) return;  // the idle baseline has no commands to count
  if (total.committed == 0) state.SkipWithError("the group committed nothing");
  state.counters["commands_per_virtual_second"] =
      static_cast<double>(total.committed) / virtual_seconds;
  state.counters["frames_per_command"] =
      static_cast<double>(frames) / static_cast<double>(total.committed);
  state.counters["events_per_command"] =
      static_cast<double>(events) / static_cast<double>(total.committed);
  state.counters["committed_fraction"] =
      static_cast<double>(total.committed) / static_cast<double>(total.submitted);
}
BENCHMARK(BM_GroupUnderLoadWithFaults)
    ->Arg(1)
    ->Arg(20)
    ->Arg(200)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0);

}  // namespace

BENCHMARK_MAIN();
