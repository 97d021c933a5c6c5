// libFuzzer target for discovery: discovery::decode_message and DiscoveryMachine.
//
// The raw input is first decoded as one discovery frame: a frame that decodes must re-encode to
// the very same bytes and decode again to an equal message; anything else must be rejected with
// kMalformed or kLimitExceeded (always kLimitExceeded past kMaxMessageSize).
//
// Then the input drives a started DiscoveryMachine with no peer machine behind it. Byte 0 picks
// the Config; after that each step is an opcode byte (low 3 bits: the input, next 2 bits: a link
// slot, top 3 bits: a modifier) and its arguments:
//   0 accept an inbound link from one of four peers, on either channel, into the slot
//   1 a raw frame (two length bytes, then the bytes) on the slot's link
//   2 a well-formed message built from the next bytes (signed entries of known peers, stamps,
//     departures, ...) on the slot's link: this reaches the states random bytes cannot
//   3 time passes (the modifier scales it, or jumps to next_deadline()), then handle_timeout
//   4 an outbound link the machine asked for comes up (into the slot) or fails
//   5 the slot's link goes down
//   6 a command: update_local, sync_with, dial, feed, insert, remove, clear_unsigned, an RTT
//     sample, or (rarely) depart
// After every step every effect is pulled and checked, and so is the machine:
//   - invariants() holds; after a timeout nothing is due any more (next_deadline() > now);
//   - every Send carries a frame that decodes and fits in kMaxMessageSize, on a link the machine
//     was given or opened and that has not ended; no Close on an ended link;
//   - Connect never names the local peer; events never name it; SyncDone answers a sync_with
//     once.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "smalti/base/assert.hpp"
#include "smalti/discovery/discovery_machine.hpp"
#include "smalti/discovery/messages.hpp"

namespace {

namespace discovery = smalti::discovery;
using smalti::Bytes;
using smalti::ByteView;
using smalti::Digest;
using smalti::Duration;
using smalti::Instant;
using smalti::PeerAddr;
using smalti::PeerId;
using smalti::SecretKey;
using smalti::StatusCode;
using smalti::WallTime;
using namespace std::chrono_literals;

const smalti::NetworkId kNetwork = Digest::from_string("smalti-fuzz-net");
constexpr WallTime kWall0 = WallTime::from_unix_nanos(1'767'225'600'000'000'000);
constexpr Instant kT0 = Instant::from_nanos(1'000'000'000);
// Node 0 is the machine; 1..3 are peers with links; 4 only appears in entries and stamps.
constexpr std::size_t kKeys = 5;
constexpr std::size_t kVersions = 4;
constexpr std::size_t kSlots = 4;
constexpr std::size_t kMaxPendingConnects = 16;

using Input = smalti::fuzz::FuzzInput;

// Keys, addresses, entries and departures, signed once for every run.
struct Fixtures {
  std::vector<SecretKey> keys;
  std::vector<PeerAddr> addrs;
  // entries[k][v]: peer k's entry at version v (v seconds after kWall0, more tags each time).
  std::vector<std::vector<discovery::SignedPeerEntry>> entries;
  std::vector<std::vector<discovery::Departure>> departures;

  Fixtures() {
    for (std::size_t k = 0; k < kKeys; ++k) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(k + 1);
      seed[1] = 0xf2;
      keys.push_back(SecretKey::from_seed(seed).value());
      addrs.push_back(PeerAddr{keys[k].peer_id(), {"sim:" + std::to_string(k)}});
      entries.emplace_back();
      departures.emplace_back();
      for (std::size_t v = 0; v < kVersions; ++v) {
        const WallTime at = kWall0 + std::chrono::seconds(v);
        discovery::PeerEntry e = discovery::make_entry(kNetwork, addrs[k], kWall0);
        e.version.update_ms = at.unix_millis();
        for (std::size_t t = 0; t < v; ++t) e.tags.insert(Digest::from_u64(t));
        entries[k].push_back(discovery::SignedPeerEntry::sign(e, keys[k]).value());
        departures[k].push_back(discovery::Departure::sign(keys[k], e.version, at.unix_millis()));
      }
    }
  }
};

const Fixtures& fixtures() {
  static const Fixtures f;
  return f;
}

void check_decode(ByteView raw) {
  smalti::fuzz::check_canonical_decode(
      raw, [](ByteView b) { return discovery::decode_message(b); }, discovery::kMaxMessageSize);
}

class Driver {
 public:
  explicit Driver(discovery::Config config)
      : f_(fixtures()), m_(std::move(config), f_.keys[0], f_.addrs[0], 7) {
    m_.start(now_, wall_);
    step_done(false);
  }

  void run(Input& in) {
    while (!in.empty()) {
      const std::uint8_t op = in.byte();
      const std::size_t slot = (op >> 3) % kSlots;
      const std::uint8_t mod = op >> 5;
      bool timed_out = false;
      switch (op & 7) {
        case 0:
          accept(slot, in.byte());
          break;
        case 1: {
          const std::size_t len = in.byte() | (std::size_t{in.byte()} << 8);
          const ByteView raw = in.take(len);
          check_decode(raw);
          frame(slot, raw);
          break;
        }
        case 2:
          frame(slot, smalti::encode(craft(in, slot)));
          break;
        case 3:
          timed_out = timeout(mod, in.byte());
          break;
        case 4:
          connect(slot, in.byte(), mod & 1);
          break;
        case 5:
          if (slots_[slot]) link_down(slots_[slot]->token);
          break;
        case 6:
          command(in, mod);
          break;
        default: {  // a raw frame on any token, maybe one the machine never handed out
          const discovery::LinkToken token = in.byte();
          const ByteView raw = in.take(in.byte());
          m_.handle_frame(now_, wall_, token, raw);
          break;
        }
      }
      step_done(timed_out);
    }
    // Far in the future: everything expires and purges, and nothing crashes.
    advance(1h);
    m_.handle_timeout(now_, wall_);
    step_done(true);
  }

 private:
  struct Slot {
    discovery::LinkToken token = 0;
    std::size_t peer = 1;  // index into the fixtures
  };

  void advance(Duration d) {
    now_ += d;
    wall_ = wall_ + d;
  }

  const discovery::SignedPeerEntry& entry(std::uint8_t b) const {
    return f_.entries[b % kKeys][(b / kKeys) % kVersions];
  }

  discovery::Stamp stamp(std::uint8_t b, std::uint8_t v) const {
    // Known peers (including the local one) or made-up ids, at small or fixture versions.
    const PeerId peer = b < 128 ? f_.keys[b % kKeys].peer_id() : PeerId{Digest::from_u64(b)};
    const std::int64_t start = kWall0.unix_millis();
    return discovery::Stamp{peer, discovery::EntryVersion{start, start + 1000 * (v % 8) - 1}};
  }

  std::vector<discovery::Stamp> stamps(Input& in) {
    std::vector<discovery::Stamp> out;
    const std::uint8_t n = in.byte();
    if (n >= 240) {
      // Many distinct made-up peers: past max_entries, to hit the summary bound.
      for (std::uint64_t i = 0; i < 16u * (n - 239); ++i) {
        out.push_back(discovery::Stamp{PeerId{Digest::from_u64(1000 + i)}, {1, 1}});
      }
      return out;
    }
    for (std::uint8_t i = 0; i < n % 8; ++i) {
      const std::uint8_t b = in.byte();
      out.push_back(stamp(b, in.byte()));
    }
    return out;
  }

  discovery::Message craft(Input& in, std::size_t slot) {
    const std::uint8_t kind = in.byte();
    const std::uint8_t arg = in.byte();
    // Mostly the link's own peer, sometimes any peer.
    const std::size_t own = slots_[slot] ? slots_[slot]->peer : 1;
    const std::uint8_t pick =
        (arg & 0x80) ? arg : static_cast<std::uint8_t>(own + kKeys * ((arg >> 2) % kVersions));
    switch (kind % 10) {
      case 0:
        return discovery::Join{entry(pick), (arg & 1) != 0};
      case 1:
        return discovery::JoinReply{entry(pick), (arg & 1) != 0};
      case 2:
        return discovery::Summary{stamps(in), (arg & 1) != 0};
      case 3: {
        discovery::Entries out;
        for (std::uint8_t i = 0; i < arg % 6; ++i) out.entries.push_back(entry(in.byte()));
        out.last = (kind & 0x10) != 0;
        return out;
      }
      case 4:
        return discovery::Gossip{entry(arg)};
      case 5:
        return discovery::IHave{stamps(in)};
      case 6:
        return discovery::Graft{stamp(arg, in.byte())};
      case 7:
        return discovery::Prune{};
      case 8: {
        discovery::Departure d = f_.departures[arg % kKeys][(arg / kKeys) % kVersions];
        if (kind & 0x10) d.at_ms += in.byte();  // breaks the signature
        return d;
      }
      default:
        return discovery::Disconnect{};
    }
  }

  void accept(std::size_t slot, std::uint8_t arg) {
    const std::size_t peer = 1 + arg % 4;  // 4: a peer the machine never hears of otherwise
    const auto channel = (arg & 0x10) ? discovery::Channel::kSync : discovery::Channel::kAnnounce;
    auto token = m_.handle_accepted(now_, wall_, f_.keys[peer].peer_id(), channel);
    if (!token) return;
    SMALTI_ASSERT(!known_.count(*token), "a link token was handed out twice");
    known_.insert(*token);
    slots_[slot] = Slot{*token, peer};
  }

  void frame(std::size_t slot, ByteView bytes) {
    if (slots_[slot]) m_.handle_frame(now_, wall_, slots_[slot]->token, bytes);
  }

  bool timeout(std::uint8_t mod, std::uint8_t dt) {
    if (mod == 7) {
      if (m_.next_deadline() != Instant::max()) now_ = std::max(now_, m_.next_deadline());
      wall_ = kWall0 + (now_ - kT0);
    } else {
      static constexpr Duration kScale[] = {1ms, 10ms, 100ms, 1s, 1s, 10s, 10s};
      advance(kScale[mod] * dt);
    }
    m_.handle_timeout(now_, wall_);
    return true;
  }

  void connect(std::size_t slot, std::uint8_t pick, bool up) {
    if (pending_.empty()) return;
    const std::size_t i = pick % pending_.size();
    const smalti::effect::Connect c = pending_[i];
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!up) return link_down(c.link);
    std::size_t peer = kKeys - 1;
    for (std::size_t k = 1; k < kKeys; ++k) {
      if (f_.keys[k].peer_id() == c.addr.id) peer = k;
    }
    slots_[slot] = Slot{c.link, peer};
    m_.handle_connected(now_, wall_, c.link);
  }

  void link_down(discovery::LinkToken token) {
    m_.handle_link_closed(now_, wall_, token);
    dead_.insert(token);
    for (auto& s : slots_) {
      if (s && s->token == token) s.reset();
    }
  }

  void command(Input& in, std::uint8_t mod) {
    const std::uint8_t arg = in.byte();
    const std::size_t peer = 1 + arg % (kKeys - 1);
    switch (in.byte() % 10) {
      case 0:
        m_.update_local(now_, wall_,
                        [&](discovery::PeerEntry& e) { e.tags.insert(Digest::from_u64(arg)); });
        break;
      case 1:
        syncs_.insert(m_.sync_with(now_, wall_, f_.addrs[(arg & 0x80) ? 0 : peer]));
        break;
      case 2:
        m_.dial(now_, wall_, {f_.addrs[(arg & 0x80) ? 0 : peer]});
        break;
      case 3:
        (void)m_.feed(now_, wall_, entry(arg));
        break;
      case 4:
        m_.insert(entry(arg).entry);
        break;
      case 5:
        m_.remove(f_.keys[arg % kKeys].peer_id());
        break;
      case 6:
        m_.clear_unsigned();
        break;
      case 7:
        m_.handle_rtt_sample(now_, f_.keys[arg % kKeys].peer_id(), Duration(arg) * 1'000'000);
        break;
      default:
        if (mod == 7 && arg == 0xff) m_.depart(now_, wall_);
        break;
    }
  }

  void step_done(bool timed_out) {
    m_.invariants();
    if (timed_out && !m_.departed()) {
      SMALTI_ASSERT(m_.next_deadline() > now_, "a deadline is still due after handle_timeout");
    }
    while (auto effect = m_.poll_effect()) check(*effect);
    m_.invariants();
  }

  void check(const discovery::Effect& effect) {
    const PeerId& self = f_.keys[0].peer_id();
    if (const auto* c = std::get_if<smalti::effect::Connect>(&effect)) {
      SMALTI_ASSERT(c->addr.id != self, "asked to connect to itself");
      SMALTI_ASSERT(c->link != 0 && !known_.count(c->link), "a link token was handed out twice");
      known_.insert(c->link);
      if (pending_.size() >= kMaxPendingConnects) {
        link_down(pending_.front().link);
        pending_.erase(pending_.begin());
      }
      pending_.push_back(*c);
    } else if (const auto* s = std::get_if<smalti::effect::Send>(&effect)) {
      SMALTI_ASSERT(known_.count(s->link) && !dead_.count(s->link), "a Send on a link not open");
      SMALTI_ASSERT(s->frame.size() <= discovery::kMaxMessageSize, "an oversized frame was sent");
      auto decoded = discovery::decode_message(s->frame);
      SMALTI_ASSERT(decoded.is_ok(), "the machine sent a frame that does not decode");
    } else if (const auto* c = std::get_if<smalti::effect::Close>(&effect)) {
      SMALTI_ASSERT(known_.count(c->link) && !dead_.count(c->link), "a Close on a link not open");
      dead_.insert(c->link);
      for (auto& slot : slots_) {
        if (slot && slot->token == c->link) slot.reset();
      }
      std::erase_if(pending_, [&](const smalti::effect::Connect& p) { return p.link == c->link; });
    } else if (const auto* e = std::get_if<smalti::effect::Deliver<discovery::Event>>(&effect)) {
      const PeerId named = std::visit(
          [](const auto& v) -> PeerId {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, discovery::PeerDeparted>) {
              return v.peer;
            } else {
              return v.entry.id();
            }
          },
          e->value);
      SMALTI_ASSERT(named != self, "an event about the local peer");
    } else if (const auto* d = std::get_if<discovery::SyncDone>(&effect)) {
      SMALTI_ASSERT(syncs_.count(d->id) && !synced_.count(d->id), "an unexpected SyncDone");
      synced_.insert(d->id);
    } else {
      SMALTI_ASSERT(std::get<discovery::Probe>(effect).addr.id != self, "a probe of itself");
    }
  }

  const Fixtures& f_;
  Instant now_ = kT0;
  WallTime wall_ = kWall0;
  discovery::DiscoveryMachine m_;
  std::array<std::optional<Slot>, kSlots> slots_;
  std::vector<smalti::effect::Connect> pending_;
  std::set<discovery::LinkToken> known_;
  std::set<discovery::LinkToken> dead_;
  std::set<discovery::SyncId> syncs_;
  std::set<discovery::SyncId> synced_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(ByteView(data, size));
  Input in(data, size);
  const std::uint8_t c = in.byte();
  discovery::Config config(kNetwork);
  config.active_view = 1 + c % 3;
  config.max_active_view = config.active_view + (c >> 2) % 3;
  config.max_entries = 3 + (c >> 4) % 8;
  Driver driver(config);
  driver.run(in);
  return 0;
}
