// SharedBytes: an immutable byte string whose copies share one buffer.
//
// A Raft entry's payload is held by the log, the Persist effect, the store, its durable medium
// and every AppendEntries slice at once; sharing makes each of those copies a reference-count
// increment instead of an allocation. A SharedBytes may view part of a larger buffer (a decoded
// frame, or one buffer holding a whole batch of encoded commands) and keeps all of it alive.
//
// Value type. Copies may be used from different threads (the count is atomic); the bytes never
// change after construction.
#pragma once

#include <algorithm>
#include <memory>
#include <utility>

#include "smalti/base/assert.hpp"
#include "smalti/base/bytes.hpp"

namespace smalti {

class SharedBytes {
 public:
  SharedBytes() = default;
  // Takes ownership of `bytes` (implicit: a Bytes is a SharedBytes with one owner).
  SharedBytes(Bytes bytes)  // NOLINT(google-explicit-constructor)
      : owner_(bytes.empty() ? nullptr : std::make_shared<const Bytes>(std::move(bytes))),
        view_(owner_ ? ByteView(*owner_) : ByteView()) {}
  // Views `part`, which must lie inside *owner.
  SharedBytes(std::shared_ptr<const Bytes> owner, ByteView part)
      : owner_(std::move(owner)), view_(part) {
    SMALTI_ASSERT(part.empty() || (owner_ && part.data() >= owner_->data() &&
                                   part.data() + part.size() <= owner_->data() + owner_->size()),
                  "a SharedBytes views bytes outside its owner");
  }

  ByteView view() const { return view_; }
  operator ByteView() const { return view_; }  // NOLINT(google-explicit-constructor)
  const std::uint8_t* data() const { return view_.data(); }
  std::size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  auto begin() const { return view_.begin(); }
  auto end() const { return view_.end(); }
  Bytes to_bytes() const { return Bytes(view_.begin(), view_.end()); }
  // Bytes [offset, offset + count) of this one, sharing its buffer (clamped to the end).
  SharedBytes part(std::size_t offset, std::size_t count) const {
    offset = std::min(offset, view_.size());
    count = std::min(count, view_.size() - offset);
    return SharedBytes(owner_, view_.subspan(offset, count));
  }

  friend bool operator==(const SharedBytes& a, const SharedBytes& b) {
    return std::ranges::equal(a.view_, b.view_);
  }

 private:
  std::shared_ptr<const Bytes> owner_;
  ByteView view_;
};

}  // namespace smalti
