// The machine contract (tests/support/machine_contract.hpp) on BondMachine.
#include "smalti/groups/bond_machine.hpp"
#include "support/machine_contract.hpp"

namespace smalti::groups {

namespace {
const Digest kContractKey = Digest::from_string("bond-contract-key");
const Digest kContractLink = Digest::from_string("bond-contract-link");
const PeerId kSelf{Digest::from_u64(1)};
const PeerId kRemote{Digest::from_u64(2)};
}  // namespace

struct BondContract {
  using Machine = BondMachine;

  // An acceptor whose bond is up (Welcome sent, Up reported).
  static std::unique_ptr<Machine> make(Instant start) {
    BondConfig config{.network = Digest::from_string("net"),
                      .group = Digest::from_string("group"),
                      .key_secret = kContractKey,
                      .self = kSelf,
                      .incarnation = 1,
                      .max_pending_effects = 32};
    Hello hello{.network = config.network,
                .group = config.group,
                .proof = bond_proof(kContractKey, kContractLink, kRemote),
                .incarnation = 2};
    auto m = std::make_unique<Machine>(
        Machine::accept(config, 1, kRemote, kContractLink, hello, {}, start, 9));
    SMALTI_ASSERT(m->state() == BondMachine::State::kUp);
    return m;
  }
  // A Ping: answered with a Pong.
  static void peer_input(Machine& m, Instant now, std::size_t) { m.handle_message(now, Ping{}); }
  // An up bond always has a deadline (its Ping).
  static void arm(Machine&, Instant) {}
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now); }
};

}  // namespace smalti::groups

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(Bond, MachineContract, smalti::groups::BondContract);
}  // namespace smalti::test_support
