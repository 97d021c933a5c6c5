// GroupSession alone, fed by hand: one test per rule of where a call goes and how it ends, on
// both sides of forwarding, and of dialling, duplicate links and founding eligibility.
#include "smalti/groups/group_session.hpp"

#include <gtest/gtest.h>

namespace smalti::groups {
namespace {

const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};  // this member, unless a test says otherwise
const PeerId kC{Digest::from_u64(3)};
const PeerId kD{Digest::from_u64(4)};
const Instant kT0 = Instant::from_nanos(1'000'000'000);
constexpr LinkToken kFirstDial = 1000;
constexpr LinkToken kLinkA = 1, kLinkC = 3, kLinkD = 4;

PeerAddr addr(const PeerId& p) {
  return PeerAddr{p, {"sim:" + p.key.to_hex().substr(0, 4)}};
}

std::vector<SharedBytes> commands(int n) {
  std::vector<SharedBytes> out;
  for (int i = 0; i < n; ++i) out.push_back(encode(static_cast<std::uint64_t>(i)));
  return out;
}

class GroupSessionRules : public ::testing::Test {
 protected:
  explicit GroupSessionRules(const PeerId& self = kB) { reset(self); }
  void reset(const PeerId& self, std::size_t max_calls = 64) {
    config_ = SessionConfig{.self = self,
                            .consensus = ConsensusConfig{},
                            .handshake_timeout = 2s,
                            .redial_after = 1s,
                            .first_link = kFirstDial,
                            .max_pending_calls = max_calls,
                            .max_links = 8};
    s_ = std::make_unique<GroupSession>(config_, log_, kT0);
    now_ = kT0;
  }

  std::vector<SessionEffect> drain() {
    std::vector<SessionEffect> out;
    while (auto e = s_->poll_effect()) out.push_back(std::move(*e));
    s_->invariants();
    return out;
  }
  template <typename T>
  static std::vector<T> only(const std::vector<SessionEffect>& effects) {
    std::vector<T> out;
    for (const auto& e : effects) {
      if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  // The one effect of `effects`, which must be a T.
  template <typename T>
  static T one(const std::vector<SessionEffect>& effects) {
    EXPECT_EQ(effects.size(), 1u);
    auto got = only<T>(effects);
    if (got.size() != 1) {
      ADD_FAILURE() << "not the effect expected";
      return T{};
    }
    return got[0];
  }
  // The message of the one Send of `effects`, on `link`.
  template <typename T>
  static T sent_on(const std::vector<SessionEffect>& effects, LinkToken link) {
    auto sends = only<effect::Send>(effects);
    EXPECT_EQ(sends.size(), 1u);
    if (sends.empty()) return T{};
    EXPECT_EQ(sends[0].link, link);
    auto m = decode_group_message(sends[0].frame);
    if (!m.is_ok() || !std::holds_alternative<T>(*m)) {
      ADD_FAILURE() << "not the message expected";
      return T{};
    }
    return std::get<T>(*m);
  }

  // An accepted link from `peer`, up.
  void bond(LinkToken link, const PeerId& peer) {
    ASSERT_TRUE(s_->handle_hello(now_, link, peer, true, true));
    s_->handle_bond_up(now_, link, {});
    drain();
  }
  // A follower of `leader`, bonded with it on `link`.
  void follow(const PeerId& leader, LinkToken link) {
    bond(link, leader);
    s_->handle_leader(now_, leader);
    drain();
  }
  void lead() {
    s_->handle_leader(now_, config_.self);
    drain();
  }
  void later(Duration d) { now_ = now_ + d; }
  void append(Term term, int n) {
    for (int i = 0; i < n; ++i) log_.append(LogEntry{term, EntryKind::kCommand, encode(i)});
  }

  RaftLog log_;
  SessionConfig config_;
  std::unique_ptr<GroupSession> s_;
  Instant now_ = kT0;
};

// ---- calls: where they go ------------------------------------------------------------------

TEST_F(GroupSessionRules, OnTheLeaderCommandsAreProposedAndTheirPositionAnswersAFeed) {
  lead();
  auto call = s_->feed(now_, commands(2));
  ASSERT_TRUE(call.is_ok());
  auto propose = one<session_effect::Propose>(drain());
  EXPECT_EQ(propose.call, *call);
  EXPECT_EQ(propose.commands.size(), 2u);
  s_->handle_proposed(now_, *call, Cursor{3, 7});
  auto done = one<session_effect::FeedDone>(drain());
  EXPECT_EQ(done.call, *call);
  ASSERT_TRUE(done.result.is_ok());
  EXPECT_EQ(*done.result, (Cursor{3, 7}));
  EXPECT_EQ(s_->pending_calls(), 0u);
}

TEST_F(GroupSessionRules, AFollowerForwardsToTheLeadersBondAndTheAnswerEndsTheCall) {
  follow(kA, kLinkA);
  auto call = s_->feed(now_, commands(3));
  ASSERT_TRUE(call.is_ok());
  auto forwarded = sent_on<ForwardCommands>(drain(), kLinkA);
  EXPECT_EQ(forwarded.request, *call);
  EXPECT_EQ(forwarded.commands.size(), 3u);
  EXPECT_EQ(s_->next_deadline(), now_ + ConsensusConfig{}.forward_timeout);
  later(10ms);
  s_->handle_message(now_, kLinkA, CommandsAccepted{*call, true, Cursor{2, 9}});
  auto done = one<session_effect::FeedDone>(drain());
  ASSERT_TRUE(done.result.is_ok());
  EXPECT_EQ(*done.result, (Cursor{2, 9}));
  EXPECT_EQ(s_->next_deadline(), Instant::max());
}

TEST_F(GroupSessionRules, WithNoLeaderKnownOrReachableACallFailsAtOnce) {
  auto r = s_->feed(now_, commands(1));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  s_->handle_leader(now_, kA);  // known, but no bond with it
  EXPECT_EQ(s_->execute(now_, commands(1)).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s_->query(now_, encode(1), true).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(s_->pending_calls(), 0u);
}

TEST_F(GroupSessionRules, BadCallsAreRefusedAndCallsAreBounded) {
  reset(kB, /*max_calls=*/2);
  lead();
  EXPECT_EQ(s_->feed(now_, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s_->feed(now_, commands(kMaxEntriesPerAppend + 1)).status().code(),
            StatusCode::kLimitExceeded);
  ASSERT_TRUE(s_->feed(now_, commands(1)).is_ok());
  ASSERT_TRUE(s_->query(now_, encode(1), false).is_ok());
  EXPECT_EQ(s_->feed(now_, commands(1)).status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(s_->query(now_, encode(1), false).status().code(), StatusCode::kLimitExceeded);
}

// ---- calls: how forwarded ones fail ------------------------------------------------------

TEST_F(GroupSessionRules, AForwardedCallFailsAtItsTimeout) {
  follow(kA, kLinkA);
  auto feed = s_->feed(now_, commands(1));
  later(100ms);
  auto query = s_->query(now_, encode(5), true);
  ASSERT_TRUE(feed.is_ok() && query.is_ok());
  drain();
  const ConsensusConfig c;
  EXPECT_EQ(s_->next_deadline(), kT0 + c.forward_timeout);
  s_->handle_timeout(kT0 + c.forward_timeout - 1ns);
  EXPECT_TRUE(drain().empty());
  s_->handle_timeout(kT0 + c.forward_timeout);
  auto feed_done = one<session_effect::FeedDone>(drain());
  EXPECT_EQ(feed_done.call, *feed);
  EXPECT_EQ(feed_done.result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s_->next_deadline(), kT0 + 100ms + c.query_timeout);
  s_->handle_timeout(kT0 + 100ms + c.query_timeout);
  auto query_done = one<session_effect::QueryDone>(drain());
  EXPECT_EQ(query_done.result.status().code(), StatusCode::kUnavailable);
  // A late answer finds nothing.
  s_->handle_message(now_ + 5s, kLinkA, CommandsAccepted{*feed, true, Cursor{1, 1}});
  EXPECT_TRUE(drain().empty());
}

TEST_F(GroupSessionRules, ForwardedCallsFailAtOnceWhenTheLeaderChanges) {
  follow(kA, kLinkA);
  ASSERT_TRUE(s_->feed(now_, commands(1)).is_ok());
  ASSERT_TRUE(s_->query(now_, encode(1), true).is_ok());
  drain();
  s_->handle_leader(now_, kC);
  auto effects = drain();
  EXPECT_EQ(only<session_effect::FeedDone>(effects).size(), 1u);
  EXPECT_EQ(only<session_effect::QueryDone>(effects).size(), 1u);
  for (const auto& d : only<session_effect::FeedDone>(effects)) {
    EXPECT_EQ(d.result.status().code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(s_->pending_calls(), 0u);
}

TEST_F(GroupSessionRules, ForwardedCallsFailAtOnceWhenTheBondToTheLeaderDrops) {
  follow(kA, kLinkA);
  ASSERT_TRUE(s_->execute(now_, commands(1)).is_ok());
  drain();
  s_->handle_link_down(now_, kLinkA);
  auto done = one<session_effect::ExecuteDone>(drain());
  EXPECT_EQ(done.result.status().code(), StatusCode::kUnavailable);
}

TEST_F(GroupSessionRules, AForwardWhoseFrameTheLinkRefusedFailsAtOnce) {
  follow(kA, kLinkA);
  auto call = s_->feed(now_, commands(1));
  auto sends = only<effect::Send>(drain());
  ASSERT_EQ(sends.size(), 1u);
  s_->handle_send_refused(now_, kLinkA, sends[0].frame,
                          error(StatusCode::kLimitExceeded, "send queue full"));
  auto done = one<session_effect::FeedDone>(drain());
  EXPECT_EQ(done.call, *call);
  EXPECT_EQ(done.result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(done.result.status().message().find("send queue full"), std::string::npos);
  EXPECT_EQ(s_->next_deadline(), Instant::max()) << "the call still waits for its timeout";
}

TEST_F(GroupSessionRules, AnAnswerCountsOnlyFromTheLinkTheCallWentOutOn) {
  follow(kA, kLinkA);
  bond(kLinkC, kC);
  auto call = s_->feed(now_, commands(1));
  drain();
  s_->handle_message(now_, kLinkC, CommandsAccepted{*call, true, Cursor{1, 1}});
  s_->handle_message(now_, kLinkC, QueryAnswer{*call, true, encode(1), 1});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(s_->pending_calls(), 1u);
  // A refusal from the leader ends it.
  s_->handle_message(now_, kLinkA, CommandsAccepted{*call, false, {}});
  auto done = one<session_effect::FeedDone>(drain());
  EXPECT_EQ(done.result.status().code(), StatusCode::kUnavailable);
}

// ---- calls: execute and queries ------------------------------------------------------------

TEST_F(GroupSessionRules, AnExecuteEndsOnceItsLastCommandIsAppliedAsProposed) {
  lead();
  append(1, 4);
  auto call = s_->execute(now_, commands(2));
  s_->handle_proposed(now_, *call, Cursor{1, 3});
  EXPECT_TRUE(only<session_effect::ExecuteDone>(drain()).empty());
  s_->handle_applied(now_, 3);
  EXPECT_TRUE(drain().empty()) << "done before its last command was applied";
  s_->handle_applied(now_, 4);
  auto done = one<session_effect::ExecuteDone>(drain());
  ASSERT_TRUE(done.result.is_ok());
  EXPECT_EQ(*done.result, 4u);
}

TEST_F(GroupSessionRules, AnExecuteWhoseEntryWasReplacedIsCancelled) {
  lead();
  append(1, 2);
  auto replaced = s_->execute(now_, commands(1));
  s_->handle_proposed(now_, *replaced, Cursor{1, 3});
  auto overtaken = s_->execute(now_, commands(1));
  s_->handle_proposed(now_, *overtaken, Cursor{1, 5});
  drain();
  // A new leader filled index 3 with an entry of term 2.
  append(2, 1);
  s_->handle_applied(now_, 3);
  auto effects = only<session_effect::ExecuteDone>(drain());
  // Index 3 holds another entry; index 5 can never be term 1 after a term 2 entry.
  ASSERT_EQ(effects.size(), 2u);
  for (const auto& d : effects) EXPECT_EQ(d.result.status().code(), StatusCode::kCancelled);
}

TEST_F(GroupSessionRules, AForwardedExecuteWaitsForTheApplyAfterTheLeaderPlacedIt) {
  follow(kA, kLinkA);
  append(4, 6);
  auto call = s_->execute(now_, commands(2));
  drain();
  s_->handle_message(now_, kLinkA, CommandsAccepted{*call, true, Cursor{4, 5}});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(s_->next_deadline(), Instant::max()) << "placed: no forward timeout any more";
  s_->handle_leader(now_, kC);  // placed calls do not fail with the leader
  EXPECT_TRUE(drain().empty());
  s_->handle_applied(now_, 6);
  auto done = one<session_effect::ExecuteDone>(drain());
  EXPECT_EQ(*done.result, 6u);
}

TEST_F(GroupSessionRules, AResetCancelsEveryExecuteStillWaiting) {
  lead();
  auto call = s_->execute(now_, commands(1));
  s_->handle_proposed(now_, *call, Cursor{1, 1});
  drain();
  s_->handle_reset(now_);
  auto done = one<session_effect::ExecuteDone>(drain());
  EXPECT_EQ(done.result.status().code(), StatusCode::kCancelled);
}

TEST_F(GroupSessionRules, AWeakQueryRunsLocallyAtOnceOnAnyMember) {
  for (bool leader : {false, true}) {
    reset(kB);
    if (leader) lead();  // a follower with no leader at all answers too
    auto call = s_->query(now_, encode(42), false);
    ASSERT_TRUE(call.is_ok());
    auto run = one<session_effect::RunQuery>(drain());
    EXPECT_EQ(run.query, encode(42));
    s_->handle_query_result(now_, run.call, encode(7), 3);
    auto done = one<session_effect::QueryDone>(drain());
    ASSERT_TRUE(done.result.is_ok());
    EXPECT_EQ(done.result->result, encode(7));
    EXPECT_EQ(done.result->index, 3u);
  }
}

TEST_F(GroupSessionRules, AStrongQueryOnTheLeaderRunsOnceTheConfirmedIndexIsApplied) {
  lead();
  auto call = s_->query(now_, encode(1), true);
  EXPECT_EQ(one<session_effect::Read>(drain()).call, *call);
  s_->handle_applied(now_, 2);
  s_->handle_read_ready(now_, *call, 4);
  EXPECT_TRUE(drain().empty()) << "ran before the state reflected the read's index";
  s_->handle_applied(now_, 4);
  auto run = one<session_effect::RunQuery>(drain());
  s_->handle_query_result(now_, run.call, encode(9), 4);
  auto done = one<session_effect::QueryDone>(drain());
  EXPECT_EQ(done.result->index, 4u);
  // Leadership not confirmed: the read fails.
  auto lost = s_->query(now_, encode(1), true);
  drain();
  s_->handle_read_failed(now_, *lost);
  EXPECT_EQ(one<session_effect::QueryDone>(drain()).result.status().code(),
            StatusCode::kUnavailable);
}

TEST_F(GroupSessionRules, AStrongQueryOnAFollowerIsAnsweredByTheLeader) {
  follow(kA, kLinkA);
  auto call = s_->query(now_, encode(1), true);
  auto forwarded = sent_on<ForwardQuery>(drain(), kLinkA);
  EXPECT_EQ(forwarded.request, *call);
  s_->handle_message(now_, kLinkA, QueryAnswer{*call, true, encode(11), 8});
  auto done = one<session_effect::QueryDone>(drain());
  EXPECT_EQ(done.result->result, encode(11));
  EXPECT_EQ(done.result->index, 8u);
}

// ---- the leader's side of forwarding ---------------------------------------------------------

TEST_F(GroupSessionRules, TheLeaderProposesAFollowersCommandsAndAnswersWhereTheyWent) {
  bond(kLinkA, kA);
  lead();
  s_->handle_message(now_, kLinkA, ForwardCommands{77, commands(2)});
  auto propose = one<session_effect::Propose>(drain());
  EXPECT_EQ(propose.commands.size(), 2u);
  s_->handle_proposed(now_, propose.call, Cursor{5, 10});
  auto answer = sent_on<CommandsAccepted>(drain(), kLinkA);
  EXPECT_EQ(answer.request, 77u);
  EXPECT_TRUE(answer.accepted);
  EXPECT_EQ(answer.first, (Cursor{5, 10}));
}

TEST_F(GroupSessionRules, AMemberThatDoesNotLeadRefusesForwardedCalls) {
  bond(kLinkA, kA);
  s_->handle_message(now_, kLinkA, ForwardCommands{5, commands(1)});
  auto refused = sent_on<CommandsAccepted>(drain(), kLinkA);
  EXPECT_EQ(refused.request, 5u);
  EXPECT_FALSE(refused.accepted);
  s_->handle_message(now_, kLinkA, ForwardQuery{6, encode(1)});
  EXPECT_FALSE(sent_on<QueryAnswer>(drain(), kLinkA).answered);
}

TEST_F(GroupSessionRules, TheLeaderReadsForAFollowerAndAnswersWithTheResult) {
  bond(kLinkA, kA);
  lead();
  s_->handle_message(now_, kLinkA, ForwardQuery{9, encode(3)});
  auto read = one<session_effect::Read>(drain());
  s_->handle_read_ready(now_, read.call, 0);
  auto run = one<session_effect::RunQuery>(drain());
  EXPECT_EQ(run.query, encode(3));
  s_->handle_query_result(now_, run.call, encode(30), 2);
  auto answer = sent_on<QueryAnswer>(drain(), kLinkA);
  EXPECT_EQ(answer.request, 9u);
  EXPECT_TRUE(answer.answered);
  EXPECT_EQ(answer.result, encode(30));
  EXPECT_EQ(answer.index, 2u);
}

// ---- dialling ------------------------------------------------------------------------------

TEST_F(GroupSessionRules, TheLowerPeerIdDialsAtOnceTheHigherAfterTwiceTheHandshakeTimeout) {
  // B is lower than C and D, higher than A.
  s_->handle_catalog(now_, {Candidate{addr(kA)}, Candidate{addr(kC)}, Candidate{addr(kD)}});
  auto connects = only<effect::Connect>(drain());
  ASSERT_EQ(connects.size(), 2u);
  EXPECT_EQ(connects[0].addr.id, kC);
  EXPECT_EQ(connects[1].addr.id, kD);
  EXPECT_EQ(connects[0].link, kFirstDial);
  EXPECT_EQ(connects[1].link, kFirstDial + 1);
  EXPECT_EQ(connects[0].alpn, kAlpn);
  EXPECT_EQ(s_->next_deadline(), kT0 + 2 * config_.handshake_timeout) << "A's turn";
  // A (lower) should dial B; B dials A only once twice the handshake timeout passed.
  s_->handle_timeout(kT0 + 4s - 1ns);
  for (const auto& c : only<effect::Connect>(drain())) EXPECT_NE(c.addr.id, kA);
  s_->handle_timeout(kT0 + 4s);
  bool dialled_a = false;
  for (const auto& c : only<effect::Connect>(drain())) dialled_a = dialled_a || c.addr.id == kA;
  EXPECT_TRUE(dialled_a);
}

TEST_F(GroupSessionRules, AMemberWithoutABondIsDialledAgainAfterRedialAfter) {
  s_->handle_catalog(now_, {Candidate{addr(kC)}});
  auto first = one<effect::Connect>(drain());
  s_->handle_link_down(now_ + 100ms, first.link);  // the connect failed
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(s_->next_deadline(), kT0 + config_.redial_after);
  s_->handle_timeout(kT0 + config_.redial_after);
  auto again = one<effect::Connect>(drain());
  EXPECT_EQ(again.addr.id, kC);
  EXPECT_NE(again.link, first.link);
}

TEST_F(GroupSessionRules, UnauthorizedMembersAreNotDialledAndTheirLinksClose) {
  s_->handle_catalog(now_, {Candidate{addr(kC), true, false}});
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(s_->next_deadline(), Instant::max());
  bond(kLinkD, kD);
  s_->handle_catalog(now_, {Candidate{addr(kD), false, false}});
  auto close = one<effect::Close>(drain());
  EXPECT_EQ(close.link, kLinkD);
  EXPECT_EQ(close.code, bond_close::kNotAllowed);
  EXPECT_FALSE(s_->bond_link(kD));
}

TEST_F(GroupSessionRules, AHelloIsRefusedWhenNotAllowedOrPastTheLinkLimit) {
  EXPECT_FALSE(s_->handle_hello(now_, 50, kC, false, true));
  EXPECT_EQ(one<effect::Close>(drain()).code, bond_close::kNotAllowed);
  EXPECT_FALSE(s_->handle_hello(now_, 51, kC, false, false));
  EXPECT_EQ(one<effect::Close>(drain()).code, bond_close::kUnknownPeer);
  for (LinkToken t = 60; t < 60 + config_.max_links; ++t) {
    ASSERT_TRUE(s_->handle_hello(now_, t, PeerId{Digest::from_u64(100 + t)}, true, true));
  }
  EXPECT_FALSE(s_->handle_hello(now_, 99, kC, true, true));
  EXPECT_EQ(one<effect::Close>(drain()).code, bond_close::kNotAllowed);
}

TEST_F(GroupSessionRules, OfTwoLinksToOnePeerTheOneTheLowerPeerIdDialledIsKept) {
  // B is lower than C: B's own dial wins over C's.
  s_->handle_catalog(now_, {Candidate{addr(kC)}});
  const LinkToken ours = one<effect::Connect>(drain()).link;
  ASSERT_TRUE(s_->handle_hello(now_, kLinkC, kC, true, true));
  s_->handle_bond_up(now_, kLinkC, {});
  auto close = one<effect::Close>(drain());
  EXPECT_EQ(close.link, kLinkC);
  EXPECT_EQ(close.code, bond_close::kAlreadyBonded);
  s_->handle_bond_up(now_, ours, {});
  EXPECT_EQ(s_->bond_link(kC), ours);
  // B is higher than A: A's dial (accepted here) wins over B's.
  s_->handle_catalog(now_, {Candidate{addr(kA)}, Candidate{addr(kC)}});
  drain();
  s_->handle_timeout(now_ + 4s);
  LinkToken to_a = 0;
  for (const auto& c : only<effect::Connect>(drain())) {
    if (c.addr.id == kA) to_a = c.link;
  }
  ASSERT_NE(to_a, 0u);
  ASSERT_TRUE(s_->handle_hello(now_ + 4s, kLinkA, kA, true, true));
  s_->handle_bond_up(now_ + 4s, to_a, {});
  EXPECT_EQ(one<effect::Close>(drain()).link, to_a);
  s_->handle_bond_up(now_ + 4s, kLinkA, {});
  EXPECT_EQ(s_->bond_link(kA), kLinkA);
}

TEST_F(GroupSessionRules, ANewBondIsAnnouncedAndTheRemotesBondsAreHints) {
  bond(kLinkA, kA);
  // C is dialled at once, fails, and would wait redial_after...
  s_->handle_catalog(now_, {Candidate{addr(kC)}, Candidate{addr(kA)}});
  auto dial = only<effect::Connect>(drain());
  ASSERT_EQ(dial.size(), 1u);
  s_->handle_link_down(now_, dial[0].link);
  drain();
  // ...but D's bond names C as one of its own: C is dialled again now.
  ASSERT_TRUE(s_->handle_hello(now_, kLinkD, kD, true, true));
  s_->handle_bond_up(now_, kLinkD, {kC, kB});
  auto effects = drain();
  auto formed = sent_on<BondFormed>(effects, kLinkA);
  EXPECT_EQ(formed.peer, kD) << "A hears of the bond with D";
  auto redial = only<effect::Connect>(effects);
  ASSERT_EQ(redial.size(), 1u);
  EXPECT_EQ(redial[0].addr.id, kC);
  // BondFormed from a bond is a hint too.
  s_->handle_link_down(now_, redial[0].link);
  drain();
  s_->handle_message(now_, kLinkA, BondFormed{kC});
  EXPECT_EQ(one<effect::Connect>(drain()).addr.id, kC);
}

// ---- founding ------------------------------------------------------------------------------

TEST_F(GroupSessionRules, FoundingIsAllowedOnlyWhileNoKnownMemberIsLower) {
  EXPECT_TRUE(s_->founding_allowed());
  s_->handle_catalog(now_, {Candidate{addr(kC)}});
  drain();
  EXPECT_TRUE(s_->founding_allowed());
  s_->handle_catalog(now_, {Candidate{addr(kC)}, Candidate{addr(kA), true, false}});
  auto denied = only<session_effect::FoundingAllowed>(drain());
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_FALSE(denied[0].allowed);
  EXPECT_FALSE(s_->founding_allowed()) << "a lower member counts even if it may not bond";
  s_->handle_catalog(now_, {Candidate{addr(kC)}});
  auto allowed = only<session_effect::FoundingAllowed>(drain());
  ASSERT_EQ(allowed.size(), 1u);
  EXPECT_TRUE(allowed[0].allowed);
  EXPECT_TRUE(s_->founding_allowed());
}

}  // namespace
}  // namespace smalti::groups
