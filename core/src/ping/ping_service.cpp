#include "smalti/ping/ping_service.hpp"

#include "smalti/ping/ping_messages.hpp"
#include "smalti/runtime/detail/link_effects.hpp"

namespace smalti::ping {

PingService::PingService(Node& node, Config config)
    : node_(node),
      machine_(config),
      changed_(node.executor()),
      links_(node, LinkTable::Callbacks{
                       .on_connected =
                           [this](LinkToken t) {
                             machine_.handle_connected(node_.now(), t);
                             run_effects();
                           },
                       .on_down =
                           [this](LinkToken t, const env::CloseInfo&) {
                             machine_.handle_link_closed(node_.now(), t);
                             run_effects();
                           },
                       .on_frame =
                           [this](LinkToken t, Bytes frame) {
                             machine_.handle_frame(node_.now(), t, frame);
                             run_effects();
                           },
                   }),
      timer_(node.executor(),
             [this] {
               machine_.handle_timeout(node_.now());
               run_effects();
             }),
      alive_(std::make_shared<PingService*>(this)) {}

PingService::~PingService() {
  *alive_ = nullptr;
}

Status PingService::start() {
  return node_.serve(kAlpn, [this](env::LinkPtr link) { accept(std::move(link)); });
}

void PingService::accept(env::LinkPtr link) {
  auto token = machine_.handle_accepted(node_.now(), link->remote());
  if (!token) {
    link->close(env::close_code::kGracefulShutdown, "too many ping links");
    return;
  }
  links_.adopt(*token, std::move(link));
  run_effects();
}

void PingService::ping(const PeerAddr& peer, Callback done) {
  auto id = machine_.start(node_.now(), peer);
  if (!id.is_ok()) {
    done(id.status());
    return;
  }
  waiters_.emplace(*id, std::move(done));
  run_effects();
}

CallbackAwaiter<Result<Duration>> PingService::ping(const PeerAddr& peer) {
  return await_callback<Result<Duration>>(
      [this, peer](std::function<void(Result<Duration>)> done) { ping(peer, std::move(done)); });
}

std::optional<Duration> PingService::rtt(const PeerId& peer) const {
  auto estimate = machine_.rtt(peer);
  if (!estimate) return std::nullopt;
  return estimate->srtt();
}

void PingService::run_effects() {
  bool completed_any = false;
  run_machine(machine_, timer_, [&](Effect effect) { execute(std::move(effect), completed_any); });
  if (completed_any) changed_.notify();
}

void PingService::execute(Effect effect, bool& completed_any) {
  if (auto* send = std::get_if<effect::Send>(&effect)) {
    node_.trace("ping.send", send->frame.size());
    execute_link_effect(links_, machine_, node_.now(), std::move(*send));
  } else if (auto* connect = std::get_if<effect::Connect>(&effect)) {
    execute_link_effect(links_, *connect);
  } else if (auto* close = std::get_if<effect::Close>(&effect)) {
    execute_link_effect(links_, std::move(*close));
  } else if (auto* done = std::get_if<Completed>(&effect)) {
    node_.trace("ping.done", done->id, done->rtt.is_ok() ? 1 : 0);
    completed_any = true;
    auto waiter = waiters_.find(done->id);
    if (waiter == waiters_.end()) return;
    // In a turn of its own, so user code never runs inside the effect loop.
    node_.executor().post([alive = std::weak_ptr<PingService*>(alive_),
                           cb = std::move(waiter->second), rtt = std::move(done->rtt)]() mutable {
      auto service = alive.lock();
      if (service && *service != nullptr) cb(std::move(rtt));
    });
    waiters_.erase(waiter);
  }
}

Condition PingService::When::reachable(const PeerId& peer) const {
  PingService* s = &service_;
  return Condition(s->changed_, s->node_.clock(),
                   [s, peer] { return s->machine_.rtt(peer).has_value(); });
}

Condition PingService::When::rtt_below(const PeerId& peer, Duration bound) const {
  PingService* s = &service_;
  return Condition(s->changed_, s->node_.clock(), [s, peer, bound] {
    auto r = s->rtt(peer);
    return r.has_value() && *r < bound;
  });
}

}  // namespace smalti::ping
