// Tests for append_frame and FrameReader: round trips, arbitrary stream splits and the frame
// size limit.
#include "smalti/base/frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smalti/base/rng.hpp"

namespace smalti {
namespace {

Bytes payload_of(std::size_t size, std::uint8_t salt) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + salt);
  return out;
}

Bytes frames_of(const std::vector<Bytes>& payloads, std::size_t max = kDefaultMaxFrameSize) {
  Bytes stream;
  for (const Bytes& p : payloads) EXPECT_TRUE(append_frame(stream, p, max).is_ok());
  return stream;
}

// Pulls every complete frame out of the reader; fails the test on a reader error.
std::vector<Bytes> drain(FrameReader& reader) {
  std::vector<Bytes> out;
  for (;;) {
    auto next = reader.next();
    EXPECT_TRUE(next.is_ok()) << next.status().to_string();
    if (!next.is_ok() || !next->has_value()) return out;
    out.push_back(std::move(**next));
  }
}

TEST(FrameTest, HeaderIsFourBytesBigEndian) {
  Bytes out = {0xaa};
  ASSERT_TRUE(append_frame(out, payload_of(300, 1)).is_ok());
  ASSERT_EQ(out.size(), 1 + kFrameHeaderSize + 300);
  EXPECT_EQ(out[0], 0xaa);  // appends, never overwrites
  EXPECT_EQ(out[1], 0x00);
  EXPECT_EQ(out[2], 0x00);
  EXPECT_EQ(out[3], 0x01);
  EXPECT_EQ(out[4], 0x2c);
  EXPECT_EQ(Bytes(out.begin() + 5, out.end()), payload_of(300, 1));
  Bytes empty;
  ASSERT_TRUE(append_frame(empty, {}).is_ok());
  EXPECT_EQ(empty, (Bytes{0, 0, 0, 0}));
}

TEST(FrameTest, RoundTripWholeStream) {
  const std::vector<Bytes> payloads = {payload_of(0, 0), payload_of(1, 1),     payload_of(5, 2),
                                       payload_of(0, 3), payload_of(70000, 4), payload_of(3, 5)};
  FrameReader reader;
  reader.feed(frames_of(payloads));
  EXPECT_EQ(drain(reader), payloads);
  EXPECT_EQ(reader.buffered(), 0u);
  auto again = reader.next();
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->has_value());
}

TEST(FrameTest, ByteByByteFeedingYieldsEachFrameExactlyWhenComplete) {
  const std::vector<Bytes> payloads = {payload_of(3, 0), payload_of(0, 1), payload_of(9, 2)};
  const Bytes stream = frames_of(payloads);
  std::vector<std::size_t> frame_ends;
  std::size_t end = 0;
  for (const Bytes& p : payloads) frame_ends.push_back(end += kFrameHeaderSize + p.size());

  FrameReader reader;
  std::vector<Bytes> got;
  std::size_t next_end = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    reader.feed(ByteView(&stream[i], 1));
    auto next = reader.next();
    ASSERT_TRUE(next.is_ok());
    const bool at_frame_end = next_end < frame_ends.size() && i + 1 == frame_ends[next_end];
    ASSERT_EQ(next->has_value(), at_frame_end) << "after byte " << i;
    if (at_frame_end) {
      got.push_back(**next);
      ++next_end;
      EXPECT_EQ(reader.buffered(), 0u);
    } else {
      EXPECT_GT(reader.buffered(), 0u);
    }
  }
  EXPECT_EQ(got, payloads);
}

TEST(FrameTest, RandomSplitsReassembleTheSameFrames) {
  Rng rng(0xF4A3E);
  for (int round = 0; round < 50; ++round) {
    std::vector<Bytes> payloads;
    const int count = static_cast<int>(rng.between(0, 40));
    for (int i = 0; i < count; ++i) {
      const std::uint64_t cap = rng.chance(0.1) ? 20000 : 64;
      payloads.push_back(
          payload_of(static_cast<std::size_t>(rng.below(cap)), static_cast<std::uint8_t>(i)));
    }
    const Bytes stream = frames_of(payloads);
    FrameReader reader;
    std::vector<Bytes> got;
    std::size_t pos = 0;
    while (pos < stream.size()) {
      const std::size_t take = std::min<std::size_t>(stream.size() - pos, rng.below(300));
      reader.feed(ByteView(stream).subspan(pos, take));
      pos += take;
      for (Bytes& frame : drain(reader)) got.push_back(std::move(frame));
    }
    EXPECT_EQ(got, payloads) << "round " << round;
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(FrameTest, ManyFramesAcrossBufferCompaction) {
  // Enough data that the reader compacts its buffer (it does so after 64 KiB consumed) while
  // a partial frame is still pending.
  std::vector<Bytes> payloads;
  for (int i = 0; i < 200; ++i) {
    const auto salt = static_cast<std::uint8_t>(i);
    payloads.push_back(payload_of(1000 + static_cast<std::size_t>(i), salt));
  }
  const Bytes stream = frames_of(payloads);
  FrameReader reader;
  std::vector<Bytes> got;
  const std::size_t half = stream.size() / 2 + 7;
  reader.feed(ByteView(stream).first(half));
  for (Bytes& f : drain(reader)) got.push_back(std::move(f));
  reader.feed(ByteView(stream).subspan(half));
  for (Bytes& f : drain(reader)) got.push_back(std::move(f));
  EXPECT_EQ(got, payloads);
}

TEST(FrameTest, FrameOfExactlyTheMaximumIsAccepted) {
  FrameReader reader(16);
  reader.feed(frames_of({payload_of(16, 9)}, 16));
  auto next = reader.next();
  ASSERT_TRUE(next.is_ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, payload_of(16, 9));
}

TEST(FrameTest, OversizedFrameIsRejectedAsSoonAsTheHeaderArrives) {
  FrameReader reader(16);
  reader.feed(Bytes{0x00, 0x00, 0x00});
  auto partial = reader.next();
  ASSERT_TRUE(partial.is_ok());
  EXPECT_FALSE(partial->has_value());
  reader.feed(Bytes{0x11});  // announces 17 bytes, none of which have arrived
  auto next = reader.next();
  ASSERT_FALSE(next.is_ok());
  EXPECT_EQ(next.status().code(), StatusCode::kLimitExceeded);
  EXPECT_NE(next.status().message().find("17"), std::string::npos);
}

TEST(FrameTest, ReaderStaysFailedAfterAnOversizedFrame) {
  FrameReader reader(16);
  Bytes stream = frames_of({payload_of(4, 1)});
  stream.insert(stream.end(), {0xff, 0xff, 0xff, 0xff});
  reader.feed(stream);
  auto first = reader.next();
  ASSERT_TRUE(first.is_ok());
  ASSERT_TRUE(first->has_value());
  auto bad = reader.next();
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kLimitExceeded);
  // Valid frames fed afterwards are never delivered.
  for (int i = 0; i < 3; ++i) {
    reader.feed(frames_of({payload_of(2, 2)}));
    auto later = reader.next();
    ASSERT_FALSE(later.is_ok());
    EXPECT_EQ(later.status(), bad.status());
  }
}

TEST(FrameTest, LargestAnnouncedLengthDoesNotOverflow) {
  FrameReader reader(kDefaultMaxFrameSize);
  reader.feed(Bytes{0xff, 0xff, 0xff, 0xff, 0x01});
  auto next = reader.next();
  ASSERT_FALSE(next.is_ok());
  EXPECT_EQ(next.status().code(), StatusCode::kLimitExceeded);
}

TEST(FrameTest, AppendFrameRejectsOversizedPayloadsAndLeavesOutputUntouched) {
  Bytes out = {1, 2, 3};
  const Status s = append_frame(out, payload_of(17, 0), 16);
  EXPECT_EQ(s.code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(out, (Bytes{1, 2, 3}));
  EXPECT_TRUE(append_frame(out, payload_of(16, 0), 16).is_ok());
  EXPECT_EQ(out.size(), 3 + kFrameHeaderSize + 16);
  Bytes big;
  const Status too_big = append_frame(big, payload_of(kDefaultMaxFrameSize + 1, 0));
  EXPECT_EQ(too_big.code(), StatusCode::kLimitExceeded);
  EXPECT_TRUE(big.empty());
}

TEST(FrameTest, BufferedCountsUnconsumedBytes) {
  FrameReader reader;
  const Bytes stream = frames_of({payload_of(10, 0), payload_of(10, 1)});
  reader.feed(ByteView(stream).first(20));
  EXPECT_EQ(reader.buffered(), 20u);
  ASSERT_EQ(drain(reader).size(), 1u);
  EXPECT_EQ(reader.buffered(), 20u - 14u);
  reader.feed(ByteView(stream).subspan(20));
  ASSERT_EQ(drain(reader).size(), 1u);
  EXPECT_EQ(reader.buffered(), 0u);
}

}  // namespace
}  // namespace smalti
