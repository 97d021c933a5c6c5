// MetricsServer: Prometheus text-format metrics of one RealNetwork over plain HTTP (optional).
//
// GET of any path answers with the current values: QUIC connections (opened, accepted, active,
// failed handshakes), datagrams, frames and bytes in and out, refused datagrams, the catalog size,
// the number of neighbours and the smoothed RTT to each known peer. Runtime thread only.
#pragma once

#include <memory>
#include <string>

#include "smalti/real/real_network.hpp"

namespace smalti::real {

class MetricsServer {
 public:
  // Listens on `bind` ("host:port", port 0 picks one).
  static Result<std::unique_ptr<MetricsServer>> start(Runtime& runtime, RealNetwork& node,
                                                      const std::string& bind);
  ~MetricsServer();
  // "host:port" it listens on.
  const std::string& address() const;

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The metrics text itself (also used by tests).
std::string render_metrics(RealNetwork& node);

}  // namespace smalti::real
