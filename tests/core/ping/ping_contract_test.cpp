// The machine contract (tests/support/machine_contract.hpp) on PingMachine.
#include "smalti/ping/ping_machine.hpp"
#include "smalti/ping/ping_messages.hpp"
#include "support/machine_contract.hpp"

namespace smalti::ping {

const PeerId kPeer{Digest::from_u64(7)};

struct PingContract {
  using Machine = PingMachine;
  // Inbound requests come on the link make() accepted, which is the machine's first.
  static constexpr LinkToken kInbound = 1;

  static std::unique_ptr<Machine> make(Instant start) {
    auto m = std::make_unique<Machine>(Config{.max_outstanding = 8, .max_pending_effects = 64});
    SMALTI_ASSERT(m->handle_accepted(start, kPeer) == kInbound);
    return m;
  }
  // A request: answered with a Send.
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    m.handle_frame(now, kInbound, encode(Message{Request{i}}));
  }
  // A ping in flight: due at its timeout.
  static void arm(Machine& m, Instant now) {
    SMALTI_ASSERT(m.start(now, PeerAddr{kPeer, {"sim:7"}}).is_ok());
  }
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now); }
};

}  // namespace smalti::ping

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(Ping, MachineContract, smalti::ping::PingContract);
}  // namespace smalti::test_support
