#include <gtest/gtest.h>
#include "smalti/base/codec.hpp"
#include "smalti/env/environment.hpp"
namespace smalti { struct P { int32_t x; std::string s; std::optional<std::vector<uint16_t>> v; }; SMALTI_FIELDS(P, x, s, v)
TEST(Smoke, Codec) { P p{-5, "hi", std::vector<uint16_t>{1, 300}}; auto b = encode(p); auto r = decode<P>(b); ASSERT_TRUE(r.is_ok()) << r.status().to_string(); EXPECT_EQ(r->x, -5); EXPECT_EQ(r->s, "hi"); }
}
