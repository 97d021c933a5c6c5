// Ed25519 identity: signatures verify for their signer and message only, also when the same
// signature was verified before (verification results are remembered per thread).
#include "smalti/base/identity.hpp"

#include <gtest/gtest.h>

#include "support/test_keys.hpp"

namespace smalti {
namespace {

SecretKey key(std::uint8_t n) {
  return test_support::test_key(n);
}

TEST(Identity, SignatureVerifiesForItsSignerAndMessageOnly) {
  const SecretKey alice = key(1);
  const SecretKey bob = key(2);
  const Bytes message = {1, 2, 3};
  const Signature sig = alice.sign(message);
  EXPECT_TRUE(verify_signature(alice.peer_id(), message, sig));
  EXPECT_FALSE(verify_signature(bob.peer_id(), message, sig));
  EXPECT_FALSE(verify_signature(alice.peer_id(), Bytes{1, 2, 4}, sig));
  Signature flipped = sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(verify_signature(alice.peer_id(), message, flipped));
}

TEST(Identity, RememberedVerificationsNeverAdmitAVariant) {
  const SecretKey alice = key(3);
  const Bytes message = {9, 9, 9};
  const Signature sig = alice.sign(message);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(verify_signature(alice.peer_id(), message, sig));
  // After the valid triple is remembered, every changed part still fails.
  EXPECT_FALSE(verify_signature(key(4).peer_id(), message, sig));
  EXPECT_FALSE(verify_signature(alice.peer_id(), Bytes{9, 9}, sig));
  Signature other = sig;
  other[63] ^= 0x80;
  EXPECT_FALSE(verify_signature(alice.peer_id(), message, other));
  // A failed verification is not remembered as a success.
  EXPECT_FALSE(verify_signature(alice.peer_id(), message, other));
}

TEST(Identity, ManyDistinctSignaturesAllVerify) {
  // More than the memo holds, so entries get replaced; each still verifies correctly.
  const SecretKey signer = key(5);
  std::vector<std::pair<Bytes, Signature>> signed_messages;
  for (std::uint32_t i = 0; i < 17'000; ++i) {
    Bytes m(4);
    for (int b = 0; b < 4; ++b) m[b] = static_cast<std::uint8_t>(i >> (8 * b));
    signed_messages.emplace_back(m, signer.sign(m));
  }
  for (const auto& [m, s] : signed_messages) ASSERT_TRUE(verify_signature(signer.peer_id(), m, s));
  for (std::size_t i = 0; i < 1000; ++i) {
    const auto& [m, s] = signed_messages[i];
    Signature bad = s;
    bad[0] ^= 1;
    ASSERT_FALSE(verify_signature(signer.peer_id(), m, bad));
  }
}

}  // namespace
}  // namespace smalti
