// Status and Result<T>: how every fallible call in smalti reports an operating error.
//
// A Status is a code plus a human-readable message; Status::ok() carries no message. Result<T>
// holds either a T or a non-ok Status. Nothing here throws. Value types; not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "smalti/base/assert.hpp"

namespace smalti {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed
  kMalformed,        // bytes from a peer or a file do not decode
  kLimitExceeded,    // a named bound (length, depth, queue, frame) was hit
  kNotFound,
  kAlreadyExists,
  kUnavailable,  // peer unreachable, link closed, node offline
  kTimeout,
  kCancelled,
  kIoError,
  kNoSpace,
  kPermissionDenied,  // bad signature, wrong key, ticket refused
  kFailedPrecondition,
  kInternal,
};

std::string_view status_code_name(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code),
        message_(message.empty() ? nullptr : std::make_unique<std::string>(std::move(message))) {}
  Status(const Status& other)
      : code_(other.code_),
        message_(other.message_ ? std::make_unique<std::string>(*other.message_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) *this = Status(other);
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status ok() { return {}; }

  bool is_ok() const noexcept { return code_ == StatusCode::kOk; }
  explicit operator bool() const noexcept { return is_ok(); }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_ ? *message_ : no_message(); }

  // "ok" or "<code name>: <message>".
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status with_context(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message() == b.message();
  }

 private:
  static const std::string& no_message() noexcept;

  StatusCode code_ = StatusCode::kOk;
  // Held out of line, so an ok Status (the common case on every hot path) is a code and a null
  // pointer: cheap to make, move and destroy.
  std::unique_ptr<std::string> message_;
};

inline Status error(StatusCode code, std::string message) {
  return {code, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : value_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    SMALTI_ASSERT(!std::get<1>(value_).is_ok(), "a Result cannot hold an ok Status");
  }

  bool is_ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return is_ok(); }

  // Requires is_ok().
  T& value() & {
    SMALTI_ASSERT(is_ok(), "Result::value() on an error");
    return std::get<0>(value_);
  }
  const T& value() const& {
    SMALTI_ASSERT(is_ok(), "Result::value() on an error");
    return std::get<0>(value_);
  }
  T&& value() && {
    SMALTI_ASSERT(is_ok(), "Result::value() on an error");
    return std::get<0>(std::move(value_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error, or Status::ok() when a value is held.
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(value_); }

  T value_or(T fallback) const& { return is_ok() ? std::get<0>(value_) : std::move(fallback); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace smalti

// Evaluates an expression yielding Status; returns it from the enclosing function if not ok.
#define SMALTI_RETURN_IF_ERROR(expr)                    \
  do {                                                  \
    ::smalti::Status smalti_status_ = (expr);           \
    if (!smalti_status_.is_ok()) return smalti_status_; \
  } while (false)

#define SMALTI_CONCAT_INNER_(a, b) a##b
#define SMALTI_CONCAT_(a, b) SMALTI_CONCAT_INNER_(a, b)

// `SMALTI_ASSIGN_OR_RETURN(auto x, f());` binds the value or returns the error.
// NOLINTBEGIN(bugprone-macro-parentheses): decl is a declaration (`auto x`), not an expression.
#define SMALTI_ASSIGN_OR_RETURN(decl, expr)                   \
  auto SMALTI_CONCAT_(smalti_result_, __LINE__) = (expr);     \
  if (!SMALTI_CONCAT_(smalti_result_, __LINE__).is_ok())      \
    return SMALTI_CONCAT_(smalti_result_, __LINE__).status(); \
  decl = std::move(SMALTI_CONCAT_(smalti_result_, __LINE__)).value()
// NOLINTEND(bugprone-macro-parentheses)
