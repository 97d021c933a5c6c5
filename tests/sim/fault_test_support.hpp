// Helpers for the simulator's fault tests: a LinkHandler that records what a link end receives,
// a sink host that accepts links on a test ALPN (re-registered by the node's setup after every
// restart), numbered frames and a blocking-style connect for test code.
//
// Test code drives the World from the test thread between run_for()/run_until() calls; these
// helpers are used from that thread only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "smalti/sim/world.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SMALTI_TEST_HAS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMALTI_TEST_HAS_LSAN 1
#endif
#endif
#ifndef SMALTI_TEST_HAS_LSAN
#define SMALTI_TEST_HAS_LSAN 0
#endif
#if SMALTI_TEST_HAS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace smalti::sim::support {

inline constexpr const char* kSinkAlpn = "/smalti/test/sink/1";

// A frame carrying `n` in its first 8 bytes (little endian), padded to `size` bytes.
inline Bytes numbered(std::uint64_t n, std::size_t size = 8) {
  Bytes b(std::max<std::size_t>(size, 8), 0);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(n >> (8 * i));
  return b;
}

inline std::uint64_t number_of(const Bytes& b) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8 && i < static_cast<int>(b.size()); ++i) {
    n |= static_cast<std::uint64_t>(b[i]) << (8 * i);
  }
  return n;
}

// Records frames (with the global virtual time of arrival) and the closure of one link end.
class Recorder final : public env::LinkHandler {
 public:
  explicit Recorder(const World& world) : world_(&world) {}
  void on_frame(Bytes frame) override {
    numbers.push_back(number_of(frame));
    arrivals.push_back(world_->now());
  }
  void on_closed(const env::CloseInfo& info) override {
    ++close_calls;
    closed = info;
    closed_at = world_->now();
  }

  std::vector<std::uint64_t> numbers;
  std::vector<Instant> arrivals;
  std::optional<env::CloseInfo> closed;
  Instant closed_at;
  int close_calls = 0;

 private:
  const World* world_;
};

// A link end held by test code together with its recorder.
// The recorder is declared first so that the link (which points at it) is released first.
struct Held {
  std::unique_ptr<Recorder> rec;
  env::LinkPtr link;
};

// Accepts every link on kSinkAlpn at one host and records it. Keep it in a shared_ptr captured
// by the host's setup so it outlives every incarnation of the node.
struct Sink {
  explicit Sink(const World& w) : world(&w) {}
  const World* world;
  std::vector<Held> accepted;
  int setups = 0;

  void serve(Network& net) {
    ++setups;
    const Status s = net.node().serve(kSinkAlpn, [this](env::LinkPtr link) {
      Held h{std::make_unique<Recorder>(*world), std::move(link)};
      h.link->set_handler(h.rec.get());
      accepted.push_back(std::move(h));
    });
    EXPECT_TRUE(s.is_ok()) << s.to_string();
  }
  Held& last() { return accepted.back(); }
};

// A node spec whose setup serves the sink (and then runs `more`, if given).
inline NodeSpec sink_node(std::string name, std::shared_ptr<Sink> sink,
                          std::function<void(Network&)> more = {}) {
  NodeSpec spec;
  spec.name = std::move(name);
  spec.setup = [sink, more](Network& net) {
    sink->serve(net);
    if (more) more(net);
  };
  return spec;
}

// Starts a connect from `from` to `to` now; the result lands in *out when the world runs.
inline void start_connect(World& world, HostId from, const PeerAddr& to, const std::string& alpn,
                          std::shared_ptr<std::optional<Result<env::LinkPtr>>> out) {
  Network* net = world.network(from);
  ASSERT_NE(net, nullptr);
  net->node().connect(to, alpn, [out](Result<env::LinkPtr> r) { *out = std::move(r); });
}

// Connects and runs the world until the connect completes (at most `limit`).
inline Result<env::LinkPtr> connect_now(World& world, HostId from, const PeerAddr& to,
                                        const std::string& alpn = kSinkAlpn, Duration limit = 30s) {
  auto out = std::make_shared<std::optional<Result<env::LinkPtr>>>();
  start_connect(world, from, to, alpn, out);
  if (!world.run_until([&] { return out->has_value(); }, limit)) {
    return error(StatusCode::kInternal, "connect did not complete within the test limit");
  }
  return std::move(**out);
}

// Connects `from` to the sink at `to` and attaches a recorder to the dialer's end.
inline Held dial(World& world, HostId from, HostId to) {
  auto r = connect_now(world, from, world.addr(to));
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  Held h{std::make_unique<Recorder>(world), std::move(r).value()};
  h.link->set_handler(h.rec.get());
  return h;
}

inline std::vector<std::uint64_t> iota(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

inline void flap(SimNetwork& net, const std::vector<HostId>& side_a,
                 const std::vector<HostId>& side_b, Duration period, Instant until) {
  net.flap(side_a, side_b, period, until);
}

inline std::uint64_t fault_count(const World& world, std::string_view kind) {
  for (const FaultCount& f : world.faults()) {
    if (f.kind == kind) return f.count;
  }
  return 0;
}

}  // namespace smalti::sim::support
