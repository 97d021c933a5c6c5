// Node: the runtime of one peer — its identity, its environment, its tasks and its protocols.
//
// A node is single-threaded: everything it does runs on its Executor. Other threads reach it
// only by posting to that executor. The node owns the tasks spawned on it; shutdown() (and the
// destructor, which is how the simulator crashes a node) destroys them all, so a task never
// outlives its node. Protocols register the ALPN they serve with serve(); the transport hands
// each incoming link to the handler of its ALPN.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "smalti/base/buggify.hpp"
#include "smalti/base/identity.hpp"
#include "smalti/base/rng.hpp"
#include "smalti/base/status.hpp"
#include "smalti/env/environment.hpp"
#include "smalti/runtime/await_callback.hpp"
#include "smalti/runtime/condition.hpp"
#include "smalti/runtime/task.hpp"
#include "smalti/runtime/task_scope.hpp"

namespace smalti {

struct NodeOptions {
  // A readable name for logs and traces.
  std::string name = "node";
  // The identity's 32 seed bytes; drawn from the environment's entropy when absent.
  std::optional<std::array<std::uint8_t, 32>> secret_seed;
};

class Node {
 public:
  // Requires env.clock, env.executor, env.transport and env.entropy.
  static Result<std::unique_ptr<Node>> create(const env::Environment& env, NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return options_.name; }
  const PeerId& id() const { return secret_key_.peer_id(); }
  const SecretKey& secret_key() const { return secret_key_; }
  PeerAddr addr() const { return env_.transport->local_addr(); }
  const env::Environment& env() const { return env_; }
  env::Executor& executor() const { return *env_.executor; }
  env::Clock& clock() const { return *env_.clock; }
  Instant now() const { return env_.clock->monotonic(); }
  WallTime wall_now() const { return env_.clock->wall(); }

  // A generator derived from the node's seed and `label`: the same label gives the same stream.
  Rng make_rng(std::string_view label) const { return seed_rng_.derive(label); }

  // Starts `task` on the executor; it is destroyed when it finishes or the node shuts down.
  void spawn(Task<void> task);
  SleepUntil sleep(Duration d) { return SleepUntil(executor(), now() + d); }
  SleepUntil sleep_until(Instant at) { return SleepUntil(executor(), at); }

  // Serves `alpn`: incoming links are handed to `on_link` until shutdown.
  Status serve(const std::string& alpn, env::AcceptFn on_link);
  void connect(const PeerAddr& addr, const std::string& alpn, env::ConnectFn done);
  CallbackAwaiter<Result<env::LinkPtr>> connect(const PeerAddr& addr, const std::string& alpn);

  // Trace hooks (no-ops without a tracer, i.e. on the real backend).
  void trace(std::string_view kind, std::uint64_t a = 0, std::uint64_t b = 0, ByteView detail = {});
  bool buggify(std::string_view point);
  // Node::buggify as a function for the machines and stores this node drives (base/buggify.hpp);
  // empty without a tracer, so a machine on the real backend never even asks.
  Buggify buggify_fn();

  bool is_shut_down() const { return shut_down_; }
  // Stops serving and spawning at once and destroys every task in the next executor turn, so a
  // task may shut down its own node. Idempotent.
  void shutdown();
  // Stops like shutdown() and destroys every task now. Not from one of the node's own tasks.
  void shutdown_now();

 private:
  Node(const env::Environment& env, NodeOptions options, SecretKey key);

  env::Environment env_;
  NodeOptions options_;
  SecretKey secret_key_;
  Rng seed_rng_;
  TaskScope tasks_;
  std::map<std::string, env::AcceptFn> handlers_;
  std::shared_ptr<Node*> alive_;
  bool shut_down_ = false;
};

}  // namespace smalti
