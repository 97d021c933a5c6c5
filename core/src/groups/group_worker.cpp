// GroupWorker: construction, Raft driving, persistence and applying committed entries.
#include "smalti/groups/group_worker.hpp"

#include "smalti/groups/groups.hpp"

namespace smalti::groups {

namespace {
HardState load_state(StateStore& store) {
  auto s = store.load_state();
  return s.is_ok() ? *s : HardState{};
}
std::vector<LogEntry> load_log(LogStore& store) {
  auto l = store.load_log();
  return l.is_ok() ? std::move(l).value() : std::vector<LogEntry>{};
}
}  // namespace

GroupWorker::GroupWorker(Groups& groups, const GroupId& id, GroupSpec spec,
                         std::unique_ptr<ErasedStateMachine> machine,
                         std::shared_ptr<MemoryMedium> medium)
    : groups_(&groups),
      node_(groups.node()),
      discovery_(groups.discovery()),
      id_(id),
      spec_(std::move(spec)),
      machine_(std::move(machine)),
      raft_timer_(node_.executor(),
                  [this] {
                    raft_->handle_timeout(node_.now());
                    run_raft();
                  }),
      bond_timer_(node_.executor(), [this] { on_bond_timer(); }),
      call_timer_(node_.executor(), [this] { on_call_timer(); }),
      tick_timer_(node_.executor(),
                  [this] {
                    refresh_candidates();
                    tick_timer_.arm(node_.now() + spec_.consensus.heartbeat_interval);
                  }),
      changed_(node_.executor()),
      rng_(node_.make_rng("groups").derive_seed(id.to_hex())) {
  if (!spec_.state_store || !spec_.log_store) {
    auto stores = std::make_shared<MemoryStores>(node_.executor(), std::move(medium), id_);
    if (!spec_.state_store) spec_.state_store = stores;
    if (!spec_.log_store) spec_.log_store = stores;
  }
  bond_config_ = BondConfig{discovery_.config().network,
                            id_,
                            spec_.key.secret(),
                            node_.id(),
                            machine_->leadership_preference().is_observer(),
                            0,
                            spec_.consensus,
                            groups.options().handshake_timeout};
  raft_ = std::make_unique<RaftMachine>(
      RaftOptions{node_.id(), spec_.consensus, machine_->leadership_preference(), rng_.next_u64()},
      load_state(*spec_.state_store), load_log(*spec_.log_store), node_.now());
  run_raft();
  tick_timer_.arm(node_.now() + spec_.consensus.heartbeat_interval);
}

GroupWorker::~GroupWorker() {
  if (groups_) {
    for (auto& [token, bond] : bonds_) {
      if (bond.machine && bond.machine->state() == BondMachine::State::kUp) {
        (void)groups_->send(token, Departure{});
      }
      groups_->close(token, bond_close::kDeparted, "departed");
    }
    bonds_.clear();
    groups_->release(*this);
  }
  detach();
}

void GroupWorker::detach() {
  groups_ = nullptr;
  raft_timer_.disarm();
  bond_timer_.disarm();
  call_timer_.disarm();
  tick_timer_.disarm();
  bonds_.clear();
  const Status gone = error(StatusCode::kUnavailable, "the group is closed");
  auto executes = std::move(executes_);
  for (auto& [i, e] : executes) e.done(gone);
  auto forwards = std::move(forwards_);
  for (auto& [r, f] : forwards) f.done(gone);
  auto queries = std::move(queries_);
  for (auto& [r, q] : queries) q.done(gone);
  auto reads = std::move(reads_);
  for (auto& [r, read] : reads) {
    if (read.local) read.local(gone);
  }
}

GroupStatus GroupWorker::status() const {
  return GroupStatus{
      raft_->role(),         raft_->term(), raft_->leader(),   raft_->is_online(),
      raft_->commit_index(), applied_,      up_bonds().size(), raft_->voters().voters.size()};
}

std::vector<PeerId> GroupWorker::bonded_peers() const {
  return up_bonds();
}

void GroupWorker::run_raft() {
  if (!groups_) return;
  run_machine(*raft_, raft_timer_, [this](RaftEffect e) { execute_effect(std::move(e)); });
  framed_message_.reset();
  framed_ = Bytes();
}

const Bytes& GroupWorker::raft_frame(const std::shared_ptr<const RaftMessage>& message) {
  if (message != framed_message_) {
    framed_ = encode_raft_frame(*message);
    framed_message_ = message;
  }
  return framed_;
}

void GroupWorker::execute_effect(RaftEffect effect) {
  std::visit(
      [&](auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, raft_effect::Send>) {
          if (auto token = bond_of(e.to)) send_frame_to(*token, raft_frame(e.message));
        } else if constexpr (std::is_same_v<E, raft_effect::Persist>) {
          persist(std::move(e));
        } else if constexpr (std::is_same_v<E, raft_effect::Committed>) {
          apply_committed(e.index);
        } else if constexpr (std::is_same_v<E, raft_effect::RoleChanged>) {
          node_.trace("group.role", static_cast<std::uint64_t>(raft_->role()), raft_->term());
          changed_.notify();
        } else if constexpr (std::is_same_v<E, raft_effect::ReadReady>) {
          auto it = reads_.find(e.read);
          if (it != reads_.end()) {
            it->second.ready = true;
            it->second.index = e.index;
          }
          settle_reads();
        } else if constexpr (std::is_same_v<E, raft_effect::ReadFailed>) {
          auto it = reads_.find(e.read);
          if (it != reads_.end()) {
            answer_read(it->second, error(StatusCode::kUnavailable, "leadership not confirmed"));
            reads_.erase(it);
          }
        } else if constexpr (std::is_same_v<E, raft_effect::Reset>) {
          on_reset();
        }
      },
      effect);
}

// Writes in order, then acknowledges the token once the stores report it durable. A store
// error leaves the token unacknowledged: the member then says nothing that depends on it.
void GroupWorker::persist(raft_effect::Persist p) {
  if (p.hard_state) spec_.state_store->save(*p.hard_state);
  if (p.truncate_from) spec_.log_store->truncate_from(*p.truncate_from);
  if (!p.entries.empty()) spec_.log_store->append(p.append_from, std::move(p.entries));
  auto acknowledge = [this, token = p.token](Status s) {
    if (!groups_ || !s.is_ok()) return;
    raft_->handle_persisted(node_.now(), token);
    run_raft();
  };
  if (spec_.state_store.get() == dynamic_cast<StateStore*>(spec_.log_store.get())) {
    spec_.log_store->sync(acknowledge);
    return;
  }
  spec_.state_store->sync([this, acknowledge](Status s) {
    if (!groups_ || !s.is_ok()) return;
    spec_.log_store->sync(acknowledge);
  });
}

// Applies committed commands in runs of one term, then settles what waited for them.
void GroupWorker::apply_committed(Index commit) {
  const RaftLog& log = raft_->log();
  std::vector<ByteView> run;
  auto entries = log.range(applied_ + 1, std::max(commit, applied_));
  auto next = entries.begin();
  while (applied_ < commit) {
    const Index before = applied_;
    const Term term = next->term;
    run.clear();
    for (; applied_ < commit && next->term == term; ++next) {
      ++applied_;
      if (next->kind == EntryKind::kCommand) run.push_back(next->payload);
    }
    if (!run.empty()) {
      ApplyContext ctx{before, applied_, term, id_, discovery_.config().network};
      const std::size_t skipped = machine_->apply_batch(run, ctx);
      if (skipped) node_.trace("group.undecodable_commands", skipped);
    }
  }
  settle_executes();
  settle_reads();
  changed_.notify();
}

// An execute succeeds only when the entry applied at its index is the one it proposed (same
// index and term: by Log Matching the same entry).
void GroupWorker::settle_executes() {
  while (!executes_.empty() && executes_.begin()->first <= applied_) {
    auto node = executes_.extract(executes_.begin());
    PendingExecute& e = node.mapped();
    if (raft_->log().term_at(e.last.index) == e.last.term) {
      e.done(e.last.index);
    } else {
      e.done(error(StatusCode::kCancelled,
                   "the commands were replaced by a new leader's entries and not applied"));
    }
  }
  // Terms never decrease along a log: once an entry of a later term is applied, an entry of an
  // earlier term further on can never be committed, even if no new entry ever reaches its
  // index. Checked once per applied term, not per entry.
  const Term applied_term = applied_ == 0 ? 0 : raft_->log().term_at(applied_).value_or(0);
  if (applied_term <= settled_term_) return;
  settled_term_ = applied_term;
  for (auto it = executes_.begin(); it != executes_.end();) {
    if (it->second.last.term < applied_term) {
      auto done = std::move(it->second.done);
      it = executes_.erase(it);
      done(error(StatusCode::kCancelled, "a new leader's entries replaced the commands"));
    } else {
      ++it;
    }
  }
}

void GroupWorker::on_reset() {
  machine_->reset();
  applied_ = 0;
  settled_term_ = 0;
  auto executes = std::move(executes_);
  for (auto& [i, e] : executes) {
    e.done(error(StatusCode::kCancelled, "this member joined another cluster of the group"));
  }
  changed_.notify();
}

void GroupWorker::update_raft_peers() {
  std::vector<RaftPeer> peers;
  for (const auto& [token, bond] : bonds_) {
    if (bond.machine && bond.machine->state() == BondMachine::State::kUp) {
      peers.push_back(
          RaftPeer{bond.peer, bond.machine->remote_observer(), bond.machine->remote_incarnation()});
    }
  }
  raft_->handle_peers(node_.now(), peers);
  run_raft();
  changed_.notify();
}

}  // namespace smalti::groups
