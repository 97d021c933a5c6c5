// real::Runtime: the real backend's event loop, one Boost.Asio io_context run by one thread.
//
// It is the Executor and the Clock of every node it hosts: posts and timers run on the thread
// that called run(), monotonic time is std::chrono::steady_clock and wall time system_clock.
// run() returns after stop() (callable from any thread or a signal) or, with
// stop_on_signals(), after SIGINT or SIGTERM. Asio stays out of this header: the transport
// reaches the io_context through io_context().
//
// Threading: post() and stop() may be called from any thread; everything else, and every
// callback, runs on the thread inside run().
#pragma once

#include <functional>
#include <memory>

#include "smalti/env/clock.hpp"
#include "smalti/env/executor.hpp"

namespace boost::asio {
class io_context;
}

namespace smalti::real {

class Runtime final : public env::Executor, public env::Clock {
 public:
  Runtime();
  ~Runtime() override;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // env::Clock
  Instant monotonic() const override;
  WallTime wall() const override;

  // env::Executor
  void post(env::Task fn) override;
  env::TimerId schedule_at(Instant at, env::Task fn) override;
  void cancel(env::TimerId id) override;

  // Runs the loop until stop(). Returns the signal number that stopped it, or 0.
  int run();
  // Runs the loop for at most `d` (tests), or until stop().
  void run_for(Duration d);
  void stop();
  // SIGINT and SIGTERM call `on_signal(signo)` on the loop (default: stop()).
  void stop_on_signals(std::function<void(int)> on_signal = {});

  boost::asio::io_context& io_context();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smalti::real
