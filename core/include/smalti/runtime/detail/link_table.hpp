// LinkTable: the links one protocol driver owns, named by the tokens its state machine chose.
//
// The driver opens links with connect(token, ...) or hands accepted ones to adopt(token, ...);
// the table sets itself as their handler and reports, each in its own executor turn or from the
// link's own callbacks: on_connected(token) once a connect succeeded, on_down(token) when a
// connect failed or a link ended from the remote side, on_frame(token, bytes) for each frame.
// close(token) closes without a report (the Link contract). Destroying the table closes every
// link with GracefulShutdown and reports nothing. Executor thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "smalti/env/transport.hpp"
#include "smalti/runtime/node.hpp"

namespace smalti {

class LinkTable {
 public:
  using Token = std::uint64_t;
  struct Callbacks {
    std::function<void(Token)> on_connected;
    // A failed connect reports code kReset and the reason.
    std::function<void(Token, const env::CloseInfo&)> on_down;
    std::function<void(Token, Bytes)> on_frame;
  };

  LinkTable(Node& node, Callbacks callbacks);
  ~LinkTable();
  LinkTable(const LinkTable&) = delete;
  LinkTable& operator=(const LinkTable&) = delete;

  void connect(Token token, const PeerAddr& addr, const std::string& alpn);
  void adopt(Token token, env::LinkPtr link);
  // kNotFound for an unknown or still-connecting token; otherwise the link's own send result, or
  // kLimitExceeded (as from a full link) when the simulator's BUGGIFY point "link.refuse_send"
  // fires. The frame is moved
  // from only when the send succeeds (env::Link::send).
  Status send(Token token, Bytes& frame);
  Status send(Token token, Bytes&& frame) { return send(token, frame); }
  // Closes the link (or abandons the connect); nothing is reported afterwards. Idempotent.
  void close(Token token, std::uint32_t code, std::string reason);
  // Closes every link, as close() does for each.
  void close_all(std::uint32_t code, const std::string& reason);
  // The remote peer of an open link.
  std::optional<PeerId> remote(Token token) const;
  // The transport's smoothed RTT of the link; zero when unknown.
  Duration rtt(Token token) const;
  // The link's exporter secret for `label` (env::Link::secret); nullopt for no open link.
  std::optional<Digest> secret(Token token, std::string_view label) const;
  std::size_t size() const { return entries_.size(); }
  bool contains(Token token) const { return entries_.count(token) != 0; }

 private:
  class Adapter;
  struct Entry {
    env::LinkPtr link;  // null while connecting
    std::unique_ptr<Adapter> adapter;
  };
  void on_connect_result(Token token, Result<env::LinkPtr> link);
  void adopt_connected(Entry& entry, Token token, env::LinkPtr link);
  void on_link_closed(Token token, const env::CloseInfo& info);
  void retire(Entry entry);

  Node& node_;
  Callbacks callbacks_;
  std::map<Token, Entry> entries_;
  std::shared_ptr<LinkTable*> alive_;
};

}  // namespace smalti
