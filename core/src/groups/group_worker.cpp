// GroupWorker: construction, the pump that runs the machines, Raft's effects, persistence and
// applying committed entries.
#include "smalti/groups/detail/group_worker.hpp"

#include <algorithm>
#include <string>

#include "group_router.hpp"

namespace smalti::groups::detail {

namespace {

struct Recovered {
  HardState hard_state;
  RecoveredLog log;
  Status error;
};

// What the stores kept. A store that cannot be read is reported; the member then starts as a
// new incarnation, whose first Persist the same store will most likely refuse too.
Recovered recover(StateStore& state, LogStore& log, SnapshotStore& snapshots) {
  Recovered r;
  auto keep_first_error = [&](const Status& s) {
    if (r.error.is_ok()) r.error = s;
  };
  auto s = state.load_state();
  if (s.is_ok()) {
    r.hard_state = *s;
  } else {
    keep_first_error(s.status());
  }
  auto base = log.load_base();
  auto entries = log.load_log();
  auto snapshot = snapshots.load_snapshot();
  if (!base.is_ok() || !entries.is_ok() || !snapshot.is_ok()) {
    keep_first_error(!base.is_ok() ? base.status()
                                   : (!entries.is_ok() ? entries.status() : snapshot.status()));
    return r;
  }
  const Index snapshot_index = *snapshot ? (*snapshot)->meta.index : 0;
  if (snapshot_index < base->index) {
    // Entries were pruned that no stored snapshot holds: nothing of the log can be trusted, and
    // the member starts over as a new incarnation (never the voter it was).
    keep_first_error(error(StatusCode::kMalformed, "the log was pruned past its snapshot"));
    r.hard_state = HardState{};
    return r;
  }
  r.log = RecoveredLog{*base, std::move(entries).value(), std::move(snapshot).value()};
  return r;
}

}  // namespace

GroupWorker::GroupWorker(GroupRouter& router, const GroupId& id, GroupSpec spec,
                         std::unique_ptr<ErasedStateMachine> machine, LinkToken first_link)
    : router_(&router),
      node_(router.node()),
      discovery_(router.discovery()),
      id_(id),
      spec_(std::move(spec)),
      machine_(std::move(machine)),
      rng_(node_.make_rng("groups").derive_seed(id.to_hex())),
      raft_timer_(node_.executor(),
                  [this] {
                    raft_->handle_timeout(node_.now());
                    pump();
                  }),
      session_timer_(node_.executor(),
                     [this] {
                       session_->handle_timeout(node_.now());
                       pump();
                     }),
      ticket_timer_(node_.executor(),
                    [this] {
                      refresh_catalog();
                      arm_ticket_check();
                    }),
      apply_timer_(node_.executor(),
                   [this] {
                     apply_committed(raft_->commit_index(), /*deferred=*/true);
                     pump();
                   }),
      changed_(node_.executor()) {
  const Status opened = open_stores(router);
  const LeadershipPreference preference = machine_->leadership_preference();
  bond_config_ = BondConfig{.network = discovery_.config().network,
                            .group = id_,
                            .key_secret = spec_.key.secret(),
                            .self = node_.id(),
                            .observer = preference.is_observer(),
                            .incarnation = 0,
                            .consensus = spec_.consensus,
                            .handshake_timeout = router.options().handshake_timeout,
                            .buggify = node_.buggify_fn()};
  Recovered recovered = recover(*spec_.state_store, *spec_.log_store, *spec_.snapshot_store);
  if (!opened.is_ok()) store_failed(opened);
  if (!recovered.error.is_ok()) store_failed(recovered.error);
  raft_ =
      std::make_unique<RaftMachine>(RaftOptions{.self = node_.id(),
                                                .consensus = spec_.consensus,
                                                .preference = preference,
                                                .seed = rng_.next_u64(),
                                                .log_replay = spec_.log_replay,
                                                .buggify = node_.buggify_fn()},
                                    recovered.hard_state, std::move(recovered.log), node_.now());
  session_ = std::make_unique<GroupSession>(
      SessionConfig{.self = node_.id(),
                    .consensus = spec_.consensus,
                    .handshake_timeout = router.options().handshake_timeout,
                    .redial_after = kRedialAfter,
                    .first_link = first_link,
                    .max_pending_calls = kMaxPendingCalls,
                    .max_links = kMaxBonds,
                    .buggify = node_.buggify_fn()},
      raft_->log(), node_.now());
  if (raft_->snapshot()) restore(*raft_->snapshot());
  seen_log_position_ = raft_->log().last();
  seen_truncations_ = raft_->log().truncations();
  pump();
  arm_ticket_check();
}

// NOLINTNEXTLINE(bugprone-exception-escape): only std::bad_alloc can escape; terminating is right
GroupWorker::~GroupWorker() {
  if (router_) {
    // Tell every bonded member, then let go of the links.
    const Instant now = node_.now();
    for (auto& [link, bond] : bonds_) {
      if (!bond->machine) continue;
      bond->machine->depart(now);
      while (auto effect = bond->machine->poll_effect()) {
        if (auto* send = std::get_if<effect::Send>(&*effect))
          (void)router_->send(link, send->frame);
      }
    }
    for (auto& [link, bond] : bonds_) router_->close(link, bond_close::kDeparted, "departed");
    bonds_.clear();
    router_->release(*this);
  }
  detach();
}

void GroupWorker::detach() {
  router_ = nullptr;
  raft_timer_.disarm();
  session_timer_.disarm();
  ticket_timer_.disarm();
  apply_timer_.disarm();
  bonds_.clear();
  const Status gone = error(StatusCode::kUnavailable, "the group is closed");
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& [call, waiter] : waiters) {
    std::visit([&](auto& done) { done(gone); }, waiter);
  }
}

env::Clock& GroupWorker::clock() const {
  return node_.clock();
}

GroupConfig GroupWorker::config() const {
  return GroupConfig{id_, spec_.key, spec_.consensus, spec_.log_replay, spec_.validators};
}

GroupStatus GroupWorker::status() const {
  return GroupStatus{raft_->role(),
                     raft_->term(),
                     raft_->leader(),
                     raft_->is_online(),
                     raft_->commit_index(),
                     applied_,
                     session_->bonded_peers().size(),
                     raft_->voters().voters.size(),
                     store_error_};
}

// ---- the pump -----------------------------------------------------------------------------

// Runs every machine with work until none has any: an effect of one is often an input of
// another (a bond delivers to Raft, Raft sends on a bond). Inputs that arrive meanwhile (a
// machine's effect feeding another) only queue effects; a nested call returns at once and the
// outer loop picks them up. Machines run one at a time, so none is re-entered.
void GroupWorker::pump() {
  if (pumping_ || !router_) return;
  pumping_ = true;
  retired_.clear();
  do {
    run_bonds();
    run_session();
    if (peers_changed_) {
      peers_changed_ = false;
      raft_->handle_peers(node_.now(), raft_peers());
      changed_now_ = true;
    }
    run_raft();
  } while (router_ && (peers_changed_ || raft_->pending_effects() != 0 ||
                       session_->pending_effects() != 0 || !dirty_bonds_.empty()));
  pumping_ = false;
  if (router_) note_changes();
}

void GroupWorker::run_raft() {
  run_machine(*raft_, raft_timer_, [this](RaftEffect e) { execute_raft(std::move(e)); });
  framed_message_.reset();
  framed_ = Bytes();
}

void GroupWorker::run_session() {
  run_machine(*session_, session_timer_,
              [this](SessionEffect e) { execute_session(std::move(e)); });
}

// Signals the when() conditions when the log's last position or the applied index moved.
void GroupWorker::note_changes() {
  const RaftLog& log = raft_->log();
  if (log.last() != seen_log_position_ || log.truncations() != seen_truncations_) {
    seen_log_position_ = log.last();
    seen_truncations_ = log.truncations();
    ++log_changes_;
    changed_now_ = true;
  }
  if (applied_ != seen_applied_) {
    seen_applied_ = applied_;
    ++applied_changes_;
    changed_now_ = true;
  }
  if (changed_now_) {
    changed_now_ = false;
    changed_.notify();
  }
}

// ---- Raft's effects -----------------------------------------------------------------------

void GroupWorker::execute_raft(RaftEffect effect) {
  std::visit(
      [&](auto& e) {
        using E = std::decay_t<decltype(e)>;
        const Instant now = node_.now();
        if constexpr (std::is_same_v<E, raft_effect::Send>) {
          send_raft(e);
        } else if constexpr (std::is_same_v<E, raft_effect::Persist>) {
          persist(std::move(e));
        } else if constexpr (std::is_same_v<E, raft_effect::Committed>) {
          apply_committed(e.index);
        } else if constexpr (std::is_same_v<E, raft_effect::RoleChanged>) {
          node_.trace("group.role", static_cast<std::uint64_t>(raft_->role()), raft_->term());
          session_->handle_leader(now, raft_->leader());
          changed_now_ = true;
        } else if constexpr (std::is_same_v<E, raft_effect::ReadReady>) {
          session_->handle_read_ready(now, e.read, e.index);
        } else if constexpr (std::is_same_v<E, raft_effect::ReadFailed>) {
          session_->handle_read_failed(now, e.read);
        } else if constexpr (std::is_same_v<E, raft_effect::Reset>) {
          on_reset();
        } else if constexpr (std::is_same_v<E, raft_effect::Restore>) {
          // The machine's latest snapshot; a newer one may have been taken since the effect.
          if (raft_->snapshot() && raft_->snapshot()->meta.index >= e.index) {
            restore(*raft_->snapshot());
          }
        }
      },
      effect);
}

// On the bond of its peer; the Sends of one broadcast share one message, encoded once. Raft
// takes a frame the link refuses as lost (its own timers send again).
void GroupWorker::send_raft(const raft_effect::Send& send) {
  auto link = session_->bond_link(send.to);
  if (!link) return;
  if (send.message != framed_message_) {
    framed_ = encode_raft_frame(*send.message);
    framed_message_ = send.message;
  }
  send_on(*link, framed_, [this](Bytes&, const Status& why) {
    node_.trace("group.raft_send_refused", static_cast<std::uint64_t>(why.code()));
  });
}

// Writes in order, then acknowledges the token once the stores report it durable. A store
// error is never acknowledged: the member then says nothing that depends on the write. The
// stores sync one after another (snapshot, state, log; one sync when they are one object), so
// a log pruned is never durable before the snapshot that holds what was pruned.
void GroupWorker::persist(raft_effect::Persist p) {
  SnapshotStore& snapshots = *spec_.snapshot_store;
  if (p.drop_snapshot) snapshots.save_snapshot(std::nullopt);
  if (p.snapshot) snapshots.save_snapshot(*p.snapshot);
  if (p.hard_state) spec_.state_store->save(*p.hard_state);
  if (p.reset_to) spec_.log_store->reset_to(*p.reset_to);
  if (p.truncate_from) spec_.log_store->truncate_from(*p.truncate_from);
  if (!p.entries.empty()) spec_.log_store->append(p.append_from, std::move(p.entries));
  if (p.prune_through) spec_.log_store->prune_through(*p.prune_through);
  std::function<void(Status)> done = [this, token = p.token](const Status& s) {
    if (!router_) return;
    if (!s.is_ok()) return store_failed(s);
    if (!store_error_.is_ok()) return;  // an earlier write may be lost: nothing after it counts
    raft_->handle_persisted(node_.now(), token);
    pump();
  };
  // Each distinct store once, the last one first in this chain of completions.
  std::vector<std::function<void(std::function<void(Status)>)>> syncs;
  std::vector<const void*> seen;
  auto add = [&](auto* store) {
    const void* identity = dynamic_cast<const void*>(store);
    if (std::find(seen.begin(), seen.end(), identity) != seen.end()) return;
    seen.push_back(identity);
    syncs.emplace_back([store](std::function<void(Status)> next) { store->sync(std::move(next)); });
  };
  add(spec_.log_store.get());
  add(spec_.state_store.get());
  add(&snapshots);
  for (std::size_t i = 0; i + 1 < syncs.size(); ++i) {
    done = [this, sync = syncs[i], next = std::move(done)](const Status& s) {
      if (!router_) return;
      if (!s.is_ok()) return store_failed(s);
      sync(next);
    };
  }
  syncs.back()(std::move(done));
}

// The stores given to the builder, else the group's or the node's provider's, else in-memory
// ones over the node's medium. When the provider cannot open them the member runs on volatile
// stores and returns the error: it then acknowledges nothing (store_failed).
Status GroupWorker::open_stores(GroupRouter& router) {
  if (spec_.state_store && spec_.log_store && spec_.snapshot_store) return Status::ok();
  if (!spec_.storage) spec_.storage = router.storage();
  std::shared_ptr<MemoryMedium> medium = router.options().medium;
  Status status = Status::ok();
  if (spec_.storage) {
    if (medium) spec_.storage->record_durable_image(medium);  // what the checkers read
    auto stores = spec_.storage->open(id_);
    if (stores.is_ok()) {
      if (!spec_.state_store) spec_.state_store = stores->state;
      if (!spec_.log_store) spec_.log_store = stores->log;
      if (!spec_.snapshot_store) spec_.snapshot_store = stores->snapshot;
      // A provider written before snapshots: its log store may hold them too.
      if (!spec_.snapshot_store) {
        spec_.snapshot_store = std::dynamic_pointer_cast<SnapshotStore>(spec_.log_store);
      }
      SMALTI_ASSERT(spec_.state_store && spec_.log_store && spec_.snapshot_store,
                    "a store provider returned no stores");
      return Status::ok();
    }
    status = stores.status().with_context("opening the stores (" + spec_.storage->describe() + ")");
    medium = nullptr;
  }
  // Over the simulator's medium a sync takes a seeded while, and a crash loses what it had not
  // finished (docs/decisions.md); volatile stores complete on the next turn.
  SyncLatency latency;
  if (medium) {
    const GroupsOptions& options = router.options();
    latency = SyncLatency{.min = options.medium_sync_min,
                          .max = options.medium_sync_max,
                          .seed = node_.make_rng("groups.stores").derive_seed(id_.to_hex())};
  }
  auto memory = std::make_shared<MemoryStores>(node_.executor(), std::move(medium), id_,
                                               &node_.clock(), latency);
  if (!spec_.state_store) spec_.state_store = memory;
  if (!spec_.log_store) spec_.log_store = memory;
  if (!spec_.snapshot_store) spec_.snapshot_store = memory;
  return status;
}

// The first store error is kept and traced; the member stops acknowledging from here on.
void GroupWorker::store_failed(const Status& why) {
  if (!store_error_.is_ok()) return;
  store_error_ = why;
  const std::string message = "store failed, no longer acknowledging: " + why.to_string();
  node_.trace("group.store_error", static_cast<std::uint64_t>(why.code()), 0,
              ByteView(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
  changed_.notify();
}

// Applies committed commands in runs of one term, then tells the session (executes and reads
// wait for it). A run also ends where a snapshot is due, which is taken before going on.
void GroupWorker::apply_committed(Index commit, bool deferred) {
  // Fault point: the state machine is slow, and applies a moment later (whatever is committed
  // by then). Executes and reads wait for the apply; Raft itself goes on.
  if (!deferred && commit > applied_ && node_.buggify("raft.slow_apply")) {
    if (apply_timer_.armed_at() == Instant::max()) apply_timer_.arm(node_.now() + kSlowApply);
    return;
  }
  // A snapshot that could not be restored leaves nothing to apply the log to.
  if (applied_ < raft_->log().base().index) return;
  std::vector<ByteView> run;
  while (applied_ < commit) {
    const Index before = applied_;
    auto entries = raft_->log().range(applied_ + 1, commit);
    auto next = entries.begin();
    const Term term = next->term;
    run.clear();
    bool due = false;
    for (; applied_ < commit && next->term == term && !due; ++next) {
      ++applied_;
      if (next->kind == EntryKind::kCommand) run.push_back(next->payload);
      due = snapshot_due(*next);
    }
    if (!run.empty()) {
      ApplyContext ctx{before, applied_, term, id_, discovery_.config().network};
      const std::size_t skipped = machine_->apply_batch(run, ctx);
      if (skipped) node_.trace("group.undecodable_commands", skipped);
    }
    if (due) take_snapshot();
  }
  session_->handle_applied(node_.now(), applied_);
}

bool GroupWorker::snapshot_due(const LogEntry& applied) {
  const SnapshotPolicy& policy = spec_.snapshots;
  if (!policy.enabled() || !machine_->snapshots()) return false;
  bytes_since_snapshot_ += applied.payload.size();
  return applied_ - snapshot_index_ >= policy.every_entries ||
         bytes_since_snapshot_ >= policy.every_bytes;
}

// The session hears of what was applied first: an execute at an index about to be pruned is
// settled while its entry is still there to check.
void GroupWorker::take_snapshot() {
  session_->handle_applied(node_.now(), applied_);
  const Status taken = raft_->take_snapshot(node_.now(), applied_, machine_->snapshot(),
                                            spec_.snapshots.retain_entries);
  snapshot_index_ = applied_;
  bytes_since_snapshot_ = 0;
  if (!taken.is_ok()) {
    node_.trace("group.snapshot_refused", static_cast<std::uint64_t>(taken.code()), applied_);
    return;
  }
  node_.trace("group.snapshot", applied_);
}

// The state machine becomes the snapshot's state (at start, from the stores; or installed from
// other members). A state the machine cannot read is surfaced as a store error: the member
// stops acknowledging and applies nothing more.
void GroupWorker::restore(const Snapshot& snapshot) {
  apply_timer_.disarm();
  const Status restored = machine_->restore(snapshot.data.view());
  snapshot_index_ = snapshot.meta.index;
  bytes_since_snapshot_ = 0;
  if (!restored.is_ok()) {
    machine_->reset();
    applied_ = 0;
    store_failed(restored.with_context("restoring the snapshot at index " +
                                       std::to_string(snapshot.meta.index)));
    return;
  }
  applied_ = snapshot.meta.index;
  node_.trace("group.snapshot_restored", applied_);
  session_->handle_applied(node_.now(), applied_);
  changed_now_ = true;
}

void GroupWorker::on_reset() {
  apply_timer_.disarm();
  machine_->reset();
  applied_ = 0;
  session_->handle_reset(node_.now());
  changed_now_ = true;
}

}  // namespace smalti::groups::detail
