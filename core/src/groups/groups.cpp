#include "smalti/groups/groups.hpp"

namespace smalti::groups {

Groups::Groups(Node& node, discovery::Discovery& discovery, GroupsOptions options)
    : node_(node),
      discovery_(discovery),
      options_(std::move(options)),
      links_(node,
             LinkTable::Callbacks{
                 .on_connected = [this](LinkToken t) { on_connected(t); },
                 .on_down = [this](LinkToken t, const env::CloseInfo&) { on_down(t); },
                 .on_frame = [this](LinkToken t, Bytes frame) { on_frame(t, std::move(frame)); },
             }),
      hello_timer_(node.executor(), [this] { on_hello_timer(); }) {}

Groups::~Groups() {
  // Workers still referenced by handles must not call back.
  for (auto& [id, weak] : workers_) {
    if (auto w = weak.lock()) w->detach();
  }
}

Status Groups::start() {
  SMALTI_RETURN_IF_ERROR(
      node_.serve(kAlpn, [this](env::LinkPtr link) { on_accept(std::move(link)); }));
  watch_catalog();
  return Status::ok();
}

void Groups::watch_catalog() {
  catalog_watch_ = discovery_.when().changed_since(discovery_.catalog_version()).on_met([this] {
    for (auto& [id, weak] : workers_) {
      if (auto w = weak.lock()) w->refresh_candidates();
    }
    watch_catalog();
  });
}

Result<std::shared_ptr<GroupWorker>> Groups::join(GroupSpec spec,
                                                  std::unique_ptr<ErasedStateMachine> machine) {
  SMALTI_RETURN_IF_ERROR(spec.consensus.validate());
  std::vector<Digest> validator_signatures;
  for (const auto& v : spec.validators) validator_signatures.push_back(v->ticket_class());
  const GroupId id = derive_group_id(spec.key, spec.consensus, machine->signature(),
                                     log_replay_signature(), validator_signatures);
  if (auto existing = find(id)) {
    if (existing->machine().type_tag() != machine->type_tag()) {
      return error(StatusCode::kAlreadyExists,
                   "the group is already joined with a different state machine type");
    }
    return existing;
  }
  auto worker = std::make_shared<GroupWorker>(*this, id, std::move(spec), std::move(machine),
                                              options_.medium);
  workers_[id] = worker;
  discovery_.add_groups({id});
  worker->refresh_candidates();
  return worker;
}

std::shared_ptr<GroupWorker> Groups::find(const GroupId& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.lock();
}

std::vector<GroupId> Groups::active() const {
  std::vector<GroupId> out;
  for (const auto& [id, weak] : workers_) {
    if (!weak.expired()) out.push_back(id);
  }
  return out;
}

void Groups::release(GroupWorker& worker) {
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.worker == &worker) {
      it = routes_.erase(it);
    } else {
      ++it;
    }
  }
  workers_.erase(worker.id());
  discovery_.remove_groups({worker.id()});
}

LinkToken Groups::connect(GroupWorker& worker, const PeerAddr& addr) {
  const LinkToken token = next_token_++;
  routes_[token] = Route{&worker, Instant::max()};
  links_.connect(token, addr, kAlpn);
  return token;
}

Status Groups::send(LinkToken token, const GroupMessage& message) {
  return links_.send(token, encode(message));
}

Status Groups::send_frame(LinkToken token, Bytes frame) {
  return links_.send(token, std::move(frame));
}

void Groups::close(LinkToken token, std::uint32_t code, const std::string& reason) {
  routes_.erase(token);
  links_.close(token, code, reason);
}

std::optional<Digest> Groups::link_secret(LinkToken token, const GroupId& group) const {
  return links_.secret(token, bond_secret_label(group));
}

void Groups::on_accept(env::LinkPtr link) {
  std::size_t unrouted = 0;
  for (const auto& [t, r] : routes_) unrouted += r.worker == nullptr;
  if (unrouted >= kMaxUnroutedLinks) {
    link->close(bond_close::kTimeout, "too many handshakes");
    return;
  }
  const LinkToken token = next_token_++;
  routes_[token] = Route{nullptr, node_.now() + options_.handshake_timeout};
  links_.adopt(token, std::move(link));
  hello_timer_.arm(std::min(hello_timer_.armed_at(), node_.now() + options_.handshake_timeout));
}

void Groups::on_hello_timer() {
  Instant next = Instant::max();
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.worker == nullptr && it->second.hello_deadline <= node_.now()) {
      links_.close(it->first, bond_close::kTimeout, "no Hello in time");
      it = routes_.erase(it);
      continue;
    }
    if (it->second.worker == nullptr) next = std::min(next, it->second.hello_deadline);
    ++it;
  }
  hello_timer_.arm(next);
}

void Groups::on_connected(LinkToken token) {
  auto it = routes_.find(token);
  if (it != routes_.end() && it->second.worker) it->second.worker->on_connected(token);
}

void Groups::on_frame(LinkToken token, Bytes frame) {
  auto it = routes_.find(token);
  if (it == routes_.end()) return;
  auto message = decode_group_message(std::make_shared<const Bytes>(std::move(frame)));
  if (!message.is_ok()) {
    GroupWorker* worker = it->second.worker;
    close(token, bond_close::kProtocolViolation, message.status().message());
    if (worker) worker->on_down(token);
    return;
  }
  if (it->second.worker) {
    it->second.worker->on_message(token, std::move(message).value());
    return;
  }
  // The first frame of an accepted link names the group.
  const auto* hello = std::get_if<Hello>(&*message);
  auto remote = links_.remote(token);
  if (!hello || !remote) {
    close(token, bond_close::kProtocolViolation, "expected Hello");
    return;
  }
  auto worker = find(hello->group);
  if (!worker) {
    close(token, bond_close::kGroupNotFound, "group not found");
    return;
  }
  it->second.worker = worker.get();
  worker->on_hello(token, *remote, *hello);
}

void Groups::on_down(LinkToken token) {
  auto it = routes_.find(token);
  if (it == routes_.end()) return;
  GroupWorker* worker = it->second.worker;
  routes_.erase(it);
  if (worker) worker->on_down(token);
}

}  // namespace smalti::groups
