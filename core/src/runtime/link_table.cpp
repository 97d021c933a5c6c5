#include "smalti/runtime/detail/link_table.hpp"

namespace smalti {

class LinkTable::Adapter final : public env::LinkHandler {
 public:
  Adapter(LinkTable& table, Token token) : table_(table), token_(token) {}
  void on_frame(Bytes frame) override { table_.callbacks_.on_frame(token_, std::move(frame)); }
  void on_closed(const env::CloseInfo& info) override { table_.on_link_closed(token_, info); }

 private:
  LinkTable& table_;
  Token token_;
};

LinkTable::LinkTable(Node& node, Callbacks callbacks)
    : node_(node), callbacks_(std::move(callbacks)), alive_(std::make_shared<LinkTable*>(this)) {}

LinkTable::~LinkTable() {
  *alive_ = nullptr;
  for (auto& [token, entry] : entries_) {
    if (!entry.link) continue;
    entry.link->set_handler(nullptr);
    entry.link->close(env::close_code::kGracefulShutdown, "shutting down");
  }
}

void LinkTable::connect(Token token, const PeerAddr& addr, const std::string& alpn) {
  SMALTI_ASSERT(!entries_.count(token), "link token reused");
  entries_.emplace(token, Entry{});
  node_.connect(addr, alpn,
                [alive = std::weak_ptr<LinkTable*>(alive_), token](Result<env::LinkPtr> link) {
                  auto table = alive.lock();
                  if (table && *table) (*table)->on_connect_result(token, std::move(link));
                });
}

void LinkTable::on_connect_result(Token token, Result<env::LinkPtr> link) {
  auto it = entries_.find(token);
  if (it == entries_.end()) {
    // Closed while connecting: the link is not wanted any more.
    if (link.is_ok()) (*link)->close(env::close_code::kCancelled, "no longer needed");
    return;
  }
  if (!link.is_ok()) {
    entries_.erase(it);
    callbacks_.on_down(token,
                       env::CloseInfo{env::close_code::kReset, link.status().message(), false});
    return;
  }
  adopt_connected(it->second, token, std::move(link).value());
  // The handler may have reported a held close: only report success if the link is still ours.
  if (entries_.count(token)) callbacks_.on_connected(token);
}

void LinkTable::adopt(Token token, env::LinkPtr link) {
  SMALTI_ASSERT(!entries_.count(token), "link token reused");
  auto it = entries_.emplace(token, Entry{}).first;
  adopt_connected(it->second, token, std::move(link));
}

void LinkTable::adopt_connected(Entry& entry, Token token, env::LinkPtr link) {
  entry.link = std::move(link);
  entry.adapter = std::make_unique<Adapter>(*this, token);
  // Bookkeeping first: setting the handler may deliver held frames or a held close at once.
  // Through a copy: the handler may retire the entry, and with it entry.link.
  const env::LinkPtr held = entry.link;
  held->set_handler(entry.adapter.get());
}

Status LinkTable::send(Token token, Bytes& frame) {
  auto it = entries_.find(token);
  if (it == entries_.end() || !it->second.link) {
    return error(StatusCode::kNotFound, "no open link " + std::to_string(token));
  }
  // A link whose send queue is full refuses a frame (back-pressure); the simulator makes that
  // happen anywhere, so every machine's refused-send path runs (the frame stays with the caller).
  if (node_.buggify("link.refuse_send")) {
    return error(StatusCode::kLimitExceeded, "buggify: link.refuse_send (send queue full)");
  }
  return it->second.link->send(std::move(frame));
}

void LinkTable::close(Token token, std::uint32_t code, std::string reason) {
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  Entry entry = std::move(it->second);
  entries_.erase(it);
  if (entry.link) {
    entry.link->set_handler(nullptr);
    entry.link->close(code, std::move(reason));
  }
  retire(std::move(entry));
}

void LinkTable::close_all(std::uint32_t code, const std::string& reason) {
  while (!entries_.empty()) close(entries_.begin()->first, code, reason);
}

std::optional<PeerId> LinkTable::remote(Token token) const {
  auto it = entries_.find(token);
  if (it == entries_.end() || !it->second.link) return std::nullopt;
  return it->second.link->remote();
}

Duration LinkTable::rtt(Token token) const {
  auto it = entries_.find(token);
  if (it == entries_.end() || !it->second.link) return Duration::zero();
  return it->second.link->rtt();
}

std::optional<Digest> LinkTable::secret(Token token, std::string_view label) const {
  auto it = entries_.find(token);
  if (it == entries_.end() || !it->second.link) return std::nullopt;
  return it->second.link->secret(label);
}

void LinkTable::on_link_closed(Token token, const env::CloseInfo& info) {
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  Entry entry = std::move(it->second);
  entries_.erase(it);
  retire(std::move(entry));
  callbacks_.on_down(token, info);
}

void LinkTable::retire(Entry entry) {
  // We may be inside the link's own callback: free the link and its adapter in a later turn.
  node_.executor().post([link = std::move(entry.link),
                         adapter = std::shared_ptr<Adapter>(std::move(entry.adapter))] {});
}

}  // namespace smalti
