// BondMachine alone, fed by hand: the handshake both ways and each of its refusals, liveness
// (Ping, Pong, missed heartbeats), and the two ways a bond ends.
#include "smalti/groups/bond_machine.hpp"

#include <gtest/gtest.h>

namespace smalti::groups {
namespace {

const NetworkId kNetwork = Digest::from_string("bond-test-net");
const GroupId kGroup = Digest::from_string("bond-test-group");
const Digest kKey = Digest::from_string("bond-test-key");
const Digest kLink = Digest::from_string("link-1");
const Digest kOtherLink = Digest::from_string("link-2");
const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};
const PeerId kC{Digest::from_u64(3)};
const PeerId kD{Digest::from_u64(4)};
const Instant kT0 = Instant::from_nanos(1'000'000'000);

BondConfig config_of(const PeerId& self, bool observer = false, std::uint64_t incarnation = 1) {
  return BondConfig{.network = kNetwork,
                    .group = kGroup,
                    .key_secret = kKey,
                    .self = self,
                    .observer = observer,
                    .incarnation = incarnation,
                    .consensus = ConsensusConfig{},
                    .handshake_timeout = 2s};
}

std::vector<BondEffect> drain(BondMachine& m) {
  std::vector<BondEffect> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

template <typename T>
std::vector<T> only(const std::vector<BondEffect>& effects) {
  std::vector<T> out;
  for (const auto& e : effects) {
    if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
  }
  return out;
}

// The one frame of `effects`, which must hold a T.
template <typename T>
T sent(const std::vector<BondEffect>& effects) {
  auto frames = only<bond_effect::SendFrame>(effects);
  EXPECT_EQ(frames.size(), 1u);
  if (frames.empty() || !std::holds_alternative<T>(frames[0].message)) {
    ADD_FAILURE() << "the frame sent is not the one expected";
    return T{};
  }
  return std::get<T>(frames[0].message);
}

// The single Closed effect of `effects` (code 0 when there is none).
std::uint32_t closed_code(const std::vector<BondEffect>& effects) {
  auto closed = only<bond_effect::Closed>(effects);
  EXPECT_EQ(closed.size(), 1u);
  return closed.empty() ? 0 : closed[0].code;
}

Hello hello_from(const PeerId& sender, const Digest& key = kKey, const Digest& link = kLink) {
  return Hello{.network = kNetwork,
               .group = kGroup,
               .proof = bond_proof(key, link, sender),
               .incarnation = 1,
               .bonds = {}};
}

// A's initiated bond to B, up at kT0, every effect drained.
BondMachine established() {
  BondMachine a = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
  a.handle_message(kT0, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
  drain(a);
  return a;
}

// B accepting `hello` from A on `link`, with B's own key `key`.
std::vector<BondEffect> accept_effects(const Hello& hello, const Digest& key = kKey,
                                       const Digest& link = kLink) {
  BondConfig config = config_of(kB);
  config.key_secret = key;
  BondMachine b = BondMachine::accept(config, kA, link, hello, {}, kT0, 2);
  auto effects = drain(b);
  EXPECT_EQ(b.state(), BondMachine::State::kClosed);
  EXPECT_TRUE(only<bond_effect::SendFrame>(effects).empty()) << "answered a refused Hello";
  EXPECT_TRUE(only<bond_effect::Up>(effects).empty());
  return effects;
}

TEST(BondMachine, TheHandshakeBringsBothSidesUpWithTheRemotesFlagsAndBonds) {
  BondMachine a =
      BondMachine::initiate(config_of(kA, /*observer=*/true, 11), kB, kLink, {kC}, kT0, 1);
  EXPECT_EQ(a.state(), BondMachine::State::kHandshake);
  const Hello hello = sent<Hello>(drain(a));
  EXPECT_EQ(hello.network, kNetwork);
  EXPECT_EQ(hello.group, kGroup);
  EXPECT_EQ(hello.proof, bond_proof(kKey, kLink, kA));
  EXPECT_TRUE(hello.observer);
  EXPECT_EQ(hello.incarnation, 11u);
  EXPECT_EQ(hello.bonds, std::vector<PeerId>{kC});

  BondMachine b = BondMachine::accept(config_of(kB, false, 22), kA, kLink, hello, {kD}, kT0, 2);
  auto effects = drain(b);
  ASSERT_EQ(effects.size(), 2u);
  const auto* welcome_frame = std::get_if<bond_effect::SendFrame>(&effects[0]);
  ASSERT_NE(welcome_frame, nullptr) << "the Welcome goes out before the bond is reported up";
  const Welcome welcome = std::get<Welcome>(welcome_frame->message);
  EXPECT_EQ(welcome.proof, bond_proof(kKey, kLink, kB));
  EXPECT_FALSE(welcome.observer);
  EXPECT_EQ(welcome.incarnation, 22u);
  const auto* b_up = std::get_if<bond_effect::Up>(&effects[1]);
  ASSERT_NE(b_up, nullptr);
  EXPECT_TRUE(b_up->observer);
  EXPECT_EQ(b_up->incarnation, 11u);
  EXPECT_EQ(b_up->bonds, std::vector<PeerId>{kC});
  EXPECT_EQ(b.state(), BondMachine::State::kUp);
  EXPECT_TRUE(b.remote_observer());
  EXPECT_EQ(b.remote(), kA);

  a.handle_message(kT0 + 5ms, welcome);
  auto a_ups = only<bond_effect::Up>(drain(a));
  ASSERT_EQ(a_ups.size(), 1u);
  EXPECT_FALSE(a_ups[0].observer);
  EXPECT_EQ(a_ups[0].incarnation, 22u);
  EXPECT_EQ(a_ups[0].bonds, std::vector<PeerId>{kD});
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
  EXPECT_FALSE(a.remote_observer());
  EXPECT_EQ(a.remote_incarnation(), 22u);
}

TEST(BondMachine, AWrongKeyIsAnInvalidProofOnEitherSide) {
  const Digest other_key = Digest::from_string("another-key");
  // The acceptor knows another key than the initiator.
  EXPECT_EQ(closed_code(accept_effects(hello_from(kA), other_key)), bond_close::kInvalidProof);
  // The initiator gets a Welcome made with another key.
  BondMachine a = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
  drain(a);
  a.handle_message(kT0, Welcome{.proof = bond_proof(other_key, kLink, kB)});
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kInvalidProof);
  EXPECT_TRUE(only<bond_effect::Up>(effects).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
}

TEST(BondMachine, AProofIsBoundToItsConnectionAndItsSender) {
  // A Hello recorded on one connection, replayed on another.
  EXPECT_EQ(closed_code(accept_effects(hello_from(kA, kKey, kLink), kKey, kOtherLink)),
            bond_close::kInvalidProof);
  // C's proof presented on A's connection.
  EXPECT_EQ(closed_code(accept_effects(hello_from(kC))), bond_close::kInvalidProof);
  // A Welcome replayed from another connection, and A's own proof reflected back at it.
  for (const Digest& proof : {bond_proof(kKey, kOtherLink, kB), bond_proof(kKey, kLink, kA)}) {
    BondMachine a = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
    drain(a);
    a.handle_message(kT0, Welcome{.proof = proof});
    EXPECT_EQ(closed_code(drain(a)), bond_close::kInvalidProof);
  }
}

TEST(BondMachine, AnotherNetworkOrGroupIsRefusedWithItsCode) {
  Hello other_network = hello_from(kA);
  other_network.network = Digest::from_string("another-net");
  EXPECT_EQ(closed_code(accept_effects(other_network)), bond_close::kDifferentNetwork);
  Hello other_group = hello_from(kA);
  other_group.group = Digest::from_string("another-group");
  EXPECT_EQ(closed_code(accept_effects(other_group)), bond_close::kGroupNotFound);
}

TEST(BondMachine, AnythingButWelcomeDuringTheHandshakeIsAViolation) {
  BondMachine a = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
  drain(a);
  a.handle_message(kT0, Ping{});
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<bond_effect::SendFrame>(effects).empty()) << "answered the Ping";
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  // A closed bond ignores what still arrives, the right Welcome included.
  a.handle_message(kT0, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
}

TEST(BondMachine, TheHandshakeTimesOut) {
  BondMachine a = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
  drain(a);
  EXPECT_EQ(a.next_deadline(), kT0 + 2s);
  a.handle_timeout(kT0 + 2s - 1ns);
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kHandshake);
  a.handle_timeout(kT0 + 2s);
  EXPECT_EQ(closed_code(drain(a)), bond_close::kTimeout);
  EXPECT_EQ(a.next_deadline(), Instant::max());
}

TEST(BondMachine, APingGoesOutAfterTheHeartbeatIntervalWithoutSends) {
  const ConsensusConfig c;
  BondMachine a = established();
  // heartbeat_interval minus a jitter in [0, heartbeat_jitter].
  EXPECT_GE(a.next_deadline(), kT0 + c.heartbeat_interval - c.heartbeat_jitter);
  EXPECT_LE(a.next_deadline(), kT0 + c.heartbeat_interval);
  a.handle_timeout(kT0 + c.heartbeat_interval - c.heartbeat_jitter - 1ns);
  EXPECT_TRUE(drain(a).empty());
  a.handle_timeout(kT0 + c.heartbeat_interval);
  auto effects = drain(a);
  ASSERT_EQ(effects.size(), 1u);
  sent<Ping>(effects);
  EXPECT_GT(a.next_deadline(), kT0 + c.heartbeat_interval) << "the next Ping is not rescheduled";
}

TEST(BondMachine, NoteSentPostponesThePing) {
  const ConsensusConfig c;
  BondMachine a = established();
  const Instant sent_at = kT0 + 300ms;
  a.note_sent(sent_at);
  EXPECT_GE(a.next_deadline(), sent_at + c.heartbeat_interval - c.heartbeat_jitter);
  // Without the note a Ping would be due here (see the test above).
  a.handle_timeout(kT0 + c.heartbeat_interval);
  EXPECT_TRUE(drain(a).empty());
  a.handle_timeout(sent_at + c.heartbeat_interval);
  sent<Ping>(drain(a));
}

TEST(BondMachine, APingIsAnsweredWithAPongAndOtherMessagesAreDelivered) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, Ping{});
  sent<Pong>(drain(a));
  a.handle_message(kT0 + 20ms, Pong{});
  EXPECT_TRUE(drain(a).empty());
  a.handle_message(kT0 + 30ms, BondFormed{kC});
  auto delivered = only<bond_effect::Deliver>(drain(a));
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].message, GroupMessage(BondFormed{kC}));
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
}

TEST(BondMachine, MissedHeartbeatsCloseTheBondAfterTheBondTimeout) {
  const Duration timeout = ConsensusConfig{}.bond_timeout();
  BondMachine a = established();
  a.handle_timeout(kT0 + timeout - 1ns);
  auto effects = drain(a);
  EXPECT_TRUE(only<bond_effect::Closed>(effects).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
  EXPECT_LE(a.next_deadline(), kT0 + timeout);
  a.handle_timeout(kT0 + timeout);
  EXPECT_EQ(closed_code(drain(a)), bond_close::kTimeout);
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);

  // Anything received restarts the count.
  BondMachine b = established();
  b.handle_message(kT0 + 1s, Pong{});
  b.handle_timeout(kT0 + timeout);
  EXPECT_TRUE(only<bond_effect::Closed>(drain(b)).empty());
  b.handle_timeout(kT0 + 1s + timeout);
  EXPECT_EQ(closed_code(drain(b)), bond_close::kTimeout);
}

TEST(BondMachine, ADepartureClosesTheBond) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, Departure{});
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kDeparted);
  EXPECT_TRUE(only<bond_effect::SendFrame>(effects).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  EXPECT_EQ(a.next_deadline(), Instant::max());
  a.handle_message(kT0 + 20ms, Ping{});
  a.handle_timeout(kT0 + 1h);
  EXPECT_TRUE(drain(a).empty()) << "a closed bond still acts";
}

TEST(BondMachine, DepartSendsDepartureThenCloses) {
  BondMachine a = established();
  a.depart(kT0 + 10ms);
  auto effects = drain(a);
  ASSERT_EQ(effects.size(), 2u);
  const auto* frame = std::get_if<bond_effect::SendFrame>(&effects[0]);
  ASSERT_NE(frame, nullptr);
  EXPECT_TRUE(std::holds_alternative<Departure>(frame->message));
  const auto* closed = std::get_if<bond_effect::Closed>(&effects[1]);
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->code, bond_close::kDeparted);
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  a.depart(kT0 + 20ms);
  EXPECT_TRUE(drain(a).empty()) << "departed twice";

  // Before the bond is up there is no one to tell: only Closed.
  BondMachine b = BondMachine::initiate(config_of(kA), kB, kLink, {}, kT0, 1);
  drain(b);
  b.depart(kT0);
  effects = drain(b);
  EXPECT_TRUE(only<bond_effect::SendFrame>(effects).empty());
  EXPECT_EQ(closed_code(effects), bond_close::kDeparted);
}

TEST(BondMachine, HandshakeMessagesOnAnEstablishedBondAreAViolation) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, hello_from(kB));
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<bond_effect::Deliver>(effects).empty());

  BondMachine b = established();
  b.handle_message(kT0 + 10ms, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  effects = drain(b);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<bond_effect::Up>(effects).empty()) << "came up twice";
}

}  // namespace
}  // namespace smalti::groups
