// Time values: Duration, Instant (monotonic) and WallTime (calendar).
//
// Nothing here reads a clock: values come from an env::Clock. Instants are nanoseconds since an
// arbitrary per-node origin and only ever compared with instants of the same node. WallTime is
// nanoseconds since the Unix epoch and is used for ticket expiry and entry timestamps only.
// Value types.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>

namespace smalti {

using Duration = std::chrono::nanoseconds;
using namespace std::chrono_literals;  // NOLINT: 10ms, 5s, ... are used everywhere

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_nanos(std::int64_t ns) { return Instant(ns); }
  static constexpr Instant max() { return Instant(INT64_MAX); }

  constexpr std::int64_t nanos() const { return ns_; }
  constexpr Duration since_origin() const { return Duration(ns_); }

  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.count()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.count()); }
  constexpr Duration operator-(Instant other) const { return Duration(ns_ - other.ns_); }
  constexpr Instant& operator+=(Duration d) {
    ns_ += d.count();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(std::int64_t ns) : ns_(ns) {}
  std::int64_t ns_ = 0;
};

class WallTime {
 public:
  constexpr WallTime() = default;
  static constexpr WallTime from_unix_nanos(std::int64_t ns) { return WallTime(ns); }
  constexpr std::int64_t unix_nanos() const { return ns_; }
  constexpr std::int64_t unix_millis() const { return ns_ / 1'000'000; }
  static constexpr WallTime max() { return WallTime(INT64_MAX); }

  constexpr WallTime operator+(Duration d) const { return WallTime(ns_ + d.count()); }
  constexpr WallTime operator-(Duration d) const { return WallTime(ns_ - d.count()); }
  constexpr Duration operator-(WallTime other) const { return Duration(ns_ - other.ns_); }
  constexpr auto operator<=>(const WallTime&) const = default;

 private:
  constexpr explicit WallTime(std::int64_t ns) : ns_(ns) {}
  std::int64_t ns_ = 0;
};

// "1.250s", "3ms", "17us", "42ns": the shortest unit that keeps the value readable.
std::string format_duration(Duration d);

}  // namespace smalti
