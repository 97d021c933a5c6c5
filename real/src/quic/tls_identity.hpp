// TlsIdentity: a node's Ed25519 key as GnuTLS credentials, with a self-signed certificate.
//
// Both ends of every QUIC connection present such a certificate; TLS 1.3's CertificateVerify
// proves the peer holds the certificate's key, so the key in the peer's certificate is its
// PeerId (peer_id_of). No certificate authority is involved. Not thread-safe; one per node.
#pragma once

#include <gnutls/gnutls.h>

#include <memory>

#include "smalti/base/identity.hpp"
#include "smalti/base/status.hpp"

namespace smalti::real {

class TlsIdentity {
 public:
  static Result<std::unique_ptr<TlsIdentity>> create(const SecretKey& key);
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  gnutls_certificate_credentials_t credentials() const { return credentials_; }
  const PeerId& peer_id() const { return peer_id_; }

 private:
  TlsIdentity() = default;
  gnutls_certificate_credentials_t credentials_ = nullptr;
  PeerId peer_id_;
};

// The PeerId in the certificate the remote end presented; kPermissionDenied without one or
// when its key is not Ed25519.
Result<PeerId> peer_id_of(gnutls_session_t session);

}  // namespace smalti::real
