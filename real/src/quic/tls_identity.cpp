#include "quic/tls_identity.hpp"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include <cstring>
#include <ctime>
#include <string>

namespace smalti::real {
namespace {

Status gnutls_error(const char* what, int rc) {
  return error(StatusCode::kInternal, std::string(what) + ": " + gnutls_strerror(rc));
}

// Frees a GnuTLS object when it goes out of scope.
template <typename T, void (*Free)(T)>
struct Owned {
  T value = nullptr;
  ~Owned() {
    if (value) Free(value);
  }
};

}  // namespace

Result<std::unique_ptr<TlsIdentity>> TlsIdentity::create(const SecretKey& key) {
  std::unique_ptr<TlsIdentity> id(new TlsIdentity());
  id->peer_id_ = key.peer_id();
  Owned<gnutls_x509_privkey_t, gnutls_x509_privkey_deinit> priv;
  int rc = gnutls_x509_privkey_init(&priv.value);
  if (rc < 0) return gnutls_error("privkey init", rc);
  auto seed = key.seed();
  auto pub = key.peer_id().key.bytes();
  gnutls_datum_t x{pub.data(), static_cast<unsigned>(pub.size())};
  gnutls_datum_t k{seed.data(), static_cast<unsigned>(seed.size())};
  rc = gnutls_x509_privkey_import_ecc_raw(priv.value, GNUTLS_ECC_CURVE_ED25519, &x, nullptr, &k);
  if (rc < 0) return gnutls_error("import Ed25519 key", rc);

  Owned<gnutls_x509_crt_t, gnutls_x509_crt_deinit> crt;
  rc = gnutls_x509_crt_init(&crt.value);
  if (rc < 0) return gnutls_error("certificate init", rc);
  const std::string cn = key.peer_id().to_hex();
  const unsigned char serial[] = {1};
  const std::time_t now = std::time(nullptr);
  const std::time_t day = std::time_t{24} * 3600;
  if ((rc = gnutls_x509_crt_set_version(crt.value, 3)) < 0 ||
      (rc = gnutls_x509_crt_set_serial(crt.value, serial, sizeof serial)) < 0 ||
      (rc = gnutls_x509_crt_set_activation_time(crt.value, now - day)) < 0 ||
      (rc = gnutls_x509_crt_set_expiration_time(crt.value, now + day * 365 * 10)) < 0 ||
      (rc = gnutls_x509_crt_set_dn_by_oid(crt.value, GNUTLS_OID_X520_COMMON_NAME, 0, cn.data(),
                                          static_cast<unsigned>(cn.size()))) < 0 ||
      (rc = gnutls_x509_crt_set_key(crt.value, priv.value)) < 0 ||
      (rc = gnutls_x509_crt_set_key_usage(crt.value, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
      (rc = gnutls_x509_crt_set_basic_constraints(crt.value, 0, -1)) < 0 ||
      (rc = gnutls_x509_crt_sign2(crt.value, crt.value, priv.value, GNUTLS_DIG_UNKNOWN, 0)) < 0) {
    return gnutls_error("self-signed certificate", rc);
  }
  rc = gnutls_certificate_allocate_credentials(&id->credentials_);
  if (rc < 0) return gnutls_error("credentials", rc);
  rc = gnutls_certificate_set_x509_key(id->credentials_, &crt.value, 1, priv.value);
  if (rc < 0) return gnutls_error("set certificate", rc);
  return id;
}

TlsIdentity::~TlsIdentity() {
  if (credentials_) gnutls_certificate_free_credentials(credentials_);
}

Result<PeerId> peer_id_of(gnutls_session_t session) {
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (certs == nullptr || count == 0) {
    return error(StatusCode::kPermissionDenied, "the peer presented no certificate");
  }
  Owned<gnutls_pubkey_t, gnutls_pubkey_deinit> pub;
  int rc = gnutls_pubkey_init(&pub.value);
  if (rc < 0) return gnutls_error("pubkey init", rc);
  rc = gnutls_pubkey_import_x509_raw(pub.value, &certs[0], GNUTLS_X509_FMT_DER, 0);
  if (rc < 0) {
    return error(StatusCode::kPermissionDenied,
                 std::string("unreadable peer certificate: ") + gnutls_strerror(rc));
  }
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_datum_t x{}, y{};
  rc = gnutls_pubkey_export_ecc_raw(pub.value, &curve, &x, &y);
  Result<PeerId> out = error(StatusCode::kPermissionDenied, "the peer's key is not Ed25519");
  if (rc >= 0 && curve == GNUTLS_ECC_CURVE_ED25519 && x.size == Digest::kSize) {
    std::array<std::uint8_t, Digest::kSize> raw{};
    std::memcpy(raw.data(), x.data, raw.size());
    out = PeerId{Digest(raw)};
  }
  gnutls_free(x.data);
  gnutls_free(y.data);
  return out;
}

}  // namespace smalti::real
