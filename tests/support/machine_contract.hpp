// The machine contract test (core/include/smalti/runtime/machine.hpp), written once and run on
// every protocol machine. Each machine's test folder instantiates it with an adapter:
//
//   struct PingContract {
//     using Machine = ping::PingMachine;
//     // A machine whose effect limit is small enough to fill quickly (a few hundred at most).
//     static std::unique_ptr<Machine> make(Instant start);
//     // Input number `i` from a peer; when the machine admits it, it makes at least one effect.
//     static void peer_input(Machine& m, Instant now, std::size_t i);
//     // Brings the machine to a state with a finite next_deadline().
//     static void arm(Machine& m, Instant now);
//     // The machine's timeout input.
//     static void timeout(Machine& m, Instant now);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Ping, MachineContract, PingContract);
//
// What every machine must show:
//   - an input whose `now` is earlier than the last one is refused (a programmer error);
//   - the effect queue is bounded: peer input that finds it at its input mark is dropped and
//     counted, the queue never passes its limit, and once pulled the machine takes input again;
//   - invariants() runs after every input the shared effect loop drives, and holds; the loop
//     keeps the driver's one timer at the machine's next_deadline();
//   - the deadline is honoured: handle_timeout at the deadline leaves a later one.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>

#include "core/runtime/fake_executor.hpp"
#include "smalti/runtime/detail/effect_loop.hpp"
#include "smalti/runtime/machine.hpp"

namespace smalti::test_support {

inline constexpr Instant kContractStart = Instant::from_nanos(1'000'000'000);

// Forwards to a machine and counts invariants() calls: what run_machine does with it shows.
template <typename M>
class CountingMachine {
 public:
  using EffectType = typename M::EffectType;
  explicit CountingMachine(M& machine) : machine_(machine) {}
  std::optional<EffectType> poll_effect() { return machine_.poll_effect(); }
  Instant next_deadline() const { return machine_.next_deadline(); }
  std::size_t pending_effects() const { return machine_.pending_effects(); }
  std::size_t effect_limit() const { return machine_.effect_limit(); }
  std::uint64_t dropped_inputs() const { return machine_.dropped_inputs(); }
  void invariants() const {
    ++checks_;
    machine_.invariants();
  }
  std::size_t checks() const { return checks_; }

 private:
  M& machine_;
  mutable std::size_t checks_ = 0;
};

template <typename M>
void drain_all(M& machine) {
  while (machine.poll_effect()) {
  }
}

template <typename Adapter>
class MachineContract : public ::testing::Test {};
TYPED_TEST_SUITE_P(MachineContract);

TYPED_TEST_P(MachineContract, MeetsTheConcept) {
  using Machine = typename TypeParam::Machine;
  static_assert(ProtocolMachine<Machine>, "every protocol machine meets ProtocolMachine");
  auto m = TypeParam::make(kContractStart);
  EXPECT_GE(m->effect_limit(), 2u);
  EXPECT_EQ(m->dropped_inputs(), 0u);
  m->invariants();
}

TYPED_TEST_P(MachineContract, TimeGoingBackwardsIsRefused) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Instant later = kContractStart + std::chrono::seconds(10);
  EXPECT_DEATH(
      {
        auto m = TypeParam::make(kContractStart);
        TypeParam::timeout(*m, later);
        TypeParam::timeout(*m, later - Duration(1));
      },
      "time went backwards");
  EXPECT_DEATH(
      {
        auto m = TypeParam::make(kContractStart);
        TypeParam::timeout(*m, later);
        TypeParam::peer_input(*m, later - Duration(1), 0);
      },
      "time went backwards");
  // Equal times are fine.
  auto m = TypeParam::make(kContractStart);
  TypeParam::timeout(*m, later);
  TypeParam::peer_input(*m, later, 0);
  TypeParam::timeout(*m, later);
  m->invariants();
}

TYPED_TEST_P(MachineContract, TheEffectQueueIsBounded) {
  auto m = TypeParam::make(kContractStart);
  const std::size_t limit = m->effect_limit();
  ASSERT_LE(limit, 4096u) << "the adapter should make a machine with a small effect limit";
  const Instant now = kContractStart + std::chrono::seconds(1);
  std::size_t most = 0;
  for (std::size_t i = 0; i < 4 * limit; ++i) {
    TypeParam::peer_input(*m, now, i);
    ASSERT_LE(m->pending_effects(), limit);
    most = std::max(most, m->pending_effects());
  }
  m->invariants();
  EXPECT_GE(most, limit / 2) << "nothing filled the queue: the adapter's input makes no effect";
  EXPECT_GT(m->dropped_inputs(), 0u) << "input past the input mark was taken";
  // Once the driver pulls, the machine takes input again.
  drain_all(*m);
  const std::uint64_t dropped = m->dropped_inputs();
  TypeParam::peer_input(*m, now, 4 * limit);
  EXPECT_EQ(m->dropped_inputs(), dropped);
  m->invariants();
}

TYPED_TEST_P(MachineContract, TheEffectLoopChecksInvariantsAndKeepsTheDeadline) {
  FakeClock clock;
  FakeExecutor executor(clock);
  auto m = TypeParam::make(kContractStart);
  CountingMachine counted(*m);
  DeadlineTimer timer(executor, [] {});
  Instant now = kContractStart;
  TypeParam::arm(*m, now);
  for (std::size_t i = 0; i < 32; ++i) {
    const std::size_t before = counted.checks();
    run_machine(counted, timer, [](auto&&) {});
    EXPECT_EQ(counted.checks(), before + 1);
    EXPECT_EQ(m->pending_effects(), 0u);
    EXPECT_EQ(timer.armed_at(), m->next_deadline());
    now = now + std::chrono::milliseconds(7);
    if (i % 3 == 2) {
      TypeParam::timeout(*m, now);
    } else {
      TypeParam::peer_input(*m, now, i);
    }
  }
}

TYPED_TEST_P(MachineContract, TheDeadlineIsHonoured) {
  auto m = TypeParam::make(kContractStart);
  TypeParam::arm(*m, kContractStart);
  drain_all(*m);
  Instant deadline = m->next_deadline();
  ASSERT_NE(deadline, Instant::max()) << "arm() left no deadline";
  for (int round = 0; round < 16 && deadline != Instant::max(); ++round) {
    const Instant at = std::max(deadline, m->last_input());
    TypeParam::timeout(*m, at);
    drain_all(*m);
    m->invariants();
    EXPECT_GT(m->next_deadline(), at) << "the work due at the deadline was not done";
    deadline = m->next_deadline();
  }
}

REGISTER_TYPED_TEST_SUITE_P(MachineContract, MeetsTheConcept, TimeGoingBackwardsIsRefused,
                            TheEffectQueueIsBounded,
                            TheEffectLoopChecksInvariantsAndKeepsTheDeadline,
                            TheDeadlineIsHonoured);

}  // namespace smalti::test_support
