// etcd_load: a small load generator for etcd's v3 KV.Put over gRPC (Debian's etcd-client ships
// etcdctl but not etcd's `benchmark` tool). It mirrors smalti-node's bench mode
// (real/src/node_bench.hpp): `inflight` callers, each with one Put outstanding at a time, spread
// over `conns` gRPC connections, until `puts` puts completed; then one line:
//
//   etcd inflight=256 puts=100000 key=16 value=64 conns=8 failed=0 seconds=... per_second=...
//        p50_us=... p90_us=... p99_us=... max_us=...                      (one line)
//
// Keys are unique 16-byte strings (a run prefix and a counter), values 64 bytes of filler, the
// sizes of smalti's 80-byte commands. Latency is from the call to the completion of the RPC.
//
//   etcd_load --endpoint 127.0.0.1:2379 --inflight 256 --puts 100000 [--conns 8]
//             [--key-size 16] [--value-size 64] [--prefix a]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "etcd_kv.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string endpoint = "127.0.0.1:2379";
  unsigned inflight = 1;
  unsigned puts = 1000;
  unsigned conns = 1;
  unsigned key_size = 16;
  unsigned value_size = 64;
  std::string prefix = "a";
};

struct Shared {
  Options options;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs;
  std::atomic<unsigned> next{0};
  std::atomic<unsigned> failed{0};
  std::mutex mutex;
  std::condition_variable all_done;
  unsigned callers_left = 0;
};

// One caller: one Put in flight at a time; its latencies are its own (no sharing).
class Caller {
 public:
  Caller(Shared& shared, etcdserverpb::KV::Stub& stub) : shared_(shared), stub_(stub) {}

  void issue() {
    const unsigned n = shared_.next.fetch_add(1);
    if (n >= shared_.options.puts) {
      std::lock_guard lock(shared_.mutex);
      if (--shared_.callers_left == 0) shared_.all_done.notify_one();
      return;
    }
    char key[64];
    std::snprintf(key, sizeof key, "%s%015u", shared_.options.prefix.c_str(), n);
    request_.set_key(std::string(key).substr(0, shared_.options.key_size));
    request_.set_value(std::string(shared_.options.value_size, 'v'));
    context_ = std::make_unique<grpc::ClientContext>();
    const Clock::time_point t0 = Clock::now();
    stub_.async()->Put(context_.get(), &request_, &response_, [this, t0](grpc::Status status) {
      latencies_us.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
      if (!status.ok()) {
        if (shared_.failed.fetch_add(1) == 0) {
          std::fprintf(stderr, "etcd_load: %s\n", status.error_message().c_str());
        }
      }
      issue();
    });
  }

  std::vector<long long> latencies_us;

 private:
  Shared& shared_;
  etcdserverpb::KV::Stub& stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  etcdserverpb::PutRequest request_;
  etcdserverpb::PutResponse response_;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    const auto number = [&] {
      return static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
    };
    if (flag == "--endpoint") {
      o.endpoint = value;
    } else if (flag == "--inflight") {
      o.inflight = number();
    } else if (flag == "--puts") {
      o.puts = number();
    } else if (flag == "--conns") {
      o.conns = number();
    } else if (flag == "--key-size") {
      o.key_size = number();
    } else if (flag == "--value-size") {
      o.value_size = number();
    } else if (flag == "--prefix") {
      o.prefix = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.inflight > 0 && o.puts > 0 && o.conns > 0 && o.key_size >= 16 &&
         o.key_size <= 48;
}

long long percentile(const std::vector<long long>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  if (!parse(argc, argv, shared.options)) {
    std::fprintf(stderr,
                 "usage: etcd_load [--endpoint HOST:PORT] [--inflight N] [--puts N] [--conns N]\n"
                 "                 [--key-size 16..48] [--value-size N] [--prefix TEXT]\n");
    return 2;
  }
  const Options& o = shared.options;
  for (unsigned c = 0; c < o.conns; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("smalti.etcd_load.conn", static_cast<int>(c));  // a connection of its own
    shared.stubs.push_back(etcdserverpb::KV::NewStub(
        grpc::CreateCustomChannel(o.endpoint, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<Caller>> callers;
  const unsigned count = std::min(o.inflight, o.puts);
  for (unsigned i = 0; i < count; ++i) {
    callers.push_back(std::make_unique<Caller>(shared, *shared.stubs[i % o.conns]));
  }
  shared.callers_left = count;
  const Clock::time_point start = Clock::now();
  for (auto& caller : callers) caller->issue();
  {
    std::unique_lock lock(shared.mutex);
    shared.all_done.wait(lock, [&] { return shared.callers_left == 0; });
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<long long> all;
  for (auto& caller : callers) {
    all.insert(all.end(), caller->latencies_us.begin(), caller->latencies_us.end());
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "etcd inflight=%u puts=%u key=%u value=%u conns=%u failed=%u seconds=%.3f per_second=%.0f "
      "p50_us=%lld p90_us=%lld p99_us=%lld max_us=%lld\n",
      o.inflight, o.puts, o.key_size, o.value_size, o.conns, shared.failed.load(), seconds,
      static_cast<double>(o.puts) / seconds, percentile(all, 0.5), percentile(all, 0.9),
      percentile(all, 0.99), all.empty() ? 0 : all.back());
  return shared.failed.load() == 0 ? 0 : 1;
}
