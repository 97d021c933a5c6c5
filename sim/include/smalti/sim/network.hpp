// SimNetwork: the simulated network between the hosts of a World, and its faults.
//
// Links behave like QUIC streams: frames arrive whole and in order per direction. Faults show up
// the way they do over QUIC:
//   - latency: each frame draws a delay from a LatencyModel with a heavy (Pareto) tail; a frame
//     never overtakes an earlier one on the same link;
//   - loss: a lost packet is retransmitted, so loss costs time (retransmit timeouts, doubling);
//     when the retransmissions of one frame keep failing past the idle timeout, the link is
//     reset then, as QUIC would give up;
//   - partitions (symmetric, one-way, flapping) and paused or crashed hosts stall a link; a link
//     stalled for longer than the idle timeout is reset on both sides (CloseInfo kReset);
//     frames stalled for less are delivered once the path heals;
//   - clogging delays every frame of a host or a pair until the clog ends, without resets;
//   - reset_links() resets links at once, as a middlebox or NAT rebinding would.
// Connecting takes one round trip; it fails with kTimeout when the target cannot be reached
// within the connect timeout, kNotFound when nothing listens on the ALPN, and
// kPermissionDenied when the target's key is not the expected PeerId.
// Single-threaded (the simulator's thread); hosts see callbacks as events of their own.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "smalti/base/rng.hpp"
#include "smalti/base/rtt_estimator.hpp"
#include "smalti/env/link_inbox.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/sim/event_queue.hpp"

namespace smalti::sim {

class World;

struct LatencyModel {
  Duration min = 200us;
  Duration median = 1ms;
  // Probability that a frame falls in the heavy tail, and the tail's cap.
  double tail_probability = 0.01;
  Duration tail_max = 100ms;

  Duration sample(Rng& rng) const;
};

struct NetworkConfig {
  LatencyModel latency;
  // Probability that a packet is lost (and retransmitted).
  double loss = 0.0;
  // First retransmission delay after a loss; doubles per consecutive loss of one frame.
  Duration retransmit_timeout = 50ms;
  Duration idle_timeout = 10s;
  Duration connect_timeout = 5s;
  std::size_t max_frame_size = 16u << 20;
  // Bytes queued in one direction of a link; beyond it send() pushes back (kLimitExceeded).
  std::size_t max_in_flight_bytes = 64u << 20;
  // Frames that arrive before a handler is set are held, up to this many frames and bytes; past
  // either bound the link is reset (never a silent gap in the stream).
  std::size_t max_unclaimed_frames = 1024;
  std::size_t max_unclaimed_bytes = 16u << 20;
};

// Most retransmissions of one frame that the loss model draws (a bound on its loop).
inline constexpr int kMaxRetransmissions = 32;
// Bytes charged per queued frame on top of its payload, so empty frames are bounded too.
inline constexpr std::size_t kFrameOverhead = 64;
// The shortest flapping period accepted.
inline constexpr Duration kMinFlapPeriod = 1ms;

struct NetworkStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_delivered = 0;
  std::uint64_t bytes_delivered = 0;
  std::uint64_t frames_delayed_by_loss = 0;
  std::uint64_t frames_stalled = 0;
  std::uint64_t links_opened = 0;
  std::uint64_t links_reset = 0;
  std::uint64_t links_closed = 0;
  std::uint64_t connects_failed = 0;
};

using LinkId = std::uint64_t;
using PartitionId = std::uint64_t;

class SimLinkEnd;

class SimNetwork {
 public:
  SimNetwork(World& world, Rng rng, NetworkConfig config);
  ~SimNetwork();

  const NetworkConfig& config() const { return config_; }
  void set_latency(const LatencyModel& model) { config_.latency = model; }
  void set_loss(double probability) { config_.loss = probability; }
  void set_idle_timeout(Duration d) { config_.idle_timeout = d; }

  // Blocks traffic from every host of `from` to every host of `to` (one-way).
  PartitionId partition_one_way(const std::vector<HostId>& from, const std::vector<HostId>& to);
  // Blocks traffic both ways between the two sides.
  PartitionId partition(const std::vector<HostId>& side_a, const std::vector<HostId>& side_b);
  void heal(PartitionId id);
  void heal_all();
  // Partitions and heals the two sides alternately every `period` until `until`.
  void flap(const std::vector<HostId>& side_a, const std::vector<HostId>& side_b, Duration period,
            Instant until);
  // Holds every frame to or from `host` (or between a and b) until now + duration.
  void clog_host(HostId host, Duration duration);
  void clog_pair(HostId a, HostId b, Duration duration);
  // Resets every open link of `host` (with `other` only, when given).
  void reset_links(HostId host, std::optional<HostId> other = std::nullopt);

  bool is_blocked(HostId from, HostId to) const;
  const NetworkStats& stats() const { return stats_; }
  std::size_t open_links() const { return links_.size(); }

  // ---- for the World and the simulated transport ----------------------------------------
  void connect(HostId from, const PeerAddr& addr, const std::string& alpn, env::ConnectFn done);
  void on_host_down(HostId host);       // crashed: its ends are gone, remotes idle out
  void on_host_restarted(HostId host);  // remotes learn at once (stateless reset)
  void on_reachability_changed();

  // ---- for SimLinkEnd --------------------------------------------------------------------
  Status send(LinkId link, int side, Bytes& frame);  // moves the frame only on success
  void close(LinkId link, int side, std::uint32_t code, std::string reason);
  Duration rtt(LinkId link) const;
  // The same for both ends of a link, different for every link and label; seeded.
  Digest link_secret(LinkId link, std::string_view label) const;

 private:
  struct InFlight {
    Bytes frame;
    Instant deliver_at;
    Instant sent_at;
    bool is_close = false;
    std::uint32_t close_code = 0;
    std::string close_reason;
    bool stalled = false;  // waited for a path to heal
  };
  struct Direction {
    std::deque<InFlight> queue;
    std::size_t bytes = 0;
    Instant last_delivery;
    bool scheduled = false;
    bool stalled = false;
  };
  struct LinkState {
    LinkId id = 0;
    HostId host[2] = {0, 0};  // [0] dialer, [1] acceptor
    std::string alpn;
    std::uint32_t incarnation[2] = {0, 0};
    std::weak_ptr<SimLinkEnd> end[2];
    Direction dir[2];  // dir[s]: frames from side s to side 1 - s
    std::optional<Instant> blocked_since;
    RttEstimator rtt;
  };

  Duration one_way_delay();
  bool path_open(HostId from, HostId to) const;
  Instant clog_release(HostId from, HostId to) const;
  void schedule_direction(LinkState& link, int side);
  void deliver_head(LinkId id, int side);
  void reset_link(LinkId id, const std::string& reason);
  struct PendingConnect {
    HostId from;
    std::uint32_t from_incarnation;
    HostId to;
    std::uint32_t to_incarnation;
    PeerId expected;
    std::string alpn;
    Duration handshake_rtt;
  };
  void finish_connect(const PendingConnect& pending, env::ConnectFn done);
  void fail_connect(HostId from, std::uint32_t incarnation, Instant at, Status status,
                    env::ConnectFn done);
  void check_idle(LinkId id, Instant blocked_since);
  std::optional<HostId> parse_host(const PeerAddr& addr) const;

  World& world_;
  Rng rng_;
  Digest secret_salt_;  // drawn from the seed: link secrets differ between worlds
  NetworkConfig config_;
  NetworkStats stats_;
  std::map<LinkId, LinkState> links_;
  LinkId next_link_ = 1;
  // A partition blocks traffic from every host of `from` to every host of `to`.
  struct Partition {
    std::set<HostId> from;
    std::set<HostId> to;
  };
  std::map<PartitionId, Partition> partitions_;
  std::map<PartitionId, PartitionId> pair_of_;  // a two-way partition's reverse half
  PartitionId next_partition_ = 1;
  std::map<HostId, Instant> host_clogs_;
  std::map<std::pair<HostId, HostId>, Instant> pair_clogs_;
};

// One side of a simulated link, handed to node code as an env::Link.
class SimLinkEnd final : public env::Link, public std::enable_shared_from_this<SimLinkEnd> {
 public:
  SimLinkEnd(SimNetwork& network, LinkId id, int side, PeerId remote, std::string alpn,
             env::LinkInbox::Limits limits)
      : network_(network),
        id_(id),
        side_(side),
        remote_(remote),
        alpn_(std::move(alpn)),
        inbox_(limits) {}
  ~SimLinkEnd() override;

  const PeerId& remote() const override { return remote_; }
  const std::string& alpn() const override { return alpn_; }
  void set_handler(env::LinkHandler* handler) override;
  Status send(Bytes&& frame) override;
  Duration rtt() const override { return network_.rtt(id_); }
  Digest secret(std::string_view label) const override { return network_.link_secret(id_, label); }
  bool is_open() const override { return inbox_.open(); }
  void close(std::uint32_t code, std::string reason) override;

  // Called by the network (env::LinkInbox says what each does).
  // False when the frame could not be held (no handler yet and the hold is full).
  bool deliver(Bytes frame);
  void closed(const env::CloseInfo& info);  // mark_closed() then notify_closed()
  void mark_closed(const env::CloseInfo& info);
  void notify_closed();
  void detach() { inbox_.close_locally(); }

 private:
  SimNetwork& network_;
  LinkId id_;
  int side_;
  PeerId remote_;
  std::string alpn_;
  env::LinkInbox inbox_;
};

}  // namespace smalti::sim
