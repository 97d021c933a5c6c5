// RealNetwork: a smalti::Network on the real backend: QUIC transport, OS entropy and clocks.
//
//   real::Runtime runtime;
//   auto node = real::RealNetwork::create(runtime, {.bind = "127.0.0.1:7000",
//                                                   .identity_file = "node.key"});
//   node.value()->network().discovery().dial({bootstrap});
//   runtime.run();
//
// The identity (the Ed25519 seed) is read from identity_file, or created there (mode 0600) when
// the file does not exist, so a node keeps its PeerId across restarts. With data_dir the node
// keeps its durable state in data_dir/<peer id hex>/ (a PosixFileSystem there): its groups'
// term, vote and log in SQLite (storage::sqlite_storage() on a worker thread) unless
// network.groups.storage says otherwise. Without data_dir the node has no file system and its
// groups live in memory. Runtime thread only.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "smalti/network.hpp"
#include "smalti/real/quic_transport.hpp"
#include "smalti/real/runtime.hpp"

namespace smalti::real {

struct RealNetworkOptions {
  std::string bind = "127.0.0.1:0";
  // Where the identity is kept; empty: a fresh identity for this run only.
  std::string identity_file;
  // Where the node's durable state lives; empty: none (in-memory groups). Give a node the same
  // identity_file across restarts, or it finds no state of its own here.
  std::string data_dir;
  NetworkOptions network;
  QuicTransportOptions quic;
};

class RealNetwork {
 public:
  static Result<std::unique_ptr<RealNetwork>> create(Runtime& runtime, RealNetworkOptions options);
  ~RealNetwork();

  Network& network() { return *network_; }
  QuicTransport& transport() { return *transport_; }

 private:
  RealNetwork() = default;
  class OsEntropy;
  std::unique_ptr<OsEntropy> entropy_;
  std::unique_ptr<env::FileSystem> file_system_;
  std::unique_ptr<QuicTransport> transport_;
  env::Environment env_;
  std::unique_ptr<Network> network_;
};

// Reads a 32-byte identity seed (64 hex characters) from `path`, or creates one there with mode
// 0600. kInvalidArgument for a file that is not a seed, kUnavailable for I/O errors.
Result<std::array<std::uint8_t, 32>> load_or_create_identity(const std::string& path);

// "<64 hex peer id>@host:port" <-> PeerAddr.
Result<PeerAddr> parse_peer_addr(const std::string& text);
std::string format_peer_addr(const PeerAddr& addr);

}  // namespace smalti::real
