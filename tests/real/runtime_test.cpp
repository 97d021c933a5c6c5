// real::Runtime as an Executor and Clock: timers, cancellation, posts from other threads.
#include "smalti/real/runtime.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "smalti/real/quic_transport.hpp"

namespace smalti::real {
namespace {

TEST(Runtime, TimersFireInDeadlineOrderAndCancelledOnesNever) {
  Runtime rt;
  std::vector<int> fired;
  const Instant base = rt.monotonic() + 2ms;
  env::TimerId second{};
  rt.schedule_at(base, [&] {
    fired.push_back(1);
    rt.cancel(second);  // already expired too: it must still not run
  });
  second = rt.schedule_at(base + 1us, [&] { fired.push_back(2); });
  rt.schedule_at(base + 2us, [&] { fired.push_back(3); });
  std::this_thread::sleep_for(10ms);  // every timer expires before the loop runs
  rt.run_for(20ms);
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(Runtime, ClocksMoveAndStopEndsRunFromAnotherThread) {
  Runtime rt;
  const Instant t0 = rt.monotonic();
  const WallTime w0 = rt.wall();
  EXPECT_GT(w0.unix_millis(), 1'700'000'000'000);  // after 2023
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    rt.post([&] { rt.stop(); });
  });
  EXPECT_EQ(rt.run(), 0);
  stopper.join();
  EXPECT_GE(rt.monotonic() - t0, 20ms);
}

TEST(QuicTransportConfig, WildcardBindNeedsAnAdvertisedAddressAndAlpnsAreBounded) {
  Runtime rt;
  const SecretKey key = SecretKey::from_seed({}).value();
  QuicTransportOptions wildcard;
  wildcard.bind = "0.0.0.0:0";
  auto refused = QuicTransport::create(rt, key, wildcard);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  wildcard.advertise = "192.0.2.7:7000";
  auto advertised = QuicTransport::create(rt, key, wildcard);
  ASSERT_TRUE(advertised.is_ok()) << advertised.status().to_string();
  EXPECT_EQ((*advertised)->local_addr().addresses[0], "192.0.2.7:7000");
  EXPECT_FALSE((*advertised)->listen(std::string(32, 'a'), [](env::LinkPtr) {}).is_ok());
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE((*advertised)->listen("/x/" + std::to_string(i), [](env::LinkPtr) {}).is_ok());
  }
  EXPECT_FALSE((*advertised)->listen("/x/9", [](env::LinkPtr) {}).is_ok());
}

}  // namespace
}  // namespace smalti::real
