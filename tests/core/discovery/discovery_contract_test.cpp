// The machine contract (tests/support/machine_contract.hpp) on DiscoveryMachine.
#include "smalti/discovery/discovery_machine.hpp"
#include "support/machine_contract.hpp"
#include "support/test_keys.hpp"

namespace smalti::discovery {

const NetworkId kNetwork = NetworkId::from_string("contract");
const WallTime kWall = WallTime::from_unix_nanos(1'767'225'600'000'000'000);

// The wall clock moves with `now` from the contract's start.
static WallTime wall_at(Instant now) {
  return kWall + (now - test_support::kContractStart);
}

struct DiscoveryContract {
  using Machine = DiscoveryMachine;

  static std::unique_ptr<Machine> make(Instant start) {
    const SecretKey key = test_support::test_key(1, 0x51);
    auto m = std::make_unique<Machine>(Config(kNetwork), key, PeerAddr{key.peer_id(), {"sim:1"}}, 1,
                                       /*effect_limit=*/64);
    m->start(start, wall_at(start));
    while (m->poll_effect()) {
    }
    return m;
  }
  // A new announce link that sends garbage: closed for the violation (a Close effect).
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    const PeerId peer{Digest::from_u64(1000 + i)};
    auto link = m.handle_accepted(now, wall_at(now), peer, Channel::kAnnounce);
    if (link) m.handle_frame(now, wall_at(now), *link, Bytes{0xff, 0xff});
  }
  // Announces, probes and purges are always scheduled once started.
  static void arm(Machine&, Instant) {}
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now, wall_at(now)); }
};

}  // namespace smalti::discovery

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(Discovery, MachineContract, smalti::discovery::DiscoveryContract);
}  // namespace smalti::test_support
