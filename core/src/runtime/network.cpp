#include "smalti/network.hpp"

namespace smalti {

Result<std::unique_ptr<Network>> Network::create(const env::Environment& env,
                                                 NetworkOptions options) {
  SMALTI_RETURN_IF_ERROR(options.discovery.validate());
  std::unique_ptr<Network> net(new Network());
  SMALTI_ASSIGN_OR_RETURN(net->node_, Node::create(env, std::move(options.node)));
  net->ping_ = std::make_unique<ping::PingService>(*net->node_, options.ping);
  SMALTI_RETURN_IF_ERROR(net->ping_->start().with_context("ping"));
  net->discovery_ = std::make_unique<discovery::Discovery>(*net->node_, *net->ping_,
                                                           std::move(options.discovery));
  SMALTI_RETURN_IF_ERROR(net->discovery_->start().with_context("discovery"));
  net->streams_ = std::make_unique<streams::Streams>(*net->node_, *net->discovery_);
  SMALTI_RETURN_IF_ERROR(net->streams_->start().with_context("streams"));
  net->groups_ =
      std::make_unique<groups::Groups>(*net->node_, *net->discovery_, std::move(options.groups));
  SMALTI_RETURN_IF_ERROR(net->groups_->start().with_context("groups"));
  return net;
}

Network::~Network() {
  // Tasks first: they use the services.
  node_->shutdown_now();
  groups_.reset();
  streams_.reset();
  discovery_.reset();
  ping_.reset();
  node_.reset();
}

}  // namespace smalti
