#include "smalti/env/link_inbox.hpp"

#include <utility>

namespace smalti::env {

void LinkInbox::set_handler(LinkHandler* handler) {
  handler_ = handler;
  drain();
}

bool LinkInbox::deliver(Bytes frame) {
  if (!open_) return true;  // ended: nothing more arrives
  if (handler_ != nullptr && held_.empty()) {
    handler_->on_frame(std::move(frame));
    return true;
  }
  if (held_.size() >= limits_.max_frames || held_bytes_ + frame.size() > limits_.max_bytes) {
    return false;
  }
  held_bytes_ += frame.size();
  held_.push_back(std::move(frame));
  drain();
  return true;
}

void LinkInbox::end(const CloseInfo& info, bool report_now) {
  if (!open_) return;
  open_ = false;
  end_ = info;
  if (report_now) drain();
}

void LinkInbox::report_end() {
  drain();
}

void LinkInbox::close_locally() {
  open_ = false;
  handler_ = nullptr;
  held_.clear();
  held_bytes_ = 0;
  end_.reset();
}

// Held frames first, in order, then a held end. The handler may clear itself, close the link
// or drop it from inside any of these calls: each step re-checks.
void LinkInbox::drain() {
  while (handler_ != nullptr && !held_.empty()) {
    Bytes frame = std::move(held_.front());
    held_.pop_front();
    held_bytes_ -= frame.size();
    handler_->on_frame(std::move(frame));
  }
  if (handler_ == nullptr || !held_.empty() || !end_) return;
  const CloseInfo info = std::move(*end_);
  end_.reset();
  LinkHandler* handler = handler_;
  handler_ = nullptr;
  handler->on_closed(info);
}

}  // namespace smalti::env
