#include "smalti/base/identity.hpp"

#include <openssl/evp.h>

#include <vector>

namespace smalti {

Result<SecretKey> SecretKey::from_seed(const std::array<std::uint8_t, 32>& seed) {
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (raw == nullptr) return error(StatusCode::kInternal, "OpenSSL could not build an Ed25519 key");
  std::shared_ptr<void> pkey(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  std::array<std::uint8_t, 32> pub{};
  std::size_t pub_len = pub.size();
  if (EVP_PKEY_get_raw_public_key(raw, pub.data(), &pub_len) != 1 || pub_len != pub.size()) {
    return error(StatusCode::kInternal, "OpenSSL could not export the Ed25519 public key");
  }
  SecretKey key;
  key.seed_ = seed;
  key.peer_id_ = PeerId{Digest(pub)};
  key.pkey_ = std::move(pkey);
  return key;
}

Signature SecretKey::sign(ByteView message) const {
  Signature sig{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  SMALTI_ASSERT(ctx != nullptr);
  std::size_t sig_len = sig.size();
  const bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr,
                                     static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
                  EVP_DigestSign(ctx, sig.data(), &sig_len, message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  SMALTI_ASSERT(ok && sig_len == sig.size(), "Ed25519 signing failed");
  return sig;
}

namespace {

// Signatures this thread has verified, keyed by BLAKE3(signer || signature || message). The same
// signed entry reaches a node over several paths, and a simulator verifies it once per node:
// verification is a pure function, so remembering its positive results changes no outcome. A
// bounded direct-mapped table: a colliding newer result replaces an older one.
class VerifiedSignatures {
 public:
  static constexpr std::size_t kSlots = 1u << 14;
  static Digest key(const PeerId& signer, ByteView message, const Signature& signature) {
    return Digest::from_parts(
        {signer.key.view(), ByteView(signature.data(), signature.size()), message});
  }
  bool contains(const Digest& key) const { return slots_[key.prefix64() % kSlots] == key; }
  void insert(const Digest& key) { slots_[key.prefix64() % kSlots] = key; }

 private:
  std::vector<Digest> slots_ = std::vector<Digest>(kSlots);
};

bool verify_with_openssl(const PeerId& signer, ByteView message, const Signature& signature) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, signer.key.bytes().data(),
                                               Digest::kSize);
  if (pkey == nullptr) return false;  // not a valid curve point
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

}  // namespace

bool verify_signature(const PeerId& signer, ByteView message, const Signature& signature) {
  thread_local VerifiedSignatures verified;
  const Digest key = VerifiedSignatures::key(signer, message, signature);
  if (verified.contains(key)) return true;
  if (!verify_with_openssl(signer, message, signature)) return false;
  verified.insert(key);
  return true;
}

}  // namespace smalti
