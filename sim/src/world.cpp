#include "smalti/sim/world.hpp"

#include <algorithm>

namespace smalti::sim {

// ---- the per-host environment ------------------------------------------------------------

class World::HostExecutor final : public env::Executor {
 public:
  HostExecutor(World& world, HostId host) : world_(world), host_(host) {}
  void post(env::Task fn) override {
    world_.schedule(world_.now(), host_, EventKind::kPost, std::move(fn));
  }
  env::TimerId schedule_at(Instant local_at, env::Task fn) override;
  void cancel(env::TimerId id) override {
    // The queue ignores timers that already ran or were cancelled.
    world_.cancel(EventHandle{id.value, id.slot});
  }

 private:
  World& world_;
  HostId host_;
};

class World::HostTransport final : public env::Transport {
 public:
  HostTransport(World& world, HostId host) : world_(world), host_(host) {}
  PeerAddr local_addr() const override { return world_.addr(host_); }
  Status listen(const std::string& alpn, env::AcceptFn on_link) override;
  void connect(const PeerAddr& addr, const std::string& alpn, env::ConnectFn done) override {
    world_.network_->connect(host_, addr, alpn, std::move(done));
  }

 private:
  World& world_;
  HostId host_;
};

class World::HostEntropy final : public env::Entropy {
 public:
  explicit HostEntropy(Rng rng) : rng_(rng) {}
  std::uint64_t seed() override { return rng_.next_u64(); }
  void fill(std::uint8_t* out, std::size_t len) override {
    for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<std::uint8_t>(rng_.next_u64());
  }

 private:
  Rng rng_;
};

class World::HostTracer final : public env::Tracer {
 public:
  HostTracer(World& world, HostId host) : world_(world), host_(host) {}
  void record(std::string_view kind, std::uint64_t a, std::uint64_t b, ByteView detail) override {
    world_.record(host_, kind, a, b, detail.empty() ? 0 : trace_hash_bytes(detail));
  }
  bool buggify(std::string_view point) override { return world_.buggify(host_, point); }

 private:
  World& world_;
  HostId host_;
};

struct World::Host {
  HostId id = 0;
  NodeSpec spec;
  HostState state = HostState::kUp;
  std::uint32_t incarnation = 0;
  std::array<std::uint8_t, 32> identity_seed{};
  PeerId peer_id;
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<SimFileSystem> disk;
  // The durable side of the in-memory group stores: kept across crashes, like the disk.
  std::shared_ptr<groups::MemoryMedium> medium = std::make_shared<groups::MemoryMedium>();
  std::unique_ptr<HostExecutor> executor;
  std::unique_ptr<HostTransport> transport;
  std::unique_ptr<HostEntropy> entropy;
  std::unique_ptr<HostTracer> tracer;
  std::unique_ptr<Network> network;
  std::map<std::string, env::AcceptFn> listeners;
  std::vector<std::uint32_t> deferred;  // queue slots of events held while paused, in order
};

env::TimerId World::HostExecutor::schedule_at(Instant local_at, env::Task fn) {
  const Instant global =
      std::max(world_.host(host_).clock->global_from_local(local_at), world_.now());
  const EventHandle handle =
      world_.schedule(global, host_, EventKind::kTimer, std::move(fn), local_at);
  return env::TimerId{handle.seq, handle.slot};
}

Status World::HostTransport::listen(const std::string& alpn, env::AcceptFn on_link) {
  auto& listeners = world_.host(host_).listeners;
  if (listeners.count(alpn) != 0)
    return error(StatusCode::kAlreadyExists, "already listening on " + alpn);
  listeners.emplace(alpn, std::move(on_link));
  return Status::ok();
}

// ---- the world ---------------------------------------------------------------------------

World::World(const WorldOptions& options)
    : options_(options),
      rng_(options.seed),
      trace_(options.record_trace),
      buggify_rng_(rng_.derive("buggify")) {
  network_ = std::make_unique<SimNetwork>(*this, rng_.derive("network"), options_.network);
  timer_kind_ = trace_.intern("ev.timer");
  post_kind_ = trace_.intern("ev.post");
  net_kind_ = trace_.intern("ev.net");
}

World::~World() {
  for (auto& h : hosts_) {
    if (h->state != HostState::kCrashed) stop_host(*h);
  }
  hosts_.clear();
  network_.reset();
}

World::Host& World::host(HostId id) {
  SMALTI_ASSERT(id < hosts_.size(), "no such host");
  return *hosts_[id];
}

const World::Host& World::host(HostId id) const {
  SMALTI_ASSERT(id < hosts_.size(), "no such host");
  return *hosts_[id];
}

HostId World::add_node(NodeSpec spec) {
  const auto id = static_cast<HostId>(hosts_.size());
  auto h = std::make_unique<Host>();
  h->id = id;
  if (spec.name.empty()) spec.name = "n" + std::to_string(id);
  h->spec = std::move(spec);
  Rng identity = rng_.derive("identity", id);
  for (auto& b : h->identity_seed) b = static_cast<std::uint8_t>(identity.next_u64());
  auto key = SecretKey::from_seed(h->identity_seed);
  SMALTI_ASSERT(key.is_ok(), "could not derive a node identity");
  h->peer_id = key->peer_id();
  h->clock = std::make_unique<SimClock>([this] { return now_; }, options_.wall_epoch);
  h->disk = std::make_unique<SimFileSystem>(rng_.derive("disk", id));
  h->executor = std::make_unique<HostExecutor>(*this, id);
  h->transport = std::make_unique<HostTransport>(*this, id);
  h->tracer = std::make_unique<HostTracer>(*this, id);
  hosts_.push_back(std::move(h));
  start_host(*hosts_.back());
  return id;
}

void World::start_host(Host& h) {
  h.state = HostState::kUp;
  h.entropy =
      std::make_unique<HostEntropy>(rng_.derive("node", h.id * 1'000'003ull + h.incarnation));
  env::Environment env;
  env.clock = h.clock.get();
  env.executor = h.executor.get();
  env.transport = h.transport.get();
  env.file_system = h.disk.get();
  env.entropy = h.entropy.get();
  env.tracer = h.tracer.get();
  NetworkOptions options = h.spec.options;
  options.node.name = h.spec.name;
  options.node.secret_seed = h.identity_seed;
  if (options.groups.medium) {
    h.medium = options.groups.medium;  // the node's own: what checkers read as its durable state
  } else {
    options.groups.medium = h.medium;
  }
  record(h.id, "node.start", h.incarnation, 0, 0);
  run_on_host(h.id, [&] {
    auto net = Network::create(env, std::move(options));
    SMALTI_ASSERT(net.is_ok(), "a simulated node failed to start");
    h.network = std::move(net).value();
    if (h.spec.setup) h.spec.setup(*h.network);
  });
}

void World::stop_host(Host& h) {
  network_->on_host_down(h.id);
  run_on_host(h.id, [&] { h.network.reset(); });
  h.listeners.clear();
  for (std::uint32_t slot : h.deferred) queue_.release(slot);
  h.deferred.clear();
}

Network* World::network(HostId id) {
  Host& h = host(id);
  return h.state == HostState::kCrashed ? nullptr : h.network.get();
}

PeerId World::peer_id(HostId id) const {
  return host(id).peer_id;
}

PeerAddr World::addr(HostId id) const {
  return PeerAddr{host(id).peer_id, {"sim:" + std::to_string(id)}};
}

const std::string& World::name(HostId id) const {
  return host(id).spec.name;
}

HostState World::state(HostId id) const {
  return host(id).state;
}

bool World::is_alive(HostId id) const {
  return host(id).state != HostState::kCrashed;
}

bool World::is_running(HostId id) const {
  return host(id).state == HostState::kUp;
}

std::uint32_t World::incarnation(HostId id) const {
  return host(id).incarnation;
}

SimClock& World::clock(HostId id) {
  return *host(id).clock;
}

void World::set_drift(HostId id, std::int64_t ppm) {
  Host& h = host(id);
  h.clock->set_drift_ppm(ppm);
  record_fault("clock.drift", id, static_cast<std::uint64_t>(ppm));
  // Pending timers wait for node-clock instants: move them to the new global instants.
  for (std::uint32_t slot : queue_.queued_slots(id, EventKind::kTimer)) {
    const Instant local = queue_.event(slot).local_deadline;
    queue_.reschedule(slot, std::max(now_, h.clock->global_from_local(local)));
  }
}

SimFileSystem& World::disk(HostId id) {
  return *host(id).disk;
}

const groups::MemoryMedium& World::medium(HostId id) const {
  return *host(id).medium;
}

EventHandle World::schedule(Instant at, HostId host_id, EventKind kind, std::function<void()> fn,
                            Instant local_deadline) {
  SMALTI_ASSERT(at >= now_, "scheduled in the past");
  const std::uint32_t inc = host_id == kWorldHost ? 0 : host(host_id).incarnation;
  return queue_.push(at, host_id, inc, kind, std::move(fn), local_deadline);
}

void World::at(Instant when, std::function<void()> fn) {
  schedule(std::max(when, now_), kWorldHost, EventKind::kWorld, std::move(fn));
}

bool World::step() {
  std::uint32_t slot = 0;
  if (!queue_.take_next(slot)) return false;
  Event& event = queue_.event(slot);
  SMALTI_ASSERT(event.at >= now_);
  now_ = event.at;
  if (event.host == kWorldHost) {
    ++events_processed_;
    auto fn = std::move(event.fn);
    queue_.release(slot);
    fn();
    return true;
  }
  Host& h = host(event.host);
  if (h.state == HostState::kCrashed || event.incarnation != h.incarnation) {
    queue_.release(slot);
    return true;
  }
  if (h.state == HostState::kPaused) {
    h.deferred.push_back(slot);  // still cancellable through its handle
    return true;
  }
  const bool is_timer = event.kind == EventKind::kTimer;
  if (is_timer && h.clock->monotonic() < event.local_deadline) {
    // The node's clock slowed down after the timer was scheduled: not due yet on its clock.
    queue_.requeue(slot, std::max(now_, h.clock->global_from_local(event.local_deadline)));
    return true;
  }
  ++events_processed_;
  trace_.record_kind(now_, event.host,
                     is_timer                            ? timer_kind_
                     : event.kind == EventKind::kNetwork ? net_kind_
                                                         : post_kind_,
                     event.seq, 0, 0);
  auto fn = std::move(event.fn);
  queue_.release(slot);
  run_on_host(h.id, fn);
  if (step_observer_) step_observer_(h.id);
  return true;
}

void World::run_until(Instant deadline) {
  while (!queue_.empty() && queue_.next_time() <= deadline) step();
  if (deadline > now_) now_ = deadline;
}

bool World::run_until(const std::function<bool()>& done, Duration limit) {
  const Instant deadline = now_ + limit;
  if (done()) return true;
  while (!queue_.empty() && queue_.next_time() <= deadline) {
    step();
    if (done()) return true;
  }
  if (deadline > now_) now_ = deadline;
  return done();
}

void World::run_on_host(HostId id, const std::function<void()>& fn) {
  const HostId saved = current_host_;
  current_host_ = id;
  fn();
  current_host_ = saved;
}

bool World::has_listener(HostId id, const std::string& alpn) const {
  return host(id).listeners.count(alpn) != 0;
}

void World::accept_link(HostId id, const std::string& alpn, env::LinkPtr link) {
  Host& h = host(id);
  auto it = h.listeners.find(alpn);
  if (it == h.listeners.end()) {
    link->close(env::close_code::kInvalidAlpn, "no listener for " + alpn);
    return;
  }
  auto on_link = it->second;  // the listener may replace itself
  on_link(std::move(link));
}

void World::record(HostId id, std::string_view kind, std::uint64_t a, std::uint64_t b,
                   std::uint64_t detail) {
  trace_.record(now_, id, kind, a, b, detail);
}

void World::record_fault(std::string_view kind, std::uint64_t a, std::uint64_t b) {
  trace_.record(now_, kWorldHost, kind, a, b, 0);
  auto it = std::find_if(fault_counts_.begin(), fault_counts_.end(),
                         [&](const FaultCount& f) { return f.kind == kind; });
  if (it == fault_counts_.end()) {
    fault_counts_.push_back(FaultCount{std::string(kind), 1});
  } else {
    ++it->count;
  }
}

void World::crash(HostId id) {
  SMALTI_ASSERT(current_host_ != id, "a node cannot crash itself from its own code");
  Host& h = host(id);
  if (h.state == HostState::kCrashed) return;
  record_fault("crash", id, h.incarnation);
  // Crashed before the network looks at it, so peers' links start their idle timers.
  h.state = HostState::kCrashed;
  stop_host(h);
  ++h.incarnation;  // every event of the old incarnation is dropped from here on
  h.disk->crash();
}

void World::restart(HostId id) {
  Host& h = host(id);
  if (h.state != HostState::kCrashed) return;
  record_fault("restart", id, h.incarnation);
  start_host(h);
  network_->on_host_restarted(id);
}

void World::pause(HostId id) {
  Host& h = host(id);
  if (h.state != HostState::kUp) return;
  record_fault("pause", id, 0);
  h.state = HostState::kPaused;
  network_->on_reachability_changed();
}

void World::resume(HostId id) {
  Host& h = host(id);
  if (h.state != HostState::kPaused) return;
  record_fault("resume", id, 0);
  h.state = HostState::kUp;
  // Held events run now, after what is already queued for this instant, in their original
  // (time, scheduling) order.
  std::stable_sort(h.deferred.begin(), h.deferred.end(), [this](std::uint32_t a, std::uint32_t b) {
    return queue_.event(a).at < queue_.event(b).at;
  });
  for (std::uint32_t slot : h.deferred) queue_.requeue(slot, now_);
  h.deferred.clear();
  network_->on_reachability_changed();
}

bool World::buggify(HostId id, std::string_view point) {
  if (!options_.buggify) return false;
  auto it = buggify_points_.find(point);
  if (it == buggify_points_.end()) {
    // Whether a point is enabled depends only on the seed and its name, not on when it is met.
    Rng decide = rng_.derive(std::string("buggify:").append(point));
    const auto& only = options_.buggify_only;
    const bool allowed = only.empty() || std::find(only.begin(), only.end(), point) != only.end();
    it = buggify_points_
             .emplace(std::string(point),
                      decide.chance(options_.buggify_enable_probability) && allowed)
             .first;
  }
  if (!it->second || !buggify_rng_.chance(options_.buggify_fire_probability)) return false;
  record(id, "buggify", trace_hash_bytes(as_bytes(point)), 0, 0);
  return true;
}

}  // namespace smalti::sim
