// BondMachine alone, fed by hand: the handshake both ways and each of its refusals, liveness
// (Ping, Pong, missed heartbeats, a deadline that moves once per heartbeat), refused sends,
// delivery without a copy, and the two ways a bond ends.
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
constexpr LinkToken kLinkToken = 7;

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

GroupMessage decoded(const effect::Send& send) {
  EXPECT_EQ(send.link, kLinkToken) << "a frame on another link";
  auto m = decode_group_message(send.frame);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : GroupMessage{};
}

// The one frame of `effects`, which must hold a T.
template <typename T>
T sent(const std::vector<BondEffect>& effects) {
  auto frames = only<effect::Send>(effects);
  EXPECT_EQ(frames.size(), 1u);
  if (frames.empty()) return T{};
  GroupMessage m = decoded(frames[0]);
  if (!std::holds_alternative<T>(m)) {
    ADD_FAILURE() << "the frame sent is not the one expected";
    return T{};
  }
  return std::get<T>(m);
}

// The single Close effect of `effects` (code 0 when there is none).
std::uint32_t closed_code(const std::vector<BondEffect>& effects) {
  auto closed = only<effect::Close>(effects);
  EXPECT_EQ(closed.size(), 1u);
  if (closed.empty()) return 0;
  EXPECT_EQ(closed[0].link, kLinkToken);
  return closed[0].code;
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
  BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
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
  BondMachine b = BondMachine::accept(config, kLinkToken, kA, link, hello, {}, kT0, 2);
  auto effects = drain(b);
  EXPECT_EQ(b.state(), BondMachine::State::kClosed);
  EXPECT_TRUE(only<effect::Send>(effects).empty()) << "answered a refused Hello";
  EXPECT_TRUE(only<bond_effect::Up>(effects).empty());
  return effects;
}

TEST(BondMachine, TheHandshakeBringsBothSidesUpWithTheRemotesFlagsAndBonds) {
  BondMachine a = BondMachine::initiate(config_of(kA, /*observer=*/true, 11), kLinkToken, kB, kLink,
                                        {kC}, kT0, 1);
  EXPECT_EQ(a.state(), BondMachine::State::kHandshake);
  const Hello hello = sent<Hello>(drain(a));
  EXPECT_EQ(hello.network, kNetwork);
  EXPECT_EQ(hello.group, kGroup);
  EXPECT_EQ(hello.proof, bond_proof(kKey, kLink, kA));
  EXPECT_TRUE(hello.observer);
  EXPECT_EQ(hello.incarnation, 11u);
  EXPECT_EQ(hello.bonds, std::vector<PeerId>{kC});

  BondMachine b =
      BondMachine::accept(config_of(kB, false, 22), kLinkToken, kA, kLink, hello, {kD}, kT0, 2);
  auto effects = drain(b);
  ASSERT_EQ(effects.size(), 2u);
  const auto* welcome_frame = std::get_if<effect::Send>(&effects[0]);
  ASSERT_NE(welcome_frame, nullptr) << "the Welcome goes out before the bond is reported up";
  const Welcome welcome = std::get<Welcome>(decoded(*welcome_frame));
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
  BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
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
    BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
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
  BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
  drain(a);
  a.handle_message(kT0, Ping{});
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<effect::Send>(effects).empty()) << "answered the Ping";
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  // A closed bond ignores what still arrives, the right Welcome included.
  a.handle_message(kT0, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
}

TEST(BondMachine, TheHandshakeTimesOut) {
  BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
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

TEST(BondMachine, NoteSentPostponesThePingWithoutMovingTheDeadline) {
  const ConsensusConfig c;
  BondMachine a = established();
  const Instant first_look = a.next_deadline();
  const Instant sent_at = kT0 + 300ms;
  a.note_sent(sent_at);
  a.handle_message(sent_at, Pong{});
  // Traffic does not move the deadline (a driver re-arms its timer once per heartbeat)...
  EXPECT_EQ(a.next_deadline(), first_look);
  // ...but at it nothing is due yet, and the next look is after the postponed Ping.
  a.handle_timeout(first_look);
  EXPECT_TRUE(drain(a).empty());
  EXPECT_GE(a.next_deadline(), sent_at + c.heartbeat_interval - c.heartbeat_jitter);
  a.invariants();
  a.handle_timeout(sent_at + c.heartbeat_interval);
  sent<Ping>(drain(a));
  a.invariants();
}

TEST(BondMachine, APingIsAnsweredWithAPongAndOtherMessagesAreDelivered) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, Ping{});
  sent<Pong>(drain(a));
  a.handle_message(kT0 + 20ms, Pong{});
  EXPECT_TRUE(drain(a).empty());
  a.handle_message(kT0 + 30ms, BondFormed{kC});
  auto delivered = only<effect::Deliver<GroupMessage>>(drain(a));
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].value, GroupMessage(BondFormed{kC}));
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
}

TEST(BondMachine, MissedHeartbeatsCloseTheBondAfterTheBondTimeout) {
  const Duration timeout = ConsensusConfig{}.bond_timeout();
  BondMachine a = established();
  a.handle_timeout(kT0 + timeout - 1ns);
  auto effects = drain(a);
  EXPECT_TRUE(only<effect::Close>(effects).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
  EXPECT_LE(a.next_deadline(), kT0 + timeout);
  a.handle_timeout(kT0 + timeout);
  EXPECT_EQ(closed_code(drain(a)), bond_close::kTimeout);
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);

  // Anything received restarts the count.
  BondMachine b = established();
  b.handle_message(kT0 + 1s, Pong{});
  b.handle_timeout(kT0 + timeout);
  EXPECT_TRUE(only<effect::Close>(drain(b)).empty());
  b.handle_timeout(kT0 + 1s + timeout);
  EXPECT_EQ(closed_code(drain(b)), bond_close::kTimeout);
}

TEST(BondMachine, ADepartureClosesTheBond) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, Departure{});
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kDeparted);
  EXPECT_TRUE(only<effect::Send>(effects).empty());
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
  const auto* frame = std::get_if<effect::Send>(&effects[0]);
  ASSERT_NE(frame, nullptr);
  EXPECT_TRUE(std::holds_alternative<Departure>(decoded(*frame)));
  const auto* closed = std::get_if<effect::Close>(&effects[1]);
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->code, bond_close::kDeparted);
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  a.depart(kT0 + 20ms);
  EXPECT_TRUE(drain(a).empty()) << "departed twice";

  // Before the bond is up there is no one to tell: only Closed.
  BondMachine b = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
  drain(b);
  b.depart(kT0);
  effects = drain(b);
  EXPECT_TRUE(only<effect::Send>(effects).empty());
  EXPECT_EQ(closed_code(effects), bond_close::kDeparted);
}

TEST(BondMachine, HandshakeMessagesOnAnEstablishedBondAreAViolation) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, hello_from(kB));
  auto effects = drain(a);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<effect::Deliver<GroupMessage>>(effects).empty());

  BondMachine b = established();
  b.handle_message(kT0 + 10ms, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  effects = drain(b);
  EXPECT_EQ(closed_code(effects), bond_close::kProtocolViolation);
  EXPECT_TRUE(only<bond_effect::Up>(effects).empty()) << "came up twice";
}

// The bond layer hands an AppendEntries up without copying it: the entries the driver decoded
// are the ones the Deliver effect holds.
TEST(BondMachine, AMessageIsDeliveredWithoutACopy) {
  BondMachine a = established();
  AppendEntries append{.header = Header{}, .prev = Cursor{1, 1}, .entries = {}, .round = 3};
  for (int i = 0; i < 3; ++i) append.entries.push_back(LogEntry{1, EntryKind::kCommand, encode(i)});
  GroupMessage message = RaftFrame{append};
  const void* entries =
      std::get<AppendEntries>(std::get<RaftFrame>(message).message).entries.data();
  a.handle_message(kT0 + 10ms, std::move(message));
  auto effects = drain(a);
  ASSERT_EQ(effects.size(), 1u);
  auto* deliver = std::get_if<effect::Deliver<GroupMessage>>(&effects[0]);
  ASSERT_NE(deliver, nullptr);
  const auto& got = std::get<AppendEntries>(std::get<RaftFrame>(deliver->value).message);
  EXPECT_EQ(got, append);
  EXPECT_EQ(static_cast<const void*>(got.entries.data()), entries) << "the entries were copied";
}

TEST(BondMachine, ARefusedHandshakeFrameEndsTheBondAtOnce) {
  BondMachine a = BondMachine::initiate(config_of(kA), kLinkToken, kB, kLink, {}, kT0, 1);
  auto hello = only<effect::Send>(drain(a));
  ASSERT_EQ(hello.size(), 1u);
  a.handle_send_refused(kT0 + 1ms, kLinkToken, hello[0].frame,
                        error(StatusCode::kUnavailable, "link closed"));
  EXPECT_EQ(closed_code(drain(a)), bond_close::kTimeout);
  EXPECT_EQ(a.state(), BondMachine::State::kClosed);
  EXPECT_EQ(a.refused_sends(), 1u);
  a.invariants();
}

TEST(BondMachine, ARefusedPingOrPongIsCountedAndTheBondStays) {
  BondMachine a = established();
  a.handle_message(kT0 + 10ms, Ping{});
  auto pong = only<effect::Send>(drain(a));
  ASSERT_EQ(pong.size(), 1u);
  a.handle_send_refused(kT0 + 11ms, kLinkToken, pong[0].frame,
                        error(StatusCode::kLimitExceeded, "send queue full"));
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.state(), BondMachine::State::kUp);
  EXPECT_EQ(a.refused_sends(), 1u);
  // A refusal reported for another link is not this bond's.
  a.handle_send_refused(kT0 + 12ms, kLinkToken + 1, pong[0].frame, Status::ok());
  EXPECT_EQ(a.refused_sends(), 1u);
  a.invariants();
}

TEST(BondMachine, PeerInputPastTheInputMarkIsDropped) {
  BondConfig config = config_of(kA);
  config.max_pending_effects = 8;
  BondMachine a = BondMachine::initiate(config, kLinkToken, kB, kLink, {}, kT0, 1);
  a.handle_message(kT0, Welcome{.proof = bond_proof(kKey, kLink, kB)});
  drain(a);
  for (int i = 0; i < 10; ++i) a.handle_message(kT0 + 1ms, Ping{});
  EXPECT_EQ(a.pending_effects(), 4u) << "Pongs past half the limit";
  EXPECT_EQ(a.dropped_inputs(), 6u);
}

}  // namespace
}  // namespace smalti::groups
