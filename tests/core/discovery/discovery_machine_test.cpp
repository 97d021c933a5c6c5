// DiscoveryMachine driven by hand, with no simulator: a tiny in-test wire connects two or three
// machines (Connect -> handle_accepted on the other side, then handle_connected; Send -> the
// other side's handle_frame; Close -> the other side's handle_link_closed), records what each
// machine emitted, and checks invariants() after every input.
#include "smalti/discovery/discovery_machine.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/test_keys.hpp"

namespace smalti::discovery {
namespace {

const NetworkId kNetwork = Digest::from_string("smalti-test-net");
const WallTime kWall0 = WallTime::from_unix_nanos(1'767'225'600'000'000'000);
constexpr Instant kT0 = Instant::from_nanos(5'000'000'000);

SecretKey key(std::uint8_t n) {
  return test_support::test_key(n, 0x44);
}

PeerAddr addr(std::uint8_t n) {
  return PeerAddr{key(n).peer_id(), {"sim:" + std::to_string(n)}};
}

SignedPeerEntry signed_entry(std::uint8_t n, WallTime wall) {
  return SignedPeerEntry::sign(make_entry(kNetwork, addr(n), wall), key(n)).value();
}

Config config() {
  return Config(kNetwork).with_announce_jitter(0);
}

Bytes frame(const Message& m) {
  return encode(m);
}

// A machine plus everything it told its driver.
Channel channel_of(const std::string& alpn) {
  return alpn == kAnnounceAlpn ? Channel::kAnnounce : Channel::kSync;
}

struct Node {
  std::uint8_t n = 0;
  std::unique_ptr<DiscoveryMachine> m;
  std::vector<Event> events;
  std::vector<effect::Close> closes;
  std::vector<SyncDone> syncs;
  std::vector<std::pair<LinkToken, Message>> sent;  // every frame sent, decoded
  std::vector<Probe> probes;

  PeerId id() const { return key(n).peer_id(); }
  template <typename T>
  std::vector<T> sent_of(LinkToken link) const {
    std::vector<T> out;
    for (const auto& [l, msg] : sent) {
      if (l == link && std::holds_alternative<T>(msg)) out.push_back(std::get<T>(msg));
    }
    return out;
  }
  template <typename T>
  std::size_t count_events() const {
    std::size_t count = 0;
    for (const Event& e : events) count += std::holds_alternative<T>(e) ? 1 : 0;
    return count;
  }
};

class Wire {
 public:
  Instant now = kT0;
  WallTime wall = kWall0;

  // Adds node `n` (index = order of addition); not started.
  std::size_t add(std::uint8_t n, Config c = config()) {
    Node node;
    node.n = n;
    node.m = std::make_unique<DiscoveryMachine>(std::move(c), key(n), addr(n), 1000 + n);
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }
  Node& operator[](std::size_t i) { return nodes_[i]; }
  DiscoveryMachine& m(std::size_t i) { return *nodes_[i].m; }

  void start(std::size_t i) {
    m(i).start(now, wall);
    check();
  }
  void advance(Duration d) {
    now += d;
    wall = wall + d;
  }
  // Runs every timer that is due, then delivers everything.
  void tick() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (m(i).next_deadline() <= now) {
        m(i).handle_timeout(now, wall);
        check();
      }
    }
    pump();
  }
  // Advances time in steps of `step` up to `d`, ticking at each.
  void run_for(Duration d, Duration step = 100ms) {
    for (Duration t{0}; t < d; t += step) {
      advance(step);
      tick();
    }
  }

  // Delivers effects until every queue is empty.
  void pump() {
    for (int round = 0; round < 10'000; ++round) {
      bool any = false;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        while (auto effect = m(i).poll_effect()) {
          any = true;
          apply(i, std::move(*effect));
        }
      }
      if (!any) return;
    }
    FAIL() << "the machines never went quiet";
  }

  // The token node `i` uses for its link to node `j` (0 when none).
  LinkToken link(std::size_t i, std::size_t j) const {
    for (const auto& [from, to] : peers_) {
      if (from.first == i && to.first == j) return from.second;
    }
    return 0;
  }

  // Hands node `i` a frame on `link`, as if its peer had sent it.
  void inject(std::size_t i, LinkToken link, ByteView bytes) {
    m(i).handle_frame(now, wall, link, bytes);
    check();
  }

  void check() {
    for (auto& node : nodes_) node.m->invariants();
  }

 private:
  using End = std::pair<std::size_t, LinkToken>;

  std::optional<std::size_t> find(const PeerId& id) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].id() == id) return i;
    }
    return std::nullopt;
  }

  void apply(std::size_t i, Effect effect) {
    Node& node = nodes_[i];
    if (auto* connect = std::get_if<effect::Connect>(&effect)) {
      auto j = find(connect->addr.id);
      std::optional<LinkToken> accepted;
      if (j) accepted = m(*j).handle_accepted(now, wall, node.id(), channel_of(connect->alpn));
      check();
      if (!accepted) {
        m(i).handle_link_closed(now, wall, connect->link);
      } else {
        peers_[{i, connect->link}] = {*j, *accepted};
        peers_[{*j, *accepted}] = {i, connect->link};
        m(i).handle_connected(now, wall, connect->link);
      }
      check();
    } else if (auto* send = std::get_if<effect::Send>(&effect)) {
      auto decoded = decode_message(send->frame);
      ASSERT_TRUE(decoded.is_ok()) << "a machine sent an undecodable frame";
      node.sent.emplace_back(send->link, *decoded);
      auto to = peers_.find({i, send->link});
      if (to == peers_.end()) return;  // closed: the frame is lost
      m(to->second.first).handle_frame(now, wall, to->second.second, send->frame);
      check();
    } else if (auto* close = std::get_if<effect::Close>(&effect)) {
      node.closes.push_back(*close);
      auto to = peers_.find({i, close->link});
      if (to == peers_.end()) return;
      const End other = to->second;
      peers_.erase(to);
      peers_.erase(other);
      m(other.first).handle_link_closed(now, wall, other.second);
      check();
    } else if (auto* emit = std::get_if<effect::Deliver<Event>>(&effect)) {
      node.events.push_back(emit->value);
    } else if (auto* done = std::get_if<SyncDone>(&effect)) {
      node.syncs.push_back(*done);
    } else {
      node.probes.push_back(std::get<Probe>(effect));
    }
  }

  std::vector<Node> nodes_;
  std::map<End, End> peers_;
};

std::vector<Effect> drain(DiscoveryMachine& m) {
  std::vector<Effect> out;
  while (auto e = m.poll_effect()) out.push_back(std::move(*e));
  return out;
}

const effect::Close* find_close(const std::vector<Effect>& effects, LinkToken link) {
  for (const Effect& e : effects) {
    if (const auto* c = std::get_if<effect::Close>(&e); c && c->link == link) return c;
  }
  return nullptr;
}

bool has_event_for(const Node& node, const PeerId& peer) {
  for (const Event& e : node.events) {
    if (const auto* d = std::get_if<PeerDiscovered>(&e); d && d->entry.id() == peer) return true;
  }
  return false;
}

// Two started nodes, a (bootstrapping from b) and b, joined and done exchanging catalogs.
struct Pair {
  Wire wire;
  std::size_t a = 0;
  std::size_t b = 0;
  explicit Pair(Config ca = config(), Config cb = config()) {
    a = wire.add(1, std::move(ca.with_bootstrap(addr(2))));
    b = wire.add(2, std::move(cb));
    wire.start(b);
    wire.start(a);
    wire.pump();
  }
};

TEST(DiscoveryMachine, StartJoinsTheBootstrapPeers) {
  DiscoveryMachine m(config().with_bootstrap(addr(2)).with_bootstrap(addr(3)), key(1), addr(1), 1);
  EXPECT_EQ(m.next_deadline(), Instant::max());  // nothing is due before start()
  m.start(kT0, kWall0);
  m.invariants();
  EXPECT_EQ(m.local().entry.id(), key(1).peer_id());
  EXPECT_TRUE(m.local().verify().is_ok());
  EXPECT_EQ(m.local().entry.version.update_ms, kWall0.unix_millis());
  auto effects = drain(m);
  ASSERT_EQ(effects.size(), 2u);
  const auto* first = std::get_if<effect::Connect>(&effects[0]);
  const auto* second = std::get_if<effect::Connect>(&effects[1]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->addr, addr(2));
  EXPECT_EQ(second->addr, addr(3));
  EXPECT_EQ(first->alpn, kAnnounceAlpn);
  EXPECT_NE(first->link, second->link);
  EXPECT_NE(first->link, 0u);
  const LinkToken link = first->link;
  EXPECT_GT(m.next_deadline(), kT0);
  EXPECT_LT(m.next_deadline(), Instant::max());
  // The join goes out once the transport reports the link up.
  m.handle_connected(kT0 + 1ms, kWall0, link);
  m.invariants();
  effects = drain(m);
  ASSERT_EQ(effects.size(), 1u);
  const auto* send = std::get_if<effect::Send>(&effects[0]);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(send->link, link);
  auto join = decode_message(send->frame);
  ASSERT_TRUE(join.is_ok());
  ASSERT_TRUE(std::holds_alternative<Join>(*join));
  EXPECT_EQ(std::get<Join>(*join).entry, m.local());
  EXPECT_TRUE(std::get<Join>(*join).urgent);  // no neighbour yet
}

// A bootstrap peer named by its PeerId alone is joined once the catalog knows its address:
// here from a signed entry fed in, or from an unsigned entry the application inserts.
TEST(DiscoveryMachine, APeerIdOnlyBootstrapIsJoinedOnceTheCatalogKnowsIt) {
  for (bool from_signed : {true, false}) {
    SCOPED_TRACE(from_signed ? "signed entry" : "inserted entry");
    DiscoveryMachine m(config().with_bootstrap(key(2).peer_id()), key(1), addr(1), 1);
    m.start(kT0, kWall0);
    m.invariants();
    for (const Effect& e : drain(m)) {
      EXPECT_FALSE(std::holds_alternative<effect::Connect>(e)) << "dialled without an address";
    }
    if (from_signed) {
      ASSERT_TRUE(m.feed(kT0 + 1ms, kWall0, signed_entry(2, kWall0)).is_ok());
    } else {
      ASSERT_TRUE(m.insert(make_entry(kNetwork, addr(2), kWall0)));
    }
    drain(m);
    ASSERT_LE(m.next_deadline(), kT0 + 1ms) << "the join waits for the next upkeep";
    m.handle_timeout(std::max(m.next_deadline(), kT0 + 1ms), kWall0);
    m.invariants();
    std::vector<PeerAddr> dialled;
    for (const Effect& e : drain(m)) {
      if (const auto* c = std::get_if<effect::Connect>(&e)) dialled.push_back(c->addr);
    }
    ASSERT_EQ(dialled.size(), 1u);
    EXPECT_EQ(dialled[0], addr(2));
  }
}

TEST(DiscoveryMachine, JoinExchangesCatalogsAndMakesNeighbours) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  const PeerId b = w[p.b].id();
  ASSERT_NE(w.m(p.a).catalog().get_signed(b), nullptr);
  ASSERT_NE(w.m(p.b).catalog().get_signed(a), nullptr);
  EXPECT_EQ(*w.m(p.a).catalog().get_signed(b), w.m(p.b).local());
  EXPECT_EQ(*w.m(p.b).catalog().get_signed(a), w.m(p.a).local());
  EXPECT_TRUE(has_event_for(w[p.a], b));
  EXPECT_TRUE(has_event_for(w[p.b], a));
  EXPECT_EQ(w[p.a].count_events<PeerDiscovered>(), 1u);
  EXPECT_EQ(w[p.b].count_events<PeerDiscovered>(), 1u);
  EXPECT_EQ(w.m(p.a).neighbours(), std::vector<PeerId>{b});
  EXPECT_EQ(w.m(p.b).neighbours(), std::vector<PeerId>{a});
  EXPECT_TRUE(w.m(p.a).is_eager(b));
  EXPECT_TRUE(w.m(p.b).is_eager(a));
  EXPECT_EQ(w.m(p.a).stats().syncs_completed, 1u);
  EXPECT_EQ(w.m(p.b).stats().syncs_completed, 1u);
  EXPECT_EQ(w.m(p.a).stats().violations + w.m(p.b).stats().violations, 0u);
  EXPECT_TRUE(w[p.a].closes.empty());
  EXPECT_TRUE(w[p.b].closes.empty());
  // The reply told a it was accepted.
  auto replies = w[p.b].sent_of<JoinReply>(w.link(p.b, p.a));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].accepted);
}

TEST(DiscoveryMachine, ExchangeSpreadsAThirdPeersEntry) {
  Wire w;
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  const std::size_t b = w.add(2);
  w.start(a);
  w.start(b);
  // b already knows c (fed by its driver) before a joins.
  ASSERT_EQ(w.m(b).feed(w.now, w.wall, signed_entry(3, w.wall)).value(), Upsert::kNew);
  w.check();
  w.pump();
  ASSERT_NE(w.m(a).catalog().get_signed(key(3).peer_id()), nullptr);
  EXPECT_TRUE(has_event_for(w[a], key(3).peer_id()));
  EXPECT_EQ(w[a].count_events<PeerDiscovered>(), 2u);
}

TEST(DiscoveryMachine, MalformedFrameClosesTheLinkWithProtocolViolation) {
  Pair p;
  Wire& w = p.wire;
  const LinkToken link = w.link(p.b, p.a);
  ASSERT_NE(link, 0u);
  const Bytes garbage{0xff, 0x13, 0x37};
  w.inject(p.b, link, garbage);
  EXPECT_TRUE(w.m(p.b).neighbours().empty());
  EXPECT_EQ(w.m(p.b).stats().violations, 1u);
  // Late frames on the closed link are ignored.
  w.inject(p.b, link, garbage);
  EXPECT_EQ(w.m(p.b).stats().violations, 1u);
  w.pump();  // a sees the link go down (and may join again)
  ASSERT_EQ(w[p.b].closes.size(), 1u);
  EXPECT_EQ(w[p.b].closes[0].link, link);
  EXPECT_EQ(w[p.b].closes[0].code, env::close_code::kProtocolViolation);
  EXPECT_EQ(w.link(p.b, p.a) == link, false);
}

TEST(DiscoveryMachine, MalformedFramesOnFreshLinksNeverCrash) {
  DiscoveryMachine m(config(), key(1), addr(1), 1);
  m.start(kT0, kWall0);
  drain(m);
  const std::vector<Bytes> bad = {
      {},
      {0xff},
      {200},
      frame(Prune{}),                                   // neighbour traffic before a join
      frame(JoinReply{signed_entry(2, kWall0), true}),  // a reply to a join we never sent
      frame(Summary{{}, true}),                         // exchange before the join
      Bytes(kMaxMessageSize + 1, 0),
  };
  for (const Bytes& b : bad) {
    auto link = m.handle_accepted(kT0, kWall0, key(2).peer_id(), Channel::kAnnounce);
    ASSERT_TRUE(link.has_value());
    m.handle_frame(kT0, kWall0, *link, b);
    m.invariants();
    auto effects = drain(m);
    const effect::Close* close = find_close(effects, *link);
    if (b == frame(Prune{})) {
      // Neighbour traffic on a link that is not a neighbour's is ignored, not an error.
      EXPECT_EQ(close, nullptr);
    } else {
      ASSERT_NE(close, nullptr) << "frame of " << b.size() << " bytes";
      EXPECT_EQ(close->code, env::close_code::kProtocolViolation);
    }
  }
  EXPECT_TRUE(m.neighbours().empty());
}

TEST(DiscoveryMachine, JoinWithAnotherPeersEntryIsRefused) {
  DiscoveryMachine m(config(), key(2), addr(2), 2);
  m.start(kT0, kWall0);
  drain(m);
  // Peer 1 opens the link but presents peer 3's (validly signed) entry.
  auto link = m.handle_accepted(kT0, kWall0, key(1).peer_id(), Channel::kAnnounce);
  ASSERT_TRUE(link.has_value());
  m.handle_frame(kT0, kWall0, *link, frame(Join{signed_entry(3, kWall0), false}));
  m.invariants();
  auto effects = drain(m);
  const effect::Close* close = find_close(effects, *link);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, env::close_code::kProtocolViolation);
  EXPECT_TRUE(m.neighbours().empty());
  EXPECT_EQ(m.catalog().get_signed(key(3).peer_id()), nullptr);
  EXPECT_EQ(m.catalog().get_signed(key(1).peer_id()), nullptr);
  for (const Effect& e : effects) EXPECT_FALSE(std::holds_alternative<effect::Deliver<Event>>(e));
}

TEST(DiscoveryMachine, JoinWithAForgedEntryIsRefused) {
  DiscoveryMachine m(config(), key(2), addr(2), 2);
  m.start(kT0, kWall0);
  drain(m);
  SignedPeerEntry forged = signed_entry(1, kWall0);
  forged.entry.tags.insert(Tag::from_string("sneaky"));  // the signature no longer matches
  auto link = m.handle_accepted(kT0, kWall0, key(1).peer_id(), Channel::kAnnounce);
  ASSERT_TRUE(link.has_value());
  m.handle_frame(kT0, kWall0, *link, frame(Join{forged, true}));
  m.invariants();
  const auto effects = drain(m);
  const effect::Close* close = find_close(effects, *link);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, env::close_code::kProtocolViolation);
  EXPECT_EQ(m.catalog().get_signed(key(1).peer_id()), nullptr);
}

TEST(DiscoveryMachine, LocalUpdateIsGossipedToNeighbours) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  const EntryVersion before = w.m(p.a).local().entry.version;
  const std::uint64_t watch = w.m(p.a).catalog_version();
  w.advance(10ms);
  const Tag tag = Tag::from_string("validator");
  w.m(p.a).update_local(w.now, w.wall, [&](PeerEntry& e) { e.tags.insert(tag); });
  w.check();
  EXPECT_GT(w.m(p.a).local().entry.version, before);
  EXPECT_GT(w.m(p.a).catalog_version(), watch);
  EXPECT_TRUE(w.m(p.a).local().verify().is_ok());
  w.pump();
  auto gossips = w[p.a].sent_of<Gossip>(w.link(p.a, p.b));
  ASSERT_EQ(gossips.size(), 1u);
  EXPECT_EQ(gossips[0].entry, w.m(p.a).local());
  const SignedPeerEntry* seen = w.m(p.b).catalog().get_signed(a);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->entry.tags.count(tag), 1u);
  EXPECT_EQ(seen->entry.version, w.m(p.a).local().entry.version);
  ASSERT_FALSE(w[p.b].events.empty());
  const auto* updated = std::get_if<PeerUpdated>(&w[p.b].events.back());
  ASSERT_NE(updated, nullptr);
  EXPECT_EQ(updated->entry, w.m(p.a).local().entry);
  // A change that changes nothing is not announced.
  const EntryVersion now_version = w.m(p.a).local().entry.version;
  w.m(p.a).update_local(w.now, w.wall, [&](PeerEntry& e) { e.tags.insert(tag); });
  w.pump();
  EXPECT_EQ(w.m(p.a).local().entry.version, now_version);
  EXPECT_EQ(w[p.a].sent_of<Gossip>(w.link(p.a, p.b)).size(), 1u);
}

TEST(DiscoveryMachine, DuplicateGossipPrunesTheSender) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  const PeerId b = w[p.b].id();
  w.advance(10ms);
  w.m(p.a).update_local(w.now, w.wall, [](PeerEntry& e) { e.tags.insert(Tag::from_string("x")); });
  w.pump();
  ASSERT_TRUE(w.m(p.b).is_eager(a));
  const LinkToken link = w.link(p.b, p.a);
  // The same entry again over the same path: redundant.
  w.inject(p.b, link, frame(Gossip{w.m(p.a).local()}));
  EXPECT_FALSE(w.m(p.b).is_eager(a));
  EXPECT_EQ(w.m(p.b).stats().duplicates, 1u);
  EXPECT_EQ(w.m(p.b).stats().prunes_sent, 1u);
  w.pump();
  EXPECT_EQ(w[p.b].sent_of<Prune>(link).size(), 1u);
  EXPECT_FALSE(w.m(p.a).is_eager(b));  // a now pushes to b lazily
  // Still neighbours; a second duplicate sends no second prune.
  EXPECT_EQ(w.m(p.b).neighbours(), std::vector<PeerId>{a});
  w.inject(p.b, link, frame(Gossip{w.m(p.a).local()}));
  w.pump();
  EXPECT_EQ(w[p.b].sent_of<Prune>(link).size(), 1u);
  EXPECT_EQ(w.m(p.b).stats().duplicates, 2u);
}

TEST(DiscoveryMachine, LazyAnnouncementIsGraftedAfterTheTimeout) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  const PeerId b = w[p.b].id();
  // b prunes a: a pushes to b lazily from now on.
  w.inject(p.b, w.link(p.b, p.a), frame(Gossip{w.m(p.a).local()}));
  w.pump();
  ASSERT_FALSE(w.m(p.a).is_eager(b));
  w.advance(10ms);
  w.m(p.a).update_local(w.now, w.wall, [](PeerEntry& e) { e.tags.insert(Tag::from_string("y")); });
  w.pump();
  const LinkToken ab = w.link(p.a, p.b);
  EXPECT_TRUE(w[p.a].sent_of<Gossip>(ab).empty());
  // The IHave goes out after ihave_interval; b waits graft_timeout, then grafts.
  w.run_for(w.m(p.a).config().ihave_interval + 10ms, 10ms);
  auto ihaves = w[p.a].sent_of<IHave>(ab);
  ASSERT_EQ(ihaves.size(), 1u);
  ASSERT_EQ(ihaves[0].stamps.size(), 1u);
  EXPECT_EQ(ihaves[0].stamps[0], (Stamp{a, w.m(p.a).local().entry.version}));
  EXPECT_NE(w.m(p.b).catalog().get_signed(a)->entry.version, w.m(p.a).local().entry.version);
  w.run_for(w.m(p.b).config().graft_timeout + 10ms, 10ms);
  EXPECT_EQ(w[p.b].sent_of<Graft>(w.link(p.b, p.a)).size(), 1u);
  EXPECT_EQ(w.m(p.b).stats().grafts_sent, 1u);
  EXPECT_EQ(w.m(p.b).catalog().get_signed(a)->entry.version, w.m(p.a).local().entry.version);
  EXPECT_TRUE(w.m(p.a).is_eager(b));  // the graft made the path eager again
  EXPECT_EQ(w[p.a].sent_of<Gossip>(ab).size(), 1u);
}

TEST(DiscoveryMachine, DepartureIsSpreadAndTheOldEntryRefused) {
  Wire w;
  // c - b - a: a leaves; b tells c.
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  const std::size_t b = w.add(2);
  const std::size_t c = w.add(3, config().with_bootstrap(addr(2)));
  w.start(b);
  w.start(a);
  w.pump();
  w.start(c);
  w.pump();
  const PeerId ida = w[a].id();
  ASSERT_NE(w.m(b).catalog().get_signed(ida), nullptr);
  ASSERT_NE(w.m(c).catalog().get_signed(ida), nullptr);
  ASSERT_EQ(w.m(b).neighbours().size(), 2u);
  const SignedPeerEntry old = w.m(a).local();
  const LinkToken ab = w.link(a, b);
  w.advance(1s);
  w.m(a).depart(w.now, w.wall);
  w.check();
  EXPECT_TRUE(w.m(a).departed());
  EXPECT_EQ(w.m(a).next_deadline(), Instant::max());
  w.pump();
  auto departures = w[a].sent_of<Departure>(ab);
  ASSERT_EQ(departures.size(), 1u);
  EXPECT_EQ(departures[0].peer, ida);
  EXPECT_EQ(departures[0].last_version, old.entry.version);
  for (std::size_t i : {b, c}) {
    ASSERT_FALSE(w[i].events.empty()) << i;
    const auto* gone = std::get_if<PeerDeparted>(&w[i].events.back());
    ASSERT_NE(gone, nullptr) << i;
    EXPECT_EQ(gone->peer, ida);
    EXPECT_EQ(w.m(i).catalog().get_signed(ida), nullptr) << i;
    EXPECT_TRUE(w.m(i).catalog().departed(ida, old.entry.version)) << i;
    // The old entry, still in flight somewhere, cannot bring a back.
    auto again = w.m(i).feed(w.now, w.wall, old);
    w.check();
    EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition) << i;
    EXPECT_EQ(w.m(i).catalog().get_signed(ida), nullptr) << i;
  }
  EXPECT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[c].id()});
  EXPECT_EQ(w[b].count_events<PeerDeparted>(), 1u);
  EXPECT_EQ(w[c].count_events<PeerDeparted>(), 1u);
  // A restart (a newer version) is welcome again.
  const SignedPeerEntry restarted = signed_entry(1, w.wall + 1s);
  EXPECT_EQ(w.m(b).feed(w.now, w.wall, restarted).value(), Upsert::kNew);
}

TEST(DiscoveryMachine, ForgedDepartureIsAViolation) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  // A departure claiming to be a's, signed by someone else, arriving from a's link.
  Departure forged = Departure::sign(key(9), w.m(p.a).local().entry.version, w.wall.unix_millis());
  forged.peer = a;
  w.inject(p.b, w.link(p.b, p.a), frame(forged));
  w.pump();
  ASSERT_EQ(w[p.b].closes.size(), 1u);
  EXPECT_EQ(w[p.b].closes[0].code, env::close_code::kProtocolViolation);
  EXPECT_NE(w.m(p.b).catalog().get_signed(a), nullptr);
  EXPECT_FALSE(w.m(p.b).catalog().departed(a, w.m(p.a).local().entry.version));
  EXPECT_EQ(w[p.b].count_events<PeerDeparted>(), 0u);
}

TEST(DiscoveryMachine, SyncWithExchangesCatalogsAndReportsDone) {
  Wire w;
  const std::size_t a = w.add(1);
  const std::size_t b = w.add(2);
  w.start(a);
  w.start(b);
  w.pump();
  ASSERT_EQ(w.m(b).feed(w.now, w.wall, signed_entry(3, w.wall)).value(), Upsert::kNew);
  w.pump();
  const SyncId id = w.m(a).sync_with(w.now, w.wall, addr(2));
  w.check();
  w.pump();
  ASSERT_EQ(w[a].syncs.size(), 1u);
  EXPECT_EQ(w[a].syncs[0].id, id);
  EXPECT_TRUE(w[a].syncs[0].status.is_ok()) << w[a].syncs[0].status.to_string();
  EXPECT_NE(w.m(a).catalog().get_signed(key(2).peer_id()), nullptr);
  EXPECT_NE(w.m(a).catalog().get_signed(key(3).peer_id()), nullptr);
  EXPECT_NE(w.m(b).catalog().get_signed(key(1).peer_id()), nullptr);
  // The opener closed the sync link cleanly once both sides were done.
  ASSERT_EQ(w[a].closes.size(), 1u);
  EXPECT_EQ(w[a].closes[0].code, env::close_code::kSuccess);
  EXPECT_TRUE(w[b].closes.empty());
  EXPECT_EQ(w.m(a).stats().violations + w.m(b).stats().violations, 0u);
  // Syncing with oneself fails at once.
  const SyncId self = w.m(a).sync_with(w.now, w.wall, addr(1));
  w.pump();
  ASSERT_EQ(w[a].syncs.size(), 2u);
  EXPECT_EQ(w[a].syncs[1].id, self);
  EXPECT_EQ(w[a].syncs[1].status.code(), StatusCode::kInvalidArgument);
}

TEST(DiscoveryMachine, SyncWithAnUnreachablePeerFails) {
  Wire w;
  const std::size_t a = w.add(1);
  w.start(a);
  const SyncId id = w.m(a).sync_with(w.now, w.wall, addr(7));  // nobody there
  w.pump();
  ASSERT_EQ(w[a].syncs.size(), 1u);
  EXPECT_EQ(w[a].syncs[0].id, id);
  EXPECT_FALSE(w[a].syncs[0].status.is_ok());
}

TEST(DiscoveryMachine, SummaryLargerThanACatalogIsAViolation) {
  Config c = config();
  c.max_entries = 4;
  DiscoveryMachine m(c, key(2), addr(2), 2);
  m.start(kT0, kWall0);
  drain(m);
  auto stamps = [](std::uint64_t from, std::uint64_t count) {
    std::vector<Stamp> out;
    for (std::uint64_t i = from; i < from + count; ++i) {
      out.push_back(Stamp{PeerId{Digest::from_u64(i)}, EntryVersion{1, 1}});
    }
    return out;
  };
  // max_entries + 1 (the sender's own entry) is fine.
  auto ok = m.handle_accepted(kT0, kWall0, key(1).peer_id(), Channel::kSync);
  ASSERT_TRUE(ok.has_value());
  m.handle_frame(kT0, kWall0, *ok, frame(Summary{stamps(1, 5), true}));
  m.invariants();
  EXPECT_EQ(find_close(drain(m), *ok), nullptr);
  // Six distinct stamps, in two chunks: the second one crosses the bound.
  auto link = m.handle_accepted(kT0, kWall0, key(3).peer_id(), Channel::kSync);
  ASSERT_TRUE(link.has_value());
  m.handle_frame(kT0, kWall0, *link, frame(Summary{stamps(1, 3), false}));
  m.invariants();
  EXPECT_EQ(find_close(drain(m), *link), nullptr);
  m.handle_frame(kT0, kWall0, *link, frame(Summary{stamps(4, 3), false}));
  m.invariants();
  const effect::Close* close = nullptr;
  auto effects = drain(m);
  close = find_close(effects, *link);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, env::close_code::kProtocolViolation);
  EXPECT_EQ(m.stats().violations, 1u);
  // The same stamps repeated do not count twice.
  auto repeat = m.handle_accepted(kT0, kWall0, key(4).peer_id(), Channel::kSync);
  ASSERT_TRUE(repeat.has_value());
  for (int i = 0; i < 3; ++i) {
    m.handle_frame(kT0, kWall0, *repeat, frame(Summary{stamps(1, 5), false}));
    m.invariants();
  }
  EXPECT_EQ(find_close(drain(m), *repeat), nullptr);
}

TEST(DiscoveryMachine, SummaryAfterTheLastOneIsAViolation) {
  DiscoveryMachine m(config(), key(2), addr(2), 2);
  m.start(kT0, kWall0);
  drain(m);
  auto link = m.handle_accepted(kT0, kWall0, key(1).peer_id(), Channel::kSync);
  ASSERT_TRUE(link.has_value());
  m.handle_frame(kT0, kWall0, *link, frame(Summary{{}, true}));
  m.invariants();
  EXPECT_EQ(find_close(drain(m), *link), nullptr);
  m.handle_frame(kT0, kWall0, *link, frame(Summary{{}, true}));
  m.invariants();
  const effect::Close* close = nullptr;
  auto effects = drain(m);
  close = find_close(effects, *link);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, env::close_code::kProtocolViolation);
}

TEST(DiscoveryMachine, ReannouncesEveryAnnounceInterval) {
  Pair p;
  Wire& w = p.wire;
  const PeerId a = w[p.a].id();
  const Duration interval = w.m(p.a).config().announce_interval;
  const EntryVersion v0 = w.m(p.a).local().entry.version;
  w.run_for(interval - 1s, 500ms);
  EXPECT_EQ(w.m(p.a).local().entry.version, v0);
  w.run_for(2s, 500ms);
  const EntryVersion v1 = w.m(p.a).local().entry.version;
  EXPECT_GT(v1, v0);
  EXPECT_EQ(v1.start_ms, v0.start_ms);  // same process
  EXPECT_TRUE(w.m(p.a).local().verify().is_ok());
  EXPECT_EQ(w.m(p.b).catalog().get_signed(a)->entry.version, v1);
  w.run_for(interval, 500ms);
  EXPECT_GT(w.m(p.a).local().entry.version, v1);
  EXPECT_EQ(w.m(p.b).catalog().get_signed(a)->entry.version, w.m(p.a).local().entry.version);
  EXPECT_EQ(w.m(p.a).neighbours().size(), 1u);
  // Both sides keep each other fresh: nothing was purged.
  EXPECT_EQ(w[p.a].count_events<PeerDeparted>() + w[p.b].count_events<PeerDeparted>(), 0u);
}

TEST(DiscoveryMachine, InputAfterDepartureIsIgnored) {
  Pair p;
  Wire& w = p.wire;
  w.m(p.a).depart(w.now, w.wall);
  w.pump();
  const LinkToken stale = 1;
  w.inject(p.a, stale, Bytes{0xff});
  EXPECT_TRUE(drain(w.m(p.a)).empty());
  EXPECT_FALSE(w.m(p.a).handle_accepted(w.now, w.wall, key(3).peer_id(), Channel::kAnnounce));
  w.m(p.a).handle_timeout(w.now + 1h, w.wall + 1h);
  w.check();
  EXPECT_TRUE(drain(w.m(p.a)).empty());
}

TEST(DiscoveryMachine, SimultaneousJoinsKeepOneLinkOnBothSides) {
  Wire w;
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  const std::size_t b = w.add(2, config().with_bootstrap(addr(1)));
  w.start(a);
  w.start(b);
  w.pump();
  EXPECT_EQ(w.m(a).neighbours(), std::vector<PeerId>{w[b].id()});
  EXPECT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[a].id()});
  for (const effect::Close& c : w[a].closes) EXPECT_EQ(c.code, discovery_close::kDuplicate);
  for (const effect::Close& c : w[b].closes) EXPECT_EQ(c.code, discovery_close::kDuplicate);
  // Both ends kept the same link: updates still flow both ways.
  w.advance(10ms);
  w.m(a).update_local(w.now, w.wall, [](PeerEntry& e) { e.tags.insert(Tag::from_string("a")); });
  w.m(b).update_local(w.now, w.wall, [](PeerEntry& e) { e.tags.insert(Tag::from_string("b")); });
  w.check();
  w.pump();
  EXPECT_EQ(w.m(a).catalog().get_signed(w[b].id())->entry, w.m(b).local().entry);
  EXPECT_EQ(w.m(b).catalog().get_signed(w[a].id())->entry, w.m(a).local().entry);
}

TEST(DiscoveryMachine, RefusedJoinStillExchangesCatalogs) {
  Wire w;
  Config small = config().with_active_view(1, 1);
  const std::size_t b = w.add(2, small);
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  const std::size_t d = w.add(4);
  const std::size_t c = w.add(3, config().with_bootstrap(addr(4)));
  for (std::size_t i : {b, a, d, c}) w.start(i);
  w.pump();
  ASSERT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[a].id()});
  ASSERT_EQ(w.m(c).neighbours(), std::vector<PeerId>{w[d].id()});
  // c has a neighbour, so its join is not urgent: b is full and refuses it.
  w.m(c).dial(w.now, w.wall, {addr(2)});
  w.check();
  w.pump();
  EXPECT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[a].id()});
  EXPECT_EQ(w.m(c).neighbours(), std::vector<PeerId>{w[d].id()});
  EXPECT_NE(w.m(c).catalog().get_signed(w[a].id()), nullptr);
  EXPECT_NE(w.m(b).catalog().get_signed(w[c].id()), nullptr);
  EXPECT_NE(w.m(b).catalog().get_signed(w[d].id()), nullptr);
  ASSERT_FALSE(w[c].closes.empty());
  EXPECT_EQ(w[c].closes.back().code, env::close_code::kSuccess);
  // ... and b spread what it learned to its neighbour: c's entry (from the join) at once, d's
  // (learnt in bulk from the exchange) lazily, fetched by a with a Graft.
  EXPECT_NE(w.m(a).catalog().get_signed(w[c].id()), nullptr);
  const auto& cfg = w.m(b).config();
  w.run_for(cfg.ihave_interval + cfg.graft_timeout + 100ms, 50ms);
  EXPECT_NE(w.m(a).catalog().get_signed(w[d].id()), nullptr);
  EXPECT_EQ(w.m(b).stats().violations + w.m(c).stats().violations, 0u);
}

TEST(DiscoveryMachine, UrgentJoinEvictsANeighbourWhenFull) {
  Wire w;
  const std::size_t b = w.add(2, config().with_active_view(1, 1));
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  w.start(b);
  w.start(a);
  w.pump();
  ASSERT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[a].id()});
  // c has no neighbour: its join is urgent and b makes room.
  const std::size_t c = w.add(3, config().with_bootstrap(addr(2)));
  w.start(c);
  w.pump();
  EXPECT_EQ(w.m(b).neighbours(), std::vector<PeerId>{w[c].id()});
  EXPECT_EQ(w.m(c).neighbours(), std::vector<PeerId>{w[b].id()});
  EXPECT_TRUE(w.m(a).neighbours().empty());
  ASSERT_FALSE(w[b].closes.empty());
  EXPECT_EQ(w[b].closes[0].code, discovery_close::kViewFull);
  EXPECT_EQ(w[b].sent_of<Disconnect>(w[b].closes[0].link).size(), 1u);
}

TEST(DiscoveryMachine, DisconnectFromANeighbourEndsTheLink) {
  Pair p;
  Wire& w = p.wire;
  const LinkToken link = w.link(p.b, p.a);
  w.inject(p.b, link, frame(Disconnect{}));
  EXPECT_TRUE(w.m(p.b).neighbours().empty());
  w.pump();
  ASSERT_FALSE(w[p.b].closes.empty());
  EXPECT_EQ(w[p.b].closes[0].link, link);
  EXPECT_EQ(w[p.b].closes[0].code, env::close_code::kSuccess);
  EXPECT_EQ(w.m(p.b).stats().violations, 0u);
}

TEST(DiscoveryMachine, InboundLinksAreBounded) {
  DiscoveryMachine m(config(), key(1), addr(1), 1);
  m.start(kT0, kWall0);
  drain(m);
  for (std::size_t i = 0; i < DiscoveryMachine::kMaxPendingInbound; ++i) {
    ASSERT_TRUE(
        m.handle_accepted(kT0, kWall0, PeerId{Digest::from_u64(100 + i)}, Channel::kAnnounce));
  }
  EXPECT_FALSE(m.handle_accepted(kT0, kWall0, PeerId{Digest::from_u64(99)}, Channel::kAnnounce));
  for (std::size_t i = 0; i < DiscoveryMachine::kMaxSyncLinks; ++i) {
    ASSERT_TRUE(m.handle_accepted(kT0, kWall0, PeerId{Digest::from_u64(1000 + i)}, Channel::kSync));
  }
  EXPECT_FALSE(m.handle_accepted(kT0, kWall0, PeerId{Digest::from_u64(999)}, Channel::kSync));
  EXPECT_FALSE(m.handle_accepted(kT0, kWall0, key(1).peer_id(), Channel::kSync));  // ourselves
  m.invariants();
}

TEST(DiscoveryMachine, ChainOfNodesConvergesToFullCatalogs) {
  Wire w;
  constexpr std::uint8_t kNodes = 6;
  for (std::uint8_t i = 1; i <= kNodes; ++i) {
    Config c = config().with_announce_jitter(0.5).with_active_view(2, 4);
    if (i > 1) c.with_bootstrap(addr(i - 1));  // each node knows only the previous one
    w.add(i, c);
  }
  for (std::size_t i = 0; i < kNodes; ++i) {
    w.start(i);
    w.pump();
  }
  w.run_for(120s, 100ms);
  for (std::size_t i = 0; i < kNodes; ++i) {
    EXPECT_EQ(w.m(i).catalog().signed_entries().size(), kNodes - 1u) << "node " << i;
    EXPECT_GE(w.m(i).neighbours().size(), 1u) << "node " << i;
    EXPECT_LE(w.m(i).neighbours().size(), 4u) << "node " << i;
    EXPECT_EQ(w.m(i).stats().violations, 0u) << "node " << i;
    for (std::size_t j = 0; j < kNodes; ++j) {
      if (i == j) continue;
      // Everyone holds a recent version of everyone (re-announced within the last interval).
      const SignedPeerEntry* e = w.m(i).catalog().get_signed(w[j].id());
      ASSERT_NE(e, nullptr);
      EXPECT_GE(e->entry.updated_at(), w.wall - 70s) << i << " about " << j;
    }
  }
}

// Peer n's entry with a ticket of `data_size` bytes, signed.
SignedPeerEntry big_entry(std::uint8_t n, WallTime wall, std::size_t data_size) {
  PeerEntry e = make_entry(kNetwork, addr(n), wall);
  Ticket t{UniqueId::from_string("big"), Bytes(data_size, 0xab)};
  e.tickets.emplace(t.id(), t);
  return SignedPeerEntry::sign(e, key(n)).value();
}

TEST(DiscoveryMachine, OversizedEntryIsRefusedAndNeverRelayed) {
  Wire w;
  const std::size_t a = w.add(1, config().with_bootstrap(addr(2)));
  const std::size_t b = w.add(2);
  const std::size_t c = w.add(3);
  for (std::size_t i : {a, b, c}) w.start(i);
  w.pump();
  // A third party's validly signed entry, larger than kMaxEntrySize but still within one frame:
  // as a Gossip frame it fits, as an Entries frame (two bytes more framing) it would not.
  const std::size_t probe = kMaxMessageSize / 2;  // same varint width as the final size
  const std::size_t overhead = encode(Message{Gossip{big_entry(5, w.wall, probe)}}).size() - probe;
  const SignedPeerEntry big = big_entry(5, w.wall, kMaxMessageSize - overhead);
  ASSERT_EQ(encode(Message{Gossip{big}}).size(), kMaxMessageSize);
  ASSERT_GT(encode(big).size(), kMaxEntrySize);
  w.inject(b, w.link(b, a), frame(Gossip{big}));
  w.pump();
  EXPECT_EQ(w.m(b).catalog().get_signed(key(5).peer_id()), nullptr);
  // Whatever b holds, a sync with it only ever carries frames that decode (the wire checks).
  const SyncId id = w.m(c).sync_with(w.now, w.wall, addr(2));
  w.pump();
  ASSERT_EQ(w[c].syncs.size(), 1u);
  EXPECT_EQ(w[c].syncs[0].id, id);
  EXPECT_TRUE(w[c].syncs[0].status.is_ok()) << w[c].syncs[0].status.to_string();
  EXPECT_EQ(w.m(c).stats().violations, 0u);
}

TEST(DiscoveryMachine, SilentInboundLinkIsClosedAfterTheHandshakeTimeout) {
  DiscoveryMachine m(config(), key(1), addr(1), 1);
  m.start(kT0, kWall0);
  drain(m);
  auto link = m.handle_accepted(kT0, kWall0, key(2).peer_id(), Channel::kAnnounce);
  ASSERT_TRUE(link.has_value());
  EXPECT_LE(m.next_deadline(), kT0 + DiscoveryMachine::kHandshakeTimeout);
  const Instant before = kT0 + DiscoveryMachine::kHandshakeTimeout - 1ms;
  m.handle_timeout(before, kWall0 + (before - kT0));
  m.invariants();
  EXPECT_EQ(find_close(drain(m), *link), nullptr);
  const Instant at = kT0 + DiscoveryMachine::kHandshakeTimeout;
  m.handle_timeout(at, kWall0 + (at - kT0));
  m.invariants();
  const auto effects = drain(m);
  const effect::Close* close = find_close(effects, *link);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, env::close_code::kCancelled);
  EXPECT_GT(m.next_deadline(), at);
}

}  // namespace
}  // namespace smalti::discovery
