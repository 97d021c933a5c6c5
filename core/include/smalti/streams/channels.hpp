// What the streams machines and handles say about a stream's channels (one per producer-consumer
// link) and the peers at their other ends:
//
//   PeerInfo           what a `require` predicate sees of a peer (its entry and RTT, borrowed);
//   PeerFacts          the same, owned, as machine inputs carry it (the entry is a snapshot);
//   ChannelConditions  a condition over the connected channels (mosaik's ChannelConditions):
//                      online_when on both sides, and when().subscribed();
//   SendBackoff        the wait before a refused send is tried again, per link;
//   Stats, ChannelState, Backoff.
//
//   // Online once two connected consumers carry the tag "eu" and produce no other stream.
//   auto c = ChannelConditions().minimum_of(2).with_tag(Tag::from_string("eu")).with_predicate(
//       [](const discovery::PeerEntry& e) { return e.streams.empty(); });
//
// Value types; not synchronised. Predicates are user code: they must be cheap and must not call
// back into the network.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "smalti/base/time.hpp"
#include "smalti/discovery/peer_entry.hpp"

namespace smalti::streams {

using StreamId = Digest;

// A producer's per-subscription queue, and a consumer's credit window (buffer_size), is at most
// this long.
inline constexpr std::size_t kMaxBufferSize = 1u << 16;
// A send the link refused (back-pressure) is tried again after kSendRetryMin, doubling per
// refusal in a row up to kSendRetryMax (SendBackoff).
inline constexpr Duration kSendRetryMin = 5ms;
inline constexpr Duration kSendRetryMax = 1s;
// Refusals in a row after which a link counts as stuck (the producer cuts it with TooSlow; the
// consumer opens a new one).
inline constexpr std::uint32_t kMaxSendRefusals = 64;

// The refusals in a row of one link's sends, and the wait before the next try: kSendRetryMin
// after the first refusal of a run, doubling per further refusal up to kSendRetryMax. A send the
// link accepted ends the run, so a link that refuses now and then (a send queue that fills for a
// moment) is retried soon each time, and only one that refuses every try backs off to
// kSendRetryMax and, past kMaxSendRefusals, counts as stuck.
//
// The machine counts every Send it emits on the link (sent()). It relies on the driver's
// contract (runtime/detail/effect_loop.hpp, link_effects.hpp): a refusal is reported as the send
// is executed, before the next effect is pulled. So of the sends emitted since the last refusal,
// all but the refused one and those still waiting in the effect queue behind it were accepted.
class SendBackoff {
 public:
  // A Send on the link was emitted.
  void sent() { ++emitted_; }
  // `n` emitted Sends were taken back out of the effect queue, unsent (to be emitted again).
  void withdrawn(std::uint64_t n) { emitted_ -= std::min(n, emitted_); }
  // The link refused a send; `untried` of the Sends emitted after it are still in the effect
  // queue (they will be tried). Returns the wait before the retry.
  Duration refused(std::uint64_t untried = 0) {
    if (emitted_ > untried + 1) refusals_ = 0;  // a send between the two refusals went out
    emitted_ = untried;
    ++refusals_;
    delay_ = refusals_ == 1 ? kSendRetryMin : std::min<Duration>(2 * delay_, kSendRetryMax);
    return delay_;
  }
  // The link moves again (a credit or a datum came over it): the next refusal starts a new run.
  void reset() { refusals_ = 0; }
  std::uint32_t refusals() const { return refusals_; }
  // More refusals in a row than kMaxSendRefusals.
  bool stuck() const { return refusals_ > kMaxSendRefusals; }

 private:
  std::uint64_t emitted_ = 0;  // sends emitted since the last refusal
  std::uint32_t refusals_ = 0;
  Duration delay_{0};
};

// A peer as the predicates see it: its entry (when the catalog knows it) and its RTT.
struct PeerInfo {
  PeerId id;
  const discovery::PeerEntry* entry = nullptr;
  std::optional<Duration> rtt;
  bool has_tag(const Tag& t) const { return entry && entry->tags.count(t); }
};
using PeerPredicate = std::function<bool(const PeerInfo&)>;

// A peer as a machine's input carries it: the entry is shared and never changes (a snapshot
// taken when the input was made); a null entry means the catalog did not know the peer.
struct PeerFacts {
  PeerId id;
  std::shared_ptr<const discovery::PeerEntry> entry;
  std::optional<Duration> rtt;
  PeerInfo info() const { return PeerInfo{id, entry.get(), rtt}; }
};
// What the node knows of a peer now (the driver reads its catalog).
using PeerLookup = std::function<PeerFacts(const PeerId&)>;

// A condition over the connected channels of a producer or consumer: at least minimum_of(n)
// of them (default 1) lead to peers whose entry, as captured when the channel opened, carries
// every tag of with_tags() and passes every with_predicate(); unmet() inverts it. A channel
// whose peer had no entry counts only when there are no tags and no predicates.
class ChannelConditions {
 public:
  using EntryPredicate = std::function<bool(const discovery::PeerEntry&)>;

  ChannelConditions minimum_of(std::size_t n) const {
    ChannelConditions c = *this;
    c.minimum_ = n;
    return c;
  }
  // The peer must carry every one of `tags` (stackable).
  ChannelConditions with_tags(const std::set<Tag>& tags) const {
    ChannelConditions c = *this;
    c.tags_.insert(tags.begin(), tags.end());
    return c;
  }
  ChannelConditions with_tag(const Tag& tag) const { return with_tags({tag}); }
  // The peer's entry must pass `predicate` (stackable: all must pass).
  ChannelConditions with_predicate(EntryPredicate predicate) const {
    ChannelConditions c = *this;
    c.predicates_.push_back(std::move(predicate));
    return c;
  }
  // The inverse condition (twice: the condition itself).
  ChannelConditions unmet() const {
    ChannelConditions c = *this;
    c.inverted_ = !inverted_;
    return c;
  }

  // Whether a connected channel to a peer with `entry` (null: unknown) counts.
  bool counts(const discovery::PeerEntry* entry) const {
    if (tags_.empty() && predicates_.empty()) return true;
    if (!entry) return false;
    for (const Tag& t : tags_) {
      if (!entry->tags.count(t)) return false;
    }
    for (const EntryPredicate& p : predicates_) {
      if (!p(*entry)) return false;
    }
    return true;
  }
  // Whether the condition holds when `counted` connected channels count.
  bool met_with(std::size_t counted) const { return (counted >= minimum_) != inverted_; }

  std::size_t minimum() const { return minimum_; }
  const std::set<Tag>& tags() const { return tags_; }
  bool inverted() const { return inverted_; }
  bool has_predicates() const { return !predicates_.empty(); }
  // Equal minimum, tags and sense, and no predicates on either (functions do not compare).
  bool same_as(const ChannelConditions& other) const {
    return minimum_ == other.minimum_ && tags_ == other.tags_ && inverted_ == other.inverted_ &&
           predicates_.empty() && other.predicates_.empty();
  }

 private:
  std::size_t minimum_ = 1;
  std::set<Tag> tags_;
  std::vector<EntryPredicate> predicates_;
  bool inverted_ = false;
};

// What went over a channel (or all of a consumer's channels): datums and their payload bytes
// (without framing), and how long it has been connected (none while it is not).
struct Stats {
  std::uint64_t datums = 0;
  std::uint64_t bytes = 0;
  std::optional<Duration> uptime;
  friend bool operator==(const Stats&, const Stats&) = default;
};
// "uptime: 1.5s, datums: 3, bytes: 18" ("uptime: none" while disconnected).
std::string to_string(const Stats& stats);

enum class ChannelState : std::uint8_t {
  kConnecting,  // the link is opening, or the Subscribe is out and the Start has not come
  kConnected,   // datums flow
  kWaiting,     // the link ended; it is opened again after a backoff
  kTerminated,  // refused for good; only a later catalog change brings it back
};

// A consumer's reconnection backoff: the first wait, its growth per failure, its cap. Each wait
// is jittered to 0.5x..1.5x; it starts afresh once data flows.
struct Backoff {
  Duration initial = 500ms;
  double multiplier = 1.5;
  Duration max = 60s;
  friend bool operator==(const Backoff&, const Backoff&) = default;
};

}  // namespace smalti::streams
