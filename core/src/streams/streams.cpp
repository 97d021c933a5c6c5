#include "smalti/streams/streams.hpp"

namespace smalti::streams {

Streams::Streams(Node& node, discovery::Discovery& discovery)
    : driver_(std::make_unique<detail::StreamsDriver>(node, discovery)) {}

Streams::~Streams() = default;

Status Streams::start() {
  return driver_->start();
}

}  // namespace smalti::streams
