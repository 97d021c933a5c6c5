// Groups and its router: joins, the groups ALPN, and routing links to their group's worker.
#include "smalti/groups/groups.hpp"

#include "group_router.hpp"

namespace smalti::groups {

Groups::Groups(Node& node, discovery::Discovery& discovery, GroupsOptions options)
    : router_(std::make_unique<detail::GroupRouter>(node, discovery, std::move(options))) {}

Groups::~Groups() = default;

Status Groups::start() {
  return router_->start();
}

const GroupsOptions& Groups::options() const {
  return router_->options();
}

std::vector<GroupId> Groups::active() const {
  return router_->active();
}

std::optional<GroupStatus> Groups::status(const GroupId& group) const {
  return router_->status(group);
}

Result<std::shared_ptr<detail::GroupWorker>> Groups::join(
    detail::GroupSpec spec, std::unique_ptr<ErasedStateMachine> machine) {
  return router_->join(std::move(spec), std::move(machine));
}

namespace detail {

GroupRouter::GroupRouter(Node& node, discovery::Discovery& discovery, GroupsOptions options)
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

GroupRouter::~GroupRouter() {
  // Workers still referenced by handles must not call back.
  for (auto& [id, weak] : workers_) {
    if (auto w = weak.lock()) w->detach();
  }
}

Status GroupRouter::start() {
  if (options_.storage) {
    SMALTI_ASSIGN_OR_RETURN(storage_, options_.storage(node_));
    SMALTI_ASSERT(storage_ != nullptr, "a storage factory returned no provider");
  }
  SMALTI_RETURN_IF_ERROR(
      node_.serve(kAlpn, [this](env::LinkPtr link) { on_accept(std::move(link)); }));
  watch_catalog();
  return Status::ok();
}

void GroupRouter::watch_catalog() {
  catalog_watch_ = discovery_.when().changed_since(discovery_.catalog_version()).on_met([this] {
    for (auto& [id, weak] : workers_) {
      if (auto w = weak.lock()) w->refresh_catalog();
    }
    watch_catalog();
  });
}

Result<std::shared_ptr<GroupWorker>> GroupRouter::join(
    GroupSpec spec, std::unique_ptr<ErasedStateMachine> machine) {
  SMALTI_RETURN_IF_ERROR(spec.consensus.validate());
  SMALTI_RETURN_IF_ERROR(spec.log_replay.validate());
  SMALTI_RETURN_IF_ERROR(spec.snapshots.validate());
  if (spec.log_store && !spec.snapshot_store) {
    spec.snapshot_store = std::dynamic_pointer_cast<SnapshotStore>(spec.log_store);
    if (!spec.snapshot_store) {
      return error(StatusCode::kInvalidArgument,
                   "a group given its own log storage needs snapshot storage too "
                   "(with_snapshot_storage)");
    }
  }
  std::vector<Digest> validator_signatures;
  for (const auto& v : spec.validators) validator_signatures.push_back(v->ticket_class());
  const GroupId id = derive_group_id(spec.key, spec.consensus, machine->signature(),
                                     spec.log_replay.signature(), validator_signatures);
  if (auto existing = find(id)) {
    if (existing->machine().type_tag() != machine->type_tag()) {
      return error(StatusCode::kAlreadyExists,
                   "the group is already joined with a different state machine type");
    }
    return existing;
  }
  const LinkToken first_link = LinkToken{next_worker_++} << kWorkerLinkShift;
  auto worker =
      std::make_shared<GroupWorker>(*this, id, std::move(spec), std::move(machine), first_link);
  workers_[id] = worker;
  discovery_.add_groups({id});
  worker->refresh_catalog();
  return worker;
}

std::shared_ptr<GroupWorker> GroupRouter::find(const GroupId& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.lock();
}

std::optional<GroupStatus> GroupRouter::status(const GroupId& group) const {
  auto it = workers_.find(group);
  if (it == workers_.end()) return std::nullopt;
  auto worker = it->second.lock();
  if (!worker) return std::nullopt;
  return worker->status();
}

std::vector<GroupId> GroupRouter::active() const {
  std::vector<GroupId> out;
  for (const auto& [id, weak] : workers_) {
    if (!weak.expired()) out.push_back(id);
  }
  return out;
}

void GroupRouter::release(GroupWorker& worker) {
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.worker == &worker) {
      links_.close(it->first, bond_close::kDeparted, "departed");
      it = routes_.erase(it);
    } else {
      ++it;
    }
  }
  workers_.erase(worker.id());
  discovery_.remove_groups({worker.id()});
}

void GroupRouter::connect(GroupWorker& worker, LinkToken link, const PeerAddr& addr) {
  SMALTI_ASSERT(link >= (LinkToken{1} << kWorkerLinkShift) && !routes_.count(link),
                "a worker dialled a token outside its range or twice");
  routes_[link] = Route{&worker, Instant::max()};
  links_.connect(link, addr, kAlpn);
}

Status GroupRouter::send(LinkToken link, Bytes& frame) {
  return links_.send(link, frame);
}

void GroupRouter::close(LinkToken link, std::uint32_t code, const std::string& reason) {
  routes_.erase(link);
  links_.close(link, code, reason);
}

std::optional<Digest> GroupRouter::link_secret(LinkToken link, const GroupId& group) const {
  return links_.secret(link, bond_secret_label(group));
}

void GroupRouter::on_accept(env::LinkPtr link) {
  std::size_t unrouted = 0;
  for (const auto& [t, r] : routes_) unrouted += r.worker == nullptr;
  if (unrouted >= kMaxUnroutedLinks || next_accepted_ >= (LinkToken{1} << kWorkerLinkShift)) {
    link->close(bond_close::kTimeout, "too many handshakes");
    return;
  }
  const LinkToken token = next_accepted_++;
  routes_[token] = Route{nullptr, node_.now() + options_.handshake_timeout};
  links_.adopt(token, std::move(link));
  hello_timer_.arm(std::min(hello_timer_.armed_at(), node_.now() + options_.handshake_timeout));
}

void GroupRouter::on_hello_timer() {
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

void GroupRouter::on_connected(LinkToken link) {
  auto it = routes_.find(link);
  if (it != routes_.end() && it->second.worker) it->second.worker->on_connected(link);
}

void GroupRouter::on_frame(LinkToken link, Bytes frame) {
  auto it = routes_.find(link);
  if (it == routes_.end()) return;
  auto message = decode_group_message(std::make_shared<const Bytes>(std::move(frame)));
  if (!message.is_ok()) {
    GroupWorker* worker = it->second.worker;
    close(link, bond_close::kProtocolViolation, message.status().message());
    if (worker) worker->on_down(link);
    return;
  }
  if (it->second.worker) {
    it->second.worker->on_message(link, std::move(message).value());
    return;
  }
  // The first frame of an accepted link names the group.
  auto* hello = std::get_if<Hello>(&*message);
  auto remote = links_.remote(link);
  if (!hello || !remote) {
    close(link, bond_close::kProtocolViolation, "expected Hello");
    return;
  }
  auto worker = find(hello->group);
  if (!worker) {
    close(link, bond_close::kGroupNotFound, "group not found");
    return;
  }
  it->second.worker = worker.get();
  worker->on_hello(link, *remote, std::move(*hello));
}

void GroupRouter::on_down(LinkToken link) {
  auto it = routes_.find(link);
  if (it == routes_.end()) return;
  GroupWorker* worker = it->second.worker;
  routes_.erase(it);
  if (worker) worker->on_down(link);
}

}  // namespace detail
}  // namespace smalti::groups
