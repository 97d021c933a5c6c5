// The machine contract (tests/support/machine_contract.hpp) on RaftMachine.
#include "core/groups/raft_test_support.hpp"
#include "support/machine_contract.hpp"

namespace smalti::groups::test {

struct RaftContract {
  using Machine = RaftMachine;

  // A new member whose incarnation is durable, bonded with B and C.
  static std::unique_ptr<Machine> make(Instant start) {
    auto m = std::make_unique<Machine>(RaftOptions{kA, fast(), {}, 1, /*max_pending_effects=*/64},
                                       HardState{}, std::vector<LogEntry>{}, start);
    persist_all(*m, start, drain(*m));
    m->handle_peers(start, {{kB, false, kMb.incarnation}, {kC, false, kMc.incarnation}});
    drain(*m);
    return m;
  }
  // A pre-vote request: answered at once, and changes no durable state.
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    const Term asked = m.term() + 1 + static_cast<Term>(i % 3);
    m.handle_message(now, kB,
                     VoteRequest{Header{m.cluster(), asked, kMb.incarnation, 0}, {}, true});
  }
  // A follower's election timer is always armed.
  static void arm(Machine&, Instant) {}
  static void timeout(Machine& m, Instant now) {
    m.handle_timeout(now);
    // A durable store answers at once, so the machine moves on (sends held behind it leave).
    std::uint64_t token = 0;
    for (const auto& p : only<raft_effect::Persist>(drain(m))) token = std::max(token, p.token);
    if (token) m.handle_persisted(now, token);
  }
};

}  // namespace smalti::groups::test

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(Raft, MachineContract, smalti::groups::test::RaftContract);
}  // namespace smalti::test_support
