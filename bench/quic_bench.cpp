// Real QUIC on loopback, sender and receiver in two processes (fork): bulk throughput of one
// link against a raw ngtcp2 baseline measured in the same run (Debian's gtlsserver/gtlsclient,
// the ngtcp2 0.12 examples, downloading the same amount over HTTP/3), and the rate of 16-byte
// frames on one link.
#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "smalti/real/quic_transport.hpp"

namespace {

using namespace smalti;
constexpr const char* kAlpn = "/smalti/bench/1";

SecretKey key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = n;
  return SecretKey::from_seed(seed).value();
}

// The receiving process: counts frames and bytes; answers "done" once `total_frames` arrived.
struct Sink final : env::LinkHandler {
  void on_frame(Bytes frame) override {
    bytes += frame.size();
    if (++frames == total_frames && link) (void)link->send(Bytes{1});
  }
  void on_closed(const env::CloseInfo&) override { runtime->stop(); }
  real::Runtime* runtime = nullptr;
  env::LinkPtr link;
  std::uint64_t total_frames = 0;
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
};

[[noreturn]] void run_receiver(int port_pipe, std::uint64_t total_frames) {
  real::Runtime runtime;
  auto transport = real::QuicTransport::create(runtime, key(2), {}).value();
  Sink sink;
  sink.runtime = &runtime;
  sink.total_frames = total_frames;
  (void)transport->listen(kAlpn, [&](env::LinkPtr link) {
    sink.link = link;
    link->set_handler(&sink);
  });
  const std::string addr = transport->local_addr().addresses[0] + "\n";
  (void)!::write(port_pipe, addr.data(), addr.size());
  ::close(port_pipe);
  runtime.run();
  std::_Exit(0);
}

// Sends `frames` frames of `size` bytes and returns the seconds until the receiver confirmed.
std::optional<double> transfer(std::uint64_t frames, std::size_t size) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    run_receiver(fds[1], frames);
  }
  ::close(fds[1]);
  char buf[128] = {};
  const ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  if (n <= 0) return std::nullopt;
  std::string addr(buf, static_cast<std::size_t>(n));
  addr.pop_back();

  real::Runtime runtime;
  auto transport = real::QuicTransport::create(runtime, key(1), {}).value();
  env::LinkPtr link;
  transport->connect(PeerAddr{key(2).peer_id(), {addr}}, kAlpn, [&](Result<env::LinkPtr> r) {
    if (r.is_ok()) link = *r;
    runtime.stop();
  });
  runtime.run();
  std::optional<double> seconds;
  if (link) {
    struct Done final : env::LinkHandler {
      void on_frame(Bytes) override { runtime->stop(); }
      void on_closed(const env::CloseInfo&) override { runtime->stop(); }
      real::Runtime* runtime;
    } done;
    done.runtime = &runtime;
    link->set_handler(&done);
    const Bytes frame(size, 0x42);
    std::uint64_t sent = 0;
    std::function<void()> pump = [&] {
      // Fill the link until it pushes back, then let the loop run before trying again.
      for (int i = 0; i < 4096 && sent < frames; ++i) {
        if (!link->send(Bytes(frame)).is_ok()) break;  // each send owns its frame, as a user's
        ++sent;
      }
      if (sent < frames) runtime.schedule_at(runtime.monotonic() + 50us, pump);
    };
    const auto start = std::chrono::steady_clock::now();
    runtime.post(pump);
    runtime.run();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    link->close(env::close_code::kSuccess, "done");
    runtime.run_for(50ms);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return seconds;
}

// The same bytes through the ngtcp2 examples (HTTP/3 download of a generated body).
std::optional<double> raw_ngtcp2_seconds(std::uint64_t bytes) {
  if (std::system("command -v gtlsserver >/dev/null && command -v gtlsclient >/dev/null") != 0) {
    return std::nullopt;
  }
  const std::string dir = "/dev/shm/smalti-bench-ngtcp2";
  std::string setup = "rm -rf " + dir + " && mkdir -p " + dir + "/dl && cd " + dir +
                      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                      "-keyout k.pem -out c.pem -days 1 -subj /CN=localhost >/dev/null 2>&1";
  if (std::system(setup.c_str()) != 0) return std::nullopt;
  const std::string window = " --max-window=64M --max-stream-window=32M ";
  const std::string server = "gtlsserver -q --max-dyn-length=2G" + window + "127.0.0.1 4439 " +
                             dir + "/k.pem " + dir + "/c.pem >/dev/null 2>&1 & echo $! > " + dir +
                             "/pid";
  if (std::system(server.c_str()) != 0) return std::nullopt;
  ::usleep(300'000);
  const std::string client = "gtlsclient -q --exit-on-all-streams-close" + window +
                             "--download=" + dir + "/dl 127.0.0.1 4439 https://127.0.0.1:4439/" +
                             std::to_string(bytes) + " >/dev/null 2>&1";
  const auto start = std::chrono::steady_clock::now();
  const int rc = std::system(client.c_str());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (void)std::system(("kill $(cat " + dir + "/pid); rm -rf " + dir).c_str());
  if (rc != 0) return std::nullopt;
  return seconds;
}

void BM_BulkThroughput(benchmark::State& state) {
  const std::uint64_t total = 256ull << 20;
  const std::size_t frame = 64u << 10;
  for (auto _ : state) {
    auto ours = transfer(total / frame, frame);
    if (!ours) {
      state.SkipWithError("smalti transfer failed");
      return;
    }
    state.counters["smalti_MBps"] = static_cast<double>(total) / 1e6 / *ours;
    if (auto raw = raw_ngtcp2_seconds(total)) {
      state.counters["raw_ngtcp2_MBps"] = static_cast<double>(total) / 1e6 / *raw;
      state.counters["ratio"] = *raw / *ours;
    }
  }
}
BENCHMARK(BM_BulkThroughput)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SmallFrames(benchmark::State& state) {
  const std::uint64_t frames = 2'000'000;
  for (auto _ : state) {
    auto seconds = transfer(frames, 16);
    if (!seconds) {
      state.SkipWithError("smalti transfer failed");
      return;
    }
    state.counters["frames_per_second"] = static_cast<double>(frames) / *seconds;
  }
}
BENCHMARK(BM_SmallFrames)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
