#include "smalti/runtime/node.hpp"

namespace smalti {

Result<std::unique_ptr<Node>> Node::create(const env::Environment& env, NodeOptions options) {
  SMALTI_ASSERT(env.clock && env.executor && env.transport && env.entropy,
                "a node needs a clock, an executor, a transport and entropy");
  std::array<std::uint8_t, 32> seed{};
  if (options.secret_seed) {
    seed = *options.secret_seed;
  } else {
    env.entropy->fill(seed.data(), seed.size());
  }
  SMALTI_ASSIGN_OR_RETURN(SecretKey key, SecretKey::from_seed(seed));
  return std::unique_ptr<Node>(new Node(env, std::move(options), std::move(key)));
}

Node::Node(const env::Environment& env, NodeOptions options, SecretKey key)
    : env_(env),
      options_(std::move(options)),
      secret_key_(std::move(key)),
      seed_rng_(env.entropy->seed()),
      tasks_(*env.executor),
      alive_(std::make_shared<Node*>(this)) {}

Node::~Node() {
  shutdown_now();
}

void Node::spawn(Task<void> task) {
  if (shut_down_) return;  // dropping the task destroys it: nothing runs after shutdown
  tasks_.spawn(std::move(task));
}

Status Node::serve(const std::string& alpn, env::AcceptFn on_link) {
  if (shut_down_) return error(StatusCode::kFailedPrecondition, "node is shut down");
  if (handlers_.count(alpn) != 0) {
    return error(StatusCode::kAlreadyExists, "already serving " + alpn);
  }
  Status listening =
      env_.transport->listen(alpn, [alive = std::weak_ptr<Node*>(alive_), alpn](env::LinkPtr link) {
        auto node = alive.lock();
        if (!node || *node == nullptr || (*node)->shut_down_) {
          link->close(env::close_code::kGracefulShutdown, "node is shutting down");
          return;
        }
        auto it = (*node)->handlers_.find(alpn);
        if (it == (*node)->handlers_.end()) {
          link->close(env::close_code::kInvalidAlpn, "no handler for " + alpn);
          return;
        }
        it->second(std::move(link));
      });
  if (listening.is_ok()) handlers_.emplace(alpn, std::move(on_link));
  return listening;
}

void Node::connect(const PeerAddr& addr, const std::string& alpn, env::ConnectFn done) {
  if (shut_down_) {
    // Later, as the transport would: callers are never called back from inside connect().
    executor().post(
        [done = std::move(done)] { done(error(StatusCode::kCancelled, "node is shut down")); });
    return;
  }
  env_.transport->connect(addr, alpn, std::move(done));
}

CallbackAwaiter<Result<env::LinkPtr>> Node::connect(const PeerAddr& addr, const std::string& alpn) {
  return await_callback<Result<env::LinkPtr>>(
      [this, addr, alpn](std::function<void(Result<env::LinkPtr>)> done) {
        connect(addr, alpn, std::move(done));
      });
}

void Node::trace(std::string_view kind, std::uint64_t a, std::uint64_t b, ByteView detail) {
  if (env_.tracer != nullptr) env_.tracer->record(kind, a, b, detail);
}

bool Node::buggify(std::string_view point) {
  return env_.tracer != nullptr && env_.tracer->buggify(point);
}

Buggify Node::buggify_fn() {
  if (env_.tracer == nullptr) return {};
  return [tracer = env_.tracer](std::string_view point) { return tracer->buggify(point); };
}

void Node::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  *alive_ = nullptr;
  handlers_.clear();
  tasks_.cancel_all_later();
}

void Node::shutdown_now() {
  shutdown();
  tasks_.cancel_all();
}

}  // namespace smalti
