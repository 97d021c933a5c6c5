// SharedBytes and zero-copy decoding: copies share one buffer, a decoder that owns its input
// hands out views of it, one that does not copies, and the wire format is that of Bytes.
#include "smalti/base/shared_bytes.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "smalti/base/codec.hpp"

namespace smalti {
namespace {

struct Carrier {
  std::uint64_t tag = 0;
  std::vector<SharedBytes> parts;
  friend bool operator==(const Carrier&, const Carrier&) = default;
};
SMALTI_FIELDS(Carrier, tag, parts)

TEST(SharedBytesTest, CopiesShareTheBytes) {
  const SharedBytes a(Bytes{1, 2, 3});
  const SharedBytes b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(b.to_bytes(), (Bytes{1, 2, 3}));
}

TEST(SharedBytesTest, EqualityComparesContentNotBuffers) {
  EXPECT_EQ(SharedBytes(Bytes{4, 5}), SharedBytes(Bytes{4, 5}));
  EXPECT_NE(SharedBytes(Bytes{4, 5}), SharedBytes(Bytes{4, 6}));
  EXPECT_EQ(SharedBytes(), SharedBytes(Bytes{}));
}

TEST(SharedBytesTest, AViewKeepsItsOwnerAlive) {
  auto owner = std::make_shared<const Bytes>(Bytes{9, 8, 7, 6});
  const SharedBytes middle(owner, ByteView(*owner).subspan(1, 2));
  owner.reset();
  EXPECT_EQ(middle.to_bytes(), (Bytes{8, 7}));
}

TEST(SharedBytesTest, EncodesExactlyAsBytes) {
  const Bytes raw{0, 1, 2, 250};
  EXPECT_EQ(encode(SharedBytes(raw)), encode(raw));
  EXPECT_EQ(decode<SharedBytes>(encode(raw)).value(), SharedBytes(raw));
}

TEST(SharedBytesTest, DecodingAnOwnedBufferViewsItInsteadOfCopying) {
  const Carrier sent{7, {Bytes{1, 2}, Bytes{}, Bytes{3, 4, 5}}};
  auto frame = std::make_shared<const Bytes>(encode(sent));
  const std::uint8_t* begin = frame->data();
  const std::uint8_t* end = begin + frame->size();

  auto shared = decode_shared<Carrier>(frame);
  ASSERT_TRUE(shared.is_ok());
  EXPECT_EQ(*shared, sent);
  for (const SharedBytes& part : shared->parts) {
    if (part.empty()) continue;
    EXPECT_GE(part.data(), begin);
    EXPECT_LE(part.data() + part.size(), end);
  }

  auto copied = decode<Carrier>(*frame);
  ASSERT_TRUE(copied.is_ok());
  EXPECT_EQ(*copied, sent);
  EXPECT_TRUE(copied->parts[0].data() < begin || copied->parts[0].data() >= end);
}

TEST(SharedBytesTest, ASharedDecodeRejectsWhatADecodeRejects) {
  Bytes bad = encode(Carrier{1, {Bytes{1, 2, 3}}});
  bad.pop_back();  // the last part now claims more bytes than remain
  auto owned = std::make_shared<const Bytes>(bad);
  EXPECT_EQ(decode_shared<Carrier>(owned).status().code(), StatusCode::kMalformed);
  EXPECT_EQ(decode<Carrier>(bad).status().code(), StatusCode::kMalformed);
}

}  // namespace
}  // namespace smalti
