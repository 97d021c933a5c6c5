// env::LinkInbox: the rule every Link implementation follows for what arrives before and after
// its handler is set.
#include "smalti/env/link_inbox.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace smalti::env {
namespace {

class Recorder final : public LinkHandler {
 public:
  void on_frame(Bytes frame) override {
    frames.push_back(std::move(frame));
    if (on_frame_hook) on_frame_hook();
  }
  void on_closed(const CloseInfo& info) override { closes.push_back(info); }
  std::vector<Bytes> frames;
  std::vector<CloseInfo> closes;
  std::function<void()> on_frame_hook;
};

const LinkInbox::Limits kLimits{.max_frames = 3, .max_bytes = 10};

TEST(LinkInbox, DeliversAtOnceToAHandler) {
  LinkInbox inbox(kLimits);
  Recorder r;
  inbox.set_handler(&r);
  EXPECT_TRUE(inbox.deliver(Bytes{1}));
  EXPECT_TRUE(inbox.deliver(Bytes{2}));
  EXPECT_EQ(r.frames, (std::vector<Bytes>{{1}, {2}}));
  EXPECT_EQ(inbox.held_frames(), 0u);
}

TEST(LinkInbox, HoldsFramesInOrderUntilAHandlerIsSet) {
  LinkInbox inbox(kLimits);
  EXPECT_TRUE(inbox.deliver(Bytes{1}));
  EXPECT_TRUE(inbox.deliver(Bytes{2, 2}));
  EXPECT_EQ(inbox.held_frames(), 2u);
  Recorder r;
  inbox.set_handler(&r);
  EXPECT_EQ(r.frames, (std::vector<Bytes>{{1}, {2, 2}}));
  EXPECT_TRUE(inbox.deliver(Bytes{3}));
  EXPECT_EQ(r.frames.size(), 3u);
}

TEST(LinkInbox, RefusesAFrameOverTheHoldBound) {
  LinkInbox frames_bound(kLimits);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(frames_bound.deliver(Bytes{1}));
  EXPECT_FALSE(frames_bound.deliver(Bytes{1})) << "a fourth frame over max_frames";
  LinkInbox bytes_bound(kLimits);
  EXPECT_TRUE(bytes_bound.deliver(Bytes(6, 0)));
  EXPECT_FALSE(bytes_bound.deliver(Bytes(5, 0))) << "11 bytes over max_bytes";
  EXPECT_TRUE(bytes_bound.deliver(Bytes(4, 0)));
}

TEST(LinkInbox, AnEndComesAfterTheHeldFramesAndOnce) {
  LinkInbox inbox(kLimits);
  EXPECT_TRUE(inbox.deliver(Bytes{1}));
  inbox.end(CloseInfo{42, "bye", true});
  EXPECT_FALSE(inbox.open());
  EXPECT_TRUE(inbox.deliver(Bytes{9})) << "frames after the end are dropped, not refused";
  Recorder r;
  inbox.set_handler(&r);
  EXPECT_EQ(r.frames, (std::vector<Bytes>{{1}}));
  ASSERT_EQ(r.closes.size(), 1u);
  EXPECT_EQ(r.closes[0].code, 42u);
  inbox.set_handler(&r);
  inbox.report_end();
  inbox.end(CloseInfo{43, "again", true});
  EXPECT_EQ(r.closes.size(), 1u);
}

TEST(LinkInbox, AnEndHeldBackIsReportedLater) {
  LinkInbox inbox(kLimits);
  Recorder r;
  inbox.set_handler(&r);
  inbox.end(CloseInfo{0, "reset", false}, /*report_now=*/false);
  EXPECT_TRUE(r.closes.empty());
  inbox.report_end();
  ASSERT_EQ(r.closes.size(), 1u);
  EXPECT_EQ(r.closes[0].reason, "reset");
}

TEST(LinkInbox, ALocalCloseDropsWhatIsHeldAndReportsNothing) {
  LinkInbox inbox(kLimits);
  EXPECT_TRUE(inbox.deliver(Bytes{1}));
  inbox.end(CloseInfo{42, "bye", true});
  inbox.close_locally();
  Recorder r;
  inbox.set_handler(&r);
  EXPECT_TRUE(r.frames.empty());
  EXPECT_TRUE(r.closes.empty());
}

TEST(LinkInbox, AHandlerThatClearsItselfStopsDeliveryAndHeldFramesWait) {
  LinkInbox inbox(kLimits);
  for (std::uint8_t i = 1; i <= 3; ++i) EXPECT_TRUE(inbox.deliver(Bytes{i}));
  inbox.end(CloseInfo{5, "end", true});
  Recorder r;
  r.on_frame_hook = [&] { inbox.set_handler(nullptr); };
  inbox.set_handler(&r);
  EXPECT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(r.closes.empty());
  r.on_frame_hook = nullptr;
  inbox.set_handler(&r);
  EXPECT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.closes.size(), 1u);
}

}  // namespace
}  // namespace smalti::env
