// env::Link's one rule for what arrives before a handler is set, and for a remote close, on
// both backends (env::LinkInbox is what both use): frames held in order, the close reported once
// after them, nothing reported after a local close.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "real/cluster.hpp"

namespace smalti::real {
namespace {

using support::Backend;
using support::Cluster;

constexpr const char* kTestAlpn = "/smalti/test/link-rule/1";

class Recorder final : public env::LinkHandler {
 public:
  void on_frame(Bytes frame) override {
    EXPECT_FALSE(closed.has_value()) << "a frame after the close";
    frames.push_back(std::move(frame));
  }
  void on_closed(const env::CloseInfo& info) override {
    EXPECT_FALSE(closed.has_value()) << "the close reported twice";
    closed = info;
  }
  std::vector<Bytes> frames;
  std::optional<env::CloseInfo> closed;
};

class LinkRule : public ::testing::TestWithParam<Backend> {
 protected:
  // Node 1 accepts links on the test ALPN and keeps them without a handler.
  void SetUp() override {
    c.add(NetworkOptions{});
    c.add(NetworkOptions{});
    ASSERT_TRUE(c.net(1)
                    .node()
                    .serve(kTestAlpn, [this](env::LinkPtr link) { accepted.push_back(link); })
                    .is_ok());
  }
  env::LinkPtr dial() {
    std::optional<Result<env::LinkPtr>> link;
    c.net(0).node().connect(c.addr(1), kTestAlpn,
                            [&](Result<env::LinkPtr> l) { link = std::move(l); });
    EXPECT_TRUE(c.run_until([&] { return link.has_value(); }, 10s));
    EXPECT_TRUE(link && link->is_ok());
    return link && link->is_ok() ? **link : nullptr;
  }

  Cluster c{GetParam()};
  std::vector<env::LinkPtr> accepted;
};

TEST_P(LinkRule, FramesAndARemoteCloseBeforeTheHandlerAreDeliveredInOrderWhenItIsSet) {
  env::LinkPtr out = dial();
  ASSERT_NE(out, nullptr);
  Recorder dialer;
  out->set_handler(&dialer);
  for (std::uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(out->send(Bytes(i, i)).is_ok());
  out->close(4242, "done");
  // Give everything time to arrive at node 1, which has set no handler yet.
  ASSERT_TRUE(c.run_until([&] { return !accepted.empty(); }, 10s));
  c.run_until([] { return false; }, 1s);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_FALSE(accepted[0]->is_open()) << "the remote close did not end the link";
  Recorder late;
  accepted[0]->set_handler(&late);
  ASSERT_EQ(late.frames.size(), 3u);
  for (std::uint8_t i = 1; i <= 3; ++i) EXPECT_EQ(late.frames[i - 1], Bytes(i, i));
  ASSERT_TRUE(late.closed.has_value());
  EXPECT_EQ(late.closed->code, 4242u);
  EXPECT_EQ(late.closed->reason, "done");
  EXPECT_TRUE(late.closed->by_remote);
  // Our own close is never reported back.
  EXPECT_FALSE(dialer.closed.has_value());
  EXPECT_TRUE(accepted[0]->send(Bytes{1}).code() == StatusCode::kUnavailable);
}

TEST_P(LinkRule, ARemoteCloseIsReportedAtOnceToAHandlerAndNothingAfterALocalClose) {
  env::LinkPtr out = dial();
  ASSERT_NE(out, nullptr);
  Recorder dialer;
  out->set_handler(&dialer);
  ASSERT_TRUE(c.run_until([&] { return !accepted.empty(); }, 10s));
  Recorder acceptor;
  accepted[0]->set_handler(&acceptor);
  ASSERT_TRUE(out->send(Bytes{7}).is_ok());
  ASSERT_TRUE(c.run_until([&] { return acceptor.frames.size() == 1; }, 10s));
  accepted[0]->close(77, "bye");
  ASSERT_TRUE(c.run_until([&] { return dialer.closed.has_value(); }, 10s));
  EXPECT_EQ(dialer.closed->code, 77u);
  EXPECT_EQ(dialer.closed->reason, "bye");
  EXPECT_TRUE(dialer.closed->by_remote);
  EXPECT_FALSE(out->is_open());
  EXPECT_EQ(out->send(Bytes{8}).code(), StatusCode::kUnavailable);
  c.run_until([] { return false; }, 500ms);
  EXPECT_FALSE(acceptor.closed.has_value()) << "a local close was reported back";
}

TEST_P(LinkRule, ARefusedSendLeavesTheFrameToTheCaller) {
  env::LinkPtr out = dial();
  ASSERT_NE(out, nullptr);
  out->close(1, "gone");
  Bytes frame{1, 2, 3};
  EXPECT_EQ(out->send(std::move(frame)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(frame, (Bytes{1, 2, 3}));  // NOLINT(bugprone-use-after-move): moved only on success
}

INSTANTIATE_TEST_SUITE_P(Backends, LinkRule, ::testing::Values(Backend::kSim, Backend::kReal),
                         [](const auto& info) { return support::backend_name(info.param); });

}  // namespace
}  // namespace smalti::real
