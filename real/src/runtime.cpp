#include "smalti/real/runtime.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <map>
#include <utility>  // before Asio: Boost 1.74's Asio misses it under C++20

namespace smalti::real {

struct Runtime::Impl {
  boost::asio::io_context io;
  // Timers by id; a timer removes itself when it fires or is cancelled.
  std::map<std::uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers;
  std::uint64_t next_timer = 1;
  std::unique_ptr<boost::asio::signal_set> signals;
  std::function<void(int)> on_signal;
  int stopped_by = 0;
};

Runtime::Runtime() : impl_(std::make_unique<Impl>()) {}

Runtime::~Runtime() {
  // Destroying a timer cancels its wait without throwing (cancel() throws on failure, and a
  // destructor must not); the handlers are never run, as the io_context does not run again.
  impl_->timers.clear();
}

Instant Runtime::monotonic() const {
  return Instant::from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

WallTime Runtime::wall() const {
  return WallTime::from_unix_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
}

void Runtime::post(env::Task fn) {
  boost::asio::post(impl_->io, std::move(fn));
}

env::TimerId Runtime::schedule_at(Instant at, env::Task fn) {
  const std::uint64_t id = impl_->next_timer++;
  auto timer = std::make_unique<boost::asio::steady_timer>(impl_->io);
  timer->expires_at(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(at.since_origin().count())));
  timer->async_wait([this, id, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    // A timer that expired but was cancelled before its handler ran must not fire.
    auto it = impl_->timers.find(id);
    if (it == impl_->timers.end()) return;
    // Keep the timer object alive until this handler returns.
    std::shared_ptr<boost::asio::steady_timer> self(std::move(it->second));
    impl_->timers.erase(it);
    fn();
  });
  impl_->timers.emplace(id, std::move(timer));
  return env::TimerId{id, 0};
}

void Runtime::cancel(env::TimerId id) {
  auto it = impl_->timers.find(id.value);
  if (it == impl_->timers.end()) return;
  it->second->cancel();
  // The handler still runs (with operation_aborted): keep the timer alive until then.
  boost::asio::post(impl_->io,
                    [timer = std::shared_ptr<boost::asio::steady_timer>(std::move(it->second))] {});
  impl_->timers.erase(it);
}

int Runtime::run() {
  impl_->io.restart();
  auto guard = boost::asio::make_work_guard(impl_->io);
  impl_->io.run();
  return impl_->stopped_by;
}

void Runtime::run_for(Duration d) {
  impl_->io.restart();
  auto guard = boost::asio::make_work_guard(impl_->io);
  impl_->io.run_for(std::chrono::nanoseconds(d.count()));
}

void Runtime::stop() {
  impl_->io.stop();
}

namespace {

// Waits for the next signal; re-arms itself while a handler wants more.
void arm_signals(Runtime& runtime, boost::asio::signal_set& signals,
                 const std::function<void(int)>& on_signal, int& stopped_by) {
  signals.async_wait([&runtime, &signals, &on_signal, &stopped_by](
                         const boost::system::error_code& ec, int signo) {
    if (ec) return;
    stopped_by = signo;
    if (!on_signal) {
      runtime.stop();
      return;
    }
    on_signal(signo);
    arm_signals(runtime, signals, on_signal, stopped_by);
  });
}

}  // namespace

void Runtime::stop_on_signals(std::function<void(int)> on_signal) {
  impl_->on_signal = std::move(on_signal);
  impl_->signals = std::make_unique<boost::asio::signal_set>(impl_->io, SIGINT, SIGTERM);
  arm_signals(*this, *impl_->signals, impl_->on_signal, impl_->stopped_by);
}

boost::asio::io_context& Runtime::io_context() {
  return impl_->io;
}

}  // namespace smalti::real
