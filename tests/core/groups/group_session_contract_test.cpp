// The machine contract (tests/support/machine_contract.hpp) on GroupSession.
#include "smalti/groups/group_session.hpp"
#include "support/machine_contract.hpp"

namespace smalti::groups {

namespace {
const PeerId kSelf{Digest::from_u64(2)};
const PeerId kLeader{Digest::from_u64(1)};
constexpr LinkToken kLeaderLink = 1;
}  // namespace

struct SessionContract {
  using Machine = GroupSession;

  // A follower bonded with its leader, with small limits.
  static std::unique_ptr<Machine> make(Instant start) {
    static const RaftLog kLog;
    auto m = std::make_unique<Machine>(
        SessionConfig{.self = kSelf, .first_link = 100, .max_pending_calls = 8, .max_links = 4},
        kLog, start);
    SMALTI_ASSERT(m->handle_hello(start, kLeaderLink, kLeader, true, true));
    m->handle_bond_up(start, kLeaderLink, {});
    m->handle_leader(start, kLeader);
    test_support::drain_all(*m);
    return m;
  }
  // A strong query forwarded by the leader to this follower: refused with a QueryAnswer.
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    m.handle_message(now, kLeaderLink, ForwardQuery{i + 1, encode(i)});
  }
  // A forwarded command waits for the leader until its forward timeout.
  static void arm(Machine& m, Instant now) {
    SMALTI_ASSERT(m.feed(now, {encode(std::uint64_t{1})}).is_ok());
  }
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now); }
};

}  // namespace smalti::groups

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(GroupSession, MachineContract, smalti::groups::SessionContract);
}  // namespace smalti::test_support
