#include "smalti/ping/ping_service.hpp"

#include "smalti/ping/ping_messages.hpp"

namespace smalti::ping {

// Routes one link's frames and closure to the service, tagged with the link's token.
class PingService::LinkAdapter final : public env::LinkHandler {
 public:
  LinkAdapter(PingService& service, LinkToken token, PeerId peer, bool outbound)
      : service_(service), token_(token), peer_(peer), outbound_(outbound) {}
  void on_frame(Bytes frame) override { service_.on_frame(token_, peer_, std::move(frame)); }
  void on_closed(const env::CloseInfo&) override { service_.on_closed(token_, peer_, outbound_); }

 private:
  PingService& service_;
  LinkToken token_;
  PeerId peer_;
  bool outbound_;
};

PingService::PingService(Node& node, Config config)
    : node_(node),
      machine_(config),
      changed_(node.executor()),
      timer_(node.executor(),
             [this] {
               machine_.handle_timeout(node_.now());
               run_effects();
             }),
      alive_(std::make_shared<PingService*>(this)) {}

PingService::~PingService() {
  *alive_ = nullptr;
  // Links outlive nothing of ours: detach handlers before closing.
  for (auto& [peer, out] : outbound_) {
    if (out.link) {
      out.link->set_handler(nullptr);
      out.link->close(env::close_code::kGracefulShutdown, "ping service stopped");
    }
  }
  for (auto& [token, in] : inbound_) {
    in.link->set_handler(nullptr);
    in.link->close(env::close_code::kGracefulShutdown, "ping service stopped");
  }
}

Status PingService::start() {
  return node_.serve(kAlpn, [this](env::LinkPtr link) { accept(std::move(link)); });
}

void PingService::accept(env::LinkPtr link) {
  if (inbound_.size() >= kMaxInboundLinks) {
    link->close(env::close_code::kGracefulShutdown, "too many ping links");
    return;
  }
  const LinkToken token = next_token_++;
  auto adapter = std::make_unique<LinkAdapter>(*this, token, link->remote(), false);
  env::LinkHandler* handler = adapter.get();
  env::LinkPtr held = link;
  // Bookkeeping first: setting the handler may deliver held frames or a held close at once.
  inbound_.emplace(token, Inbound{std::move(link), std::move(adapter)});
  held->set_handler(handler);
}

void PingService::ping(const PeerAddr& peer, Callback done) {
  addresses_[peer.id] = peer;
  auto id = machine_.start(node_.now(), peer.id);
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

void PingService::on_frame(LinkToken token, const PeerId& from, Bytes frame) {
  machine_.handle_frame(node_.now(), from, token, frame);
  run_effects();
}

void PingService::on_closed(LinkToken token, const PeerId& peer, bool outbound) {
  if (outbound) {
    outbound_tokens_.erase(token);
    auto it = outbound_.find(peer);
    // Only the current link's closure counts: an older link's late one must not touch the
    // connection that replaced it.
    if (it == outbound_.end() || it->second.token != token) return;
    retire(std::move(it->second.link), std::move(it->second.adapter));
    outbound_.erase(it);
    machine_.handle_link_closed(node_.now(), peer);
    run_effects();
  } else {
    auto it = inbound_.find(token);
    if (it != inbound_.end()) {
      retire(std::move(it->second.link), std::move(it->second.adapter));
      inbound_.erase(it);
    }
  }
}

void PingService::retire(env::LinkPtr link, std::unique_ptr<LinkAdapter> adapter) {
  // We are inside the link's on_closed: free both once it has returned.
  node_.executor().post(
      [link = std::move(link), adapter = std::shared_ptr<LinkAdapter>(std::move(adapter))] {});
}

void PingService::forget_link(Outbound& out) {
  if (!out.link) return;
  out.link->set_handler(nullptr);
  outbound_tokens_.erase(out.token);
  retire(std::move(out.link), std::move(out.adapter));
  out.link = nullptr;
  out.token = 0;
}

void PingService::send_request(const PeerId& to, Bytes frame) {
  auto [it, inserted] = outbound_.try_emplace(to);
  Outbound& out = it->second;
  if (out.link && out.link->is_open()) {
    (void)out.link->send(std::move(frame));  // a failed send ends in a timeout or link close
    return;
  }
  forget_link(out);  // closed but not yet reported: its report will be ignored
  if (out.queued.size() < kMaxQueuedPerPeer) out.queued.push_back(std::move(frame));
  if (out.connecting) return;
  out.connecting = true;
  auto addr = addresses_.find(to);
  SMALTI_ASSERT(addr != addresses_.end());
  node_.connect(addr->second, kAlpn,
                [alive = std::weak_ptr<PingService*>(alive_), to](Result<env::LinkPtr> link) {
                  auto service = alive.lock();
                  if (service && *service != nullptr) (*service)->on_connected(to, std::move(link));
                });
}

void PingService::on_connected(const PeerId& peer, Result<env::LinkPtr> link) {
  auto it = outbound_.find(peer);
  if (it == outbound_.end() || !it->second.connecting) return;  // dropped meanwhile
  if (!link.is_ok()) {
    outbound_.erase(it);
    machine_.handle_link_closed(node_.now(), peer);
    run_effects();
    return;
  }
  Outbound& out = it->second;
  out.connecting = false;
  out.link = std::move(link).value();
  out.token = next_token_++;
  outbound_tokens_.emplace(out.token, peer);
  out.adapter = std::make_unique<LinkAdapter>(*this, out.token, peer, true);
  env::LinkPtr held = out.link;
  held->set_handler(out.adapter.get());
  // Setting the handler may have closed and forgotten the link: look it up again.
  it = outbound_.find(peer);
  if (it == outbound_.end() || it->second.link != held) return;
  while (!it->second.queued.empty() && held->is_open()) {
    (void)held->send(std::move(it->second.queued.front()));
    it->second.queued.pop_front();
  }
}

void PingService::run_effects() {
  bool completed_any = false;
  run_machine(machine_, timer_, [&](Effect effect) { execute(std::move(effect), completed_any); });
  if (completed_any) changed_.notify();
}

void PingService::execute(Effect effect, bool& completed_any) {
  if (auto* send = std::get_if<SendRequest>(&effect)) {
    node_.trace("ping.send", send->frame.size());
    send_request(send->to, std::move(send->frame));
  } else if (auto* reply = std::get_if<Reply>(&effect)) {
    auto it = inbound_.find(reply->link);
    if (it != inbound_.end()) (void)it->second.link->send(std::move(reply->frame));
  } else if (auto* done = std::get_if<Completed>(&effect)) {
    node_.trace("ping.done", done->id, done->rtt.is_ok() ? 1 : 0);
    completed_any = true;
    auto waiter = waiters_.find(done->id);
    if (waiter != waiters_.end()) {
      // In a turn of its own, so user code never runs inside the effect loop.
      node_.executor().post([alive = std::weak_ptr<PingService*>(alive_),
                             cb = std::move(waiter->second), rtt = std::move(done->rtt)]() mutable {
        auto service = alive.lock();
        if (service && *service != nullptr) cb(std::move(rtt));
      });
      waiters_.erase(waiter);
    }
  } else if (auto* bad = std::get_if<Violation>(&effect)) {
    drop_link(bad->link, bad->reason);
  }
}

void PingService::drop_link(LinkToken token, const Status& reason) {
  // A local close() is not reported back to our handler, so the bookkeeping goes here.
  if (auto in = inbound_.find(token); in != inbound_.end()) {
    in->second.link->set_handler(nullptr);
    in->second.link->close(env::close_code::kProtocolViolation, reason.message());
    retire(std::move(in->second.link), std::move(in->second.adapter));
    inbound_.erase(in);
    return;
  }
  auto out_token = outbound_tokens_.find(token);
  if (out_token == outbound_tokens_.end()) return;
  const PeerId peer = out_token->second;
  outbound_tokens_.erase(out_token);
  if (auto out = outbound_.find(peer); out != outbound_.end()) {
    if (out->second.link)
      out->second.link->close(env::close_code::kProtocolViolation, reason.message());
    forget_link(out->second);
    outbound_.erase(out);
  }
  machine_.handle_link_closed(node_.now(), peer);  // its effects are drained by the running loop
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
