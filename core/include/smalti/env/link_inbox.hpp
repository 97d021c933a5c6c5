// LinkInbox: how a Link implementation hands what arrives to its handler. Both backends (the
// simulated link and the QUIC link) use it, so the rule of env::Link is written once:
//   - frames that arrive before a handler is set are held, in order, up to a bound of frames
//     and bytes; a frame past the bound is refused (deliver() returns false) and the backend
//     resets the link;
//   - when the link ends from the remote side (a close or a reset), the frames that arrived
//     before the end are still delivered, then the end is reported, exactly once, as soon as a
//     handler is set (at once if one is);
//   - after the end is reported, or after the owner's own close, nothing more is delivered or
//     reported; set_handler(nullptr) pauses delivery, and what arrives meanwhile is held.
// The owning link must outlive the calls into its handler: a handler may drop the last
// reference to the link, so the backend keeps one across deliver(), end() and set_handler().
// Not synchronised: used on the link's executor.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

#include "smalti/env/transport.hpp"

namespace smalti::env {

class LinkInbox {
 public:
  struct Limits {
    std::size_t max_frames = 1024;
    std::size_t max_bytes = 16u << 20;
  };
  explicit LinkInbox(Limits limits) : limits_(limits) {}

  // Sets (or with nullptr clears) the handler, then delivers what was held and a held end.
  void set_handler(LinkHandler* handler);
  // A frame arrived. False when it had to be held and the hold is full: reset the link.
  [[nodiscard]] bool deliver(Bytes frame);
  // The link ended from the remote side: reported after the held frames, once a handler is set
  // (at once when `report_now` and one is set; otherwise by set_handler() or report_end()).
  void end(const CloseInfo& info, bool report_now = true);
  // Reports an end that end() held back, if a handler is set.
  void report_end();
  // The owner closed the link: what is held is dropped and nothing is reported afterwards.
  void close_locally();

  // False once the link ended from either side.
  bool open() const { return open_; }
  std::size_t held_frames() const { return held_.size(); }

 private:
  void drain();

  Limits limits_;
  LinkHandler* handler_ = nullptr;
  std::deque<Bytes> held_;
  std::size_t held_bytes_ = 0;
  std::optional<CloseInfo> end_;  // the remote end, not yet reported
  bool open_ = true;
};

}  // namespace smalti::env
