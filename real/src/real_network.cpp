#include "smalti/real/real_network.hpp"

#include <fcntl.h>
#include <gnutls/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "smalti/base/hex.hpp"
#include "smalti/real/posix_file_system.hpp"
#include "smalti/storage/sqlite_storage.hpp"

namespace smalti::real {

class RealNetwork::OsEntropy final : public env::Entropy {
 public:
  std::uint64_t seed() override {
    std::uint64_t s = 0;
    fill(reinterpret_cast<std::uint8_t*>(&s), sizeof s);
    return s;
  }
  void fill(std::uint8_t* out, std::size_t len) override {
    (void)gnutls_rnd(GNUTLS_RND_KEY, out, len);
  }
};

Result<std::array<std::uint8_t, 32>> load_or_create_identity(const std::string& path) {
  std::array<std::uint8_t, 32> seed{};
  std::ifstream in(path);
  if (in) {
    std::string text;
    in >> text;
    auto bytes = from_hex(text);
    if (!bytes.is_ok() || bytes->size() != seed.size()) {
      return error(StatusCode::kInvalidArgument,
                   "identity file " + path + " does not hold a 64-character hex seed");
    }
    std::memcpy(seed.data(), bytes->data(), seed.size());
    return seed;
  }
  (void)gnutls_rnd(GNUTLS_RND_KEY, seed.data(), seed.size());
  const std::string text = to_hex(ByteView(seed.data(), seed.size())) + "\n";
  // Written to a temporary file and renamed, so a crash never leaves a half-written identity.
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return error(StatusCode::kUnavailable,
                 "cannot create identity file " + path + ": " + std::strerror(errno));
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return error(StatusCode::kUnavailable, "cannot write identity file " + path);
  }
  return seed;
}

Result<PeerAddr> parse_peer_addr(const std::string& text) {
  const auto at = text.find('@');
  if (at == std::string::npos) {
    return error(StatusCode::kInvalidArgument, "expected <peer id>@host:port, got '" + text + "'");
  }
  auto id = from_hex(text.substr(0, at));
  if (!id.is_ok() || id->size() != Digest::kSize) {
    return error(StatusCode::kInvalidArgument, "bad peer id in '" + text + "'");
  }
  std::array<std::uint8_t, Digest::kSize> raw{};
  std::memcpy(raw.data(), id->data(), raw.size());
  return PeerAddr{PeerId{Digest(raw)}, {text.substr(at + 1)}};
}

std::string format_peer_addr(const PeerAddr& addr) {
  return addr.id.to_hex() + "@" + (addr.addresses.empty() ? "" : addr.addresses.front());
}

Result<std::unique_ptr<RealNetwork>> RealNetwork::create(Runtime& runtime,
                                                         RealNetworkOptions options) {
  std::unique_ptr<RealNetwork> net(new RealNetwork());
  net->entropy_ = std::make_unique<OsEntropy>();
  std::array<std::uint8_t, 32> seed{};
  if (options.identity_file.empty()) {
    net->entropy_->fill(seed.data(), seed.size());
  } else {
    SMALTI_ASSIGN_OR_RETURN(seed, load_or_create_identity(options.identity_file));
  }
  SMALTI_ASSIGN_OR_RETURN(SecretKey key, SecretKey::from_seed(seed));
  options.quic.bind = options.bind;
  SMALTI_ASSIGN_OR_RETURN(net->transport_,
                          QuicTransport::create(runtime, key, std::move(options.quic)));
  net->env_.clock = &runtime;
  net->env_.executor = &runtime;
  net->env_.transport = net->transport_.get();
  net->env_.entropy = net->entropy_.get();
  if (!options.data_dir.empty()) {
    const std::string root = options.data_dir + "/" + key.peer_id().to_hex();
    SMALTI_ASSIGN_OR_RETURN(net->file_system_, PosixFileSystem::create(root));
    net->env_.file_system = net->file_system_.get();
    if (!options.network.groups.storage) {
      options.network.groups.storage = storage::sqlite_storage({.worker_thread = true});
    }
  }
  options.network.node.secret_seed = seed;
  SMALTI_ASSIGN_OR_RETURN(net->network_, Network::create(net->env_, std::move(options.network)));
  return net;
}

RealNetwork::~RealNetwork() {
  network_.reset();  // before the transport its links use and the files its stores use
  transport_.reset();
  file_system_.reset();
}

}  // namespace smalti::real
