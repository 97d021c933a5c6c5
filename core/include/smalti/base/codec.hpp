// The binary codec: compact, canonical, bounded.
//
// Wire format (close to postcard): unsigned integers as LEB128 varints (u8 as one raw byte),
// signed integers zigzag-encoded, bool as one byte 0/1, float/double as little-endian IEEE 754,
// strings/bytes/vectors as a varint length then the elements, maps and sets as a varint count
// then strictly increasing keys, optional as a 0/1 tag then the value, variants as a varint
// index then the alternative, enums (declared with SMALTI_ENUM) as a varint, fixed arrays and
// Digests as raw elements, structs (declared with SMALTI_FIELDS) as their fields in order.
//
// Decoding is bounded: every length is checked against the remaining input and DecodeLimits,
// nesting depth is capped, non-canonical varints, out-of-range values, unsorted or duplicate map
// keys and trailing bytes are rejected with a kMalformed/kLimitExceeded Status naming the problem.
// Arbitrary input ends in a value or an error, never a crash or an unbounded allocation.
//
//   struct Point { std::int32_t x; std::int32_t y; };
//   SMALTI_FIELDS(Point, x, y);
//   Bytes b = smalti::encode(Point{1, 2});
//   Result<Point> p = smalti::decode<Point>(b);
//
// Encoder and Decoder are single-use, not synchronised.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "smalti/base/bytes.hpp"
#include "smalti/base/digest.hpp"
#include "smalti/base/shared_bytes.hpp"
#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"

namespace smalti {

// Vector elements that encode to zero bytes accepted in one decode, over all its vectors.
inline constexpr std::uint64_t kMaxZeroSizeElements = 1024;
// Elements reserved ahead of decoding them; a vector grows past this as elements arrive.
inline constexpr std::uint64_t kMaxReserveElements = 4096;
// Bytes reserved by encode(): most messages fit, larger ones grow from there.
inline constexpr std::size_t kInitialEncodeCapacity = 128;

struct DecodeLimits {
  // Largest string, byte string or container element count accepted.
  std::uint64_t max_length = 16u << 20;
  // Deepest nesting of containers, optionals, variants and structs.
  std::uint32_t max_depth = 32;
};

class Encoder {
 public:
  explicit Encoder(Bytes& out) : out_(out) {}
  void put_u8(std::uint8_t v) { out_.push_back(v); }
  void put_varint(std::uint64_t v) {
    // Most varints (terms, kinds, short lengths) are one byte into a buffer with room: inline.
    if (v < 0x80 && out_.size() < out_.capacity()) {
      out_.push_back(static_cast<std::uint8_t>(v));
      return;
    }
    put_long_varint(v);
  }
  void put_raw(ByteView bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void put_byte_string(ByteView bytes) {
    put_varint(bytes.size());
    put_raw(bytes);
  }
  void put_fixed_le(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }

 private:
  void put_long_varint(std::uint64_t v);

  Bytes& out_;
};

class Decoder {
 public:
  explicit Decoder(ByteView in, DecodeLimits limits = {}) : in_(in), limits_(limits) {}
  // Decodes `*owner`; SharedBytes values decoded from it view it instead of copying.
  Decoder(std::shared_ptr<const Bytes> owner, DecodeLimits limits)
      : in_(*owner), limits_(limits), owner_(std::move(owner)) {}

  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  const DecodeLimits& limits() const { return limits_; }

  // The fast paths are inline: decoding an entry calls these a few times per field.
  Status get_u8(std::uint8_t& v) {
    if (pos_ < in_.size()) {
      v = in_[pos_++];
      return Status::ok();
    }
    return fail(StatusCode::kMalformed, "unexpected end of input");
  }
  // Canonical LEB128: at most 10 bytes, no redundant trailing zero groups, no overflow.
  Status get_varint(std::uint64_t& v) {
    if (pos_ < in_.size() && in_[pos_] < 0x80) {
      v = in_[pos_++];
      return Status::ok();
    }
    return get_long_varint(v);
  }
  Status get_raw(std::size_t n, const std::uint8_t*& data) {
    if (remaining() < n) return fail(StatusCode::kMalformed, "unexpected end of input");
    data = in_.data() + pos_;
    pos_ += n;
    return Status::ok();
  }
  // A length-prefixed byte string (`what` names it in errors); `out` views the input.
  Status get_byte_string(ByteView& out, const char* what) {
    std::uint64_t n = 0;
    SMALTI_RETURN_IF_ERROR(get_length(n, 1, what));
    out = ByteView(in_.data() + pos_, n);  // get_length checked n <= remaining()
    pos_ += n;
    return Status::ok();
  }
  // `part` (of this decoder's input) as a SharedBytes: a view when the decoder owns its input,
  // else a copy.
  SharedBytes share(ByteView part) const {
    if (owner_ && !part.empty()) return {owner_, part};
    return copy_of(part);
  }
  Status get_fixed_le(int width, std::uint64_t& v);
  // A length prefix, checked against limits().max_length and against remaining() assuming each
  // element takes at least `min_element_size` bytes.
  Status get_length(std::uint64_t& n, std::size_t min_element_size, const char* what) {
    SMALTI_RETURN_IF_ERROR(get_varint(n));
    if (n <= limits_.max_length && (min_element_size == 0 || n <= remaining() / min_element_size)) {
      return Status::ok();
    }
    return length_error(n, min_element_size, what);
  }

  // Depth tracking for nested values (see detail::DepthGuard): false when already at
  // limits().max_depth, and then too_deep() is the error to return.
  bool try_enter() {
    if (depth_ >= limits_.max_depth) return false;
    ++depth_;
    return true;
  }
  Status too_deep() const;
  void leave() { --depth_; }
  // Counts one zero-size element against the decode's budget (kMaxZeroSizeElements).
  Status take_zero_size_element();

  Status fail(StatusCode code, const std::string& what) const;

 private:
  Status get_long_varint(std::uint64_t& v);
  Status length_error(std::uint64_t n, std::size_t min_element_size, const char* what) const;
  static SharedBytes copy_of(ByteView part);

  ByteView in_;
  std::size_t pos_ = 0;
  std::uint32_t depth_ = 0;
  std::uint64_t zero_size_elements_ = 0;
  DecodeLimits limits_;
  std::shared_ptr<const Bytes> owner_;
};

// Codec<T> holds `static void encode(Encoder&, const T&)` and `static Status decode(Decoder&, T&)`.
template <typename T, typename Enable = void>
struct Codec;

template <typename T>
concept Encodable = requires(Encoder& e, Decoder& d, const T& cv, T& v) {
  Codec<T>::encode(e, cv);
  { Codec<T>::decode(d, v) } -> std::same_as<Status>;
};

template <typename T>
void encode_into(Encoder& e, const T& v) {
  Codec<T>::encode(e, v);
}

template <typename T>
Status decode_from(Decoder& d, T& v) {
  return Codec<T>::decode(d, v);
}

template <typename T>
Bytes encode(const T& value) {
  Bytes out;
  out.reserve(kInitialEncodeCapacity);
  Encoder e(out);
  Codec<T>::encode(e, value);
  return out;
}

template <typename T>
void encode_append(Bytes& out, const T& value) {
  Encoder e(out);
  Codec<T>::encode(e, value);
}

// Decodes one whole T from what `d` has left; trailing bytes are an error.
template <typename T>
Result<T> decode_whole(Decoder& d) {
  T value{};
  Status s = Codec<T>::decode(d, value);
  if (!s.is_ok()) return s;
  if (d.remaining() != 0) {
    return d.fail(StatusCode::kMalformed, std::to_string(d.remaining()) + " trailing bytes");
  }
  return value;
}

// Decodes one whole T from `bytes`.
template <typename T>
Result<T> decode(ByteView bytes, DecodeLimits limits = {}) {
  Decoder d(bytes, limits);
  return decode_whole<T>(d);
}

// The same from a buffer the result may share: its SharedBytes fields view `*bytes`.
template <typename T>
Result<T> decode_shared(std::shared_ptr<const Bytes> bytes, DecodeLimits limits = {}) {
  Decoder d(std::move(bytes), limits);
  return decode_whole<T>(d);
}

// ---- integers, bool, floats --------------------------------------------------------------

template <>
struct Codec<bool> {
  static void encode(Encoder& e, bool v) { e.put_u8(v ? 1 : 0); }
  static Status decode(Decoder& d, bool& v) {
    std::uint8_t b = 0;
    SMALTI_RETURN_IF_ERROR(d.get_u8(b));
    if (b > 1) return d.fail(StatusCode::kMalformed, "bool byte is " + std::to_string(b));
    v = b == 1;
    return Status::ok();
  }
};

template <>
struct Codec<std::uint8_t> {
  static void encode(Encoder& e, std::uint8_t v) { e.put_u8(v); }
  static Status decode(Decoder& d, std::uint8_t& v) { return d.get_u8(v); }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && std::is_unsigned_v<T> &&
                                 !std::is_same_v<T, bool> && (sizeof(T) > 1)>> {
  static void encode(Encoder& e, T v) { e.put_varint(v); }
  static Status decode(Decoder& d, T& v) {
    std::uint64_t raw = 0;
    SMALTI_RETURN_IF_ERROR(d.get_varint(raw));
    if (raw > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      return d.fail(StatusCode::kMalformed, "integer out of range");
    }
    v = static_cast<T>(raw);
    return Status::ok();
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && std::is_signed_v<T>>> {
  static void encode(Encoder& e, T v) {
    // T is a signed integer type (std::int8_t is a signed char): sign extension is the point.
    const auto wide = static_cast<std::int64_t>(v);  // NOLINT(bugprone-signed-char-misuse)
    e.put_varint((static_cast<std::uint64_t>(wide) << 1) ^ static_cast<std::uint64_t>(wide >> 63));
  }
  static Status decode(Decoder& d, T& v) {
    std::uint64_t raw = 0;
    SMALTI_RETURN_IF_ERROR(d.get_varint(raw));
    const auto wide = static_cast<std::int64_t>((raw >> 1) ^ (0 - (raw & 1)));
    if (wide < std::numeric_limits<T>::min() || wide > std::numeric_limits<T>::max()) {
      return d.fail(StatusCode::kMalformed, "integer out of range");
    }
    v = static_cast<T>(wide);
    return Status::ok();
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static void encode(Encoder& e, T v) { e.put_fixed_le(std::bit_cast<Bits>(v), sizeof(T)); }
  static Status decode(Decoder& d, T& v) {
    std::uint64_t raw = 0;
    SMALTI_RETURN_IF_ERROR(d.get_fixed_le(sizeof(T), raw));
    v = std::bit_cast<T>(static_cast<Bits>(raw));
    return Status::ok();
  }
};

// ---- enums ----------------------------------------------------------------------------------

// Declares an enum encodable; values above `last` are rejected when decoding.
#define SMALTI_ENUM(Type, last)                                            \
  [[maybe_unused]] constexpr std::uint64_t smalti_enum_last(const Type*) { \
    return static_cast<std::uint64_t>(last);                               \
  }

template <typename T>
concept DeclaredEnum = std::is_enum_v<T> && requires(const T* p) {
  smalti_enum_last(p);
};

template <typename T>
struct Codec<T, std::enable_if_t<DeclaredEnum<T>>> {
  static void encode(Encoder& e, T v) { e.put_varint(static_cast<std::uint64_t>(v)); }
  static Status decode(Decoder& d, T& v) {
    std::uint64_t raw = 0;
    SMALTI_RETURN_IF_ERROR(d.get_varint(raw));
    if (raw > smalti_enum_last(static_cast<const T*>(nullptr))) {
      return d.fail(StatusCode::kMalformed, "unknown enum value " + std::to_string(raw));
    }
    v = static_cast<T>(raw);
    return Status::ok();
  }
};

// ---- strings, bytes, fixed arrays, digests, durations -------------------------------------

// Strings and byte strings share one wire format: a varint length, then the bytes.
template <>
struct Codec<std::string> {
  static void encode(Encoder& e, const std::string& v) { e.put_byte_string(as_bytes(v)); }
  static Status decode(Decoder& d, std::string& v) {
    ByteView bytes;
    SMALTI_RETURN_IF_ERROR(d.get_byte_string(bytes, "string"));
    v.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Status::ok();
  }
};

template <>
struct Codec<Bytes> {
  static void encode(Encoder& e, const Bytes& v) { e.put_byte_string(v); }
  static Status decode(Decoder& d, Bytes& v) {
    ByteView bytes;
    SMALTI_RETURN_IF_ERROR(d.get_byte_string(bytes, "byte string"));
    v.assign(bytes.begin(), bytes.end());
    return Status::ok();
  }
};

template <>
struct Codec<SharedBytes> {
  static void encode(Encoder& e, const SharedBytes& v) { e.put_byte_string(v); }
  static Status decode(Decoder& d, SharedBytes& v) {
    ByteView bytes;
    SMALTI_RETURN_IF_ERROR(d.get_byte_string(bytes, "byte string"));
    v = d.share(bytes);
    return Status::ok();
  }
};

template <typename T, std::size_t N>
struct Codec<std::array<T, N>> {
  static void encode(Encoder& e, const std::array<T, N>& v) {
    for (const T& x : v) encode_into(e, x);
  }
  static Status decode(Decoder& d, std::array<T, N>& v) {
    for (T& x : v) SMALTI_RETURN_IF_ERROR(decode_from(d, x));
    return Status::ok();
  }
};

template <>
struct Codec<Digest> {
  static void encode(Encoder& e, const Digest& v) { e.put_raw(v.view()); }
  static Status decode(Decoder& d, Digest& v) {
    const std::uint8_t* data = nullptr;
    SMALTI_RETURN_IF_ERROR(d.get_raw(Digest::kSize, data));
    std::array<std::uint8_t, Digest::kSize> bytes{};
    std::memcpy(bytes.data(), data, bytes.size());
    v = Digest(bytes);
    return Status::ok();
  }
};

template <>
struct Codec<Duration> {
  static void encode(Encoder& e, Duration v) { encode_into<std::int64_t>(e, v.count()); }
  static Status decode(Decoder& d, Duration& v) {
    std::int64_t ns = 0;
    SMALTI_RETURN_IF_ERROR(decode_from(d, ns));
    v = Duration(ns);
    return Status::ok();
  }
};

template <>
struct Codec<WallTime> {
  static void encode(Encoder& e, WallTime v) { encode_into<std::int64_t>(e, v.unix_nanos()); }
  static Status decode(Decoder& d, WallTime& v) {
    std::int64_t ns = 0;
    SMALTI_RETURN_IF_ERROR(decode_from(d, ns));
    v = WallTime::from_unix_nanos(ns);
    return Status::ok();
  }
};

// ---- containers -----------------------------------------------------------------------------

namespace detail {
// Marks one level of nesting for the duration of a scope.
class DepthGuard {
 public:
  explicit DepthGuard(Decoder& d) : d_(d), entered_(d.try_enter()) {}
  ~DepthGuard() {
    if (entered_) d_.leave();
  }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
  Status status() const { return entered_ ? Status::ok() : d_.too_deep(); }

 private:
  Decoder& d_;
  bool entered_;
};
}  // namespace detail

template <typename T>
struct Codec<std::vector<T>, std::enable_if_t<!std::is_same_v<T, std::uint8_t>>> {
  static void encode(Encoder& e, const std::vector<T>& v) {
    e.put_varint(v.size());
    for (const T& x : v) encode_into(e, x);
  }
  static Status decode(Decoder& d, std::vector<T>& v) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    std::uint64_t n = 0;
    SMALTI_RETURN_IF_ERROR(d.get_length(n, 0, "vector"));
    v.clear();
    // Reserve only a little ahead: memory follows the elements actually decoded.
    v.reserve(std::min<std::uint64_t>({n, d.remaining(), kMaxReserveElements}));
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::size_t before = d.position();
      T x{};
      SMALTI_RETURN_IF_ERROR(decode_from(d, x));
      // Elements that take no bytes (empty structs, monostate) are not bounded by the input:
      // a budget per decode stops a few bytes from announcing millions of them.
      if (d.position() == before) SMALTI_RETURN_IF_ERROR(d.take_zero_size_element());
      v.push_back(std::move(x));
    }
    return Status::ok();
  }
};

template <typename K, typename V>
struct Codec<std::map<K, V>> {
  static void encode(Encoder& e, const std::map<K, V>& m) {
    e.put_varint(m.size());
    for (const auto& [k, v] : m) {
      encode_into(e, k);
      encode_into(e, v);
    }
  }
  static Status decode(Decoder& d, std::map<K, V>& m) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    std::uint64_t n = 0;
    SMALTI_RETURN_IF_ERROR(d.get_length(n, 0, "map"));
    m.clear();
    for (std::uint64_t i = 0; i < n; ++i) {
      K k{};
      V v{};
      SMALTI_RETURN_IF_ERROR(decode_from(d, k));
      SMALTI_RETURN_IF_ERROR(decode_from(d, v));
      if (!m.empty() && !(m.rbegin()->first < k)) {
        return d.fail(StatusCode::kMalformed, "map keys are not strictly increasing");
      }
      m.emplace_hint(m.end(), std::move(k), std::move(v));
    }
    return Status::ok();
  }
};

template <typename T>
struct Codec<std::set<T>> {
  static void encode(Encoder& e, const std::set<T>& s) {
    e.put_varint(s.size());
    for (const T& x : s) encode_into(e, x);
  }
  static Status decode(Decoder& d, std::set<T>& s) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    std::uint64_t n = 0;
    SMALTI_RETURN_IF_ERROR(d.get_length(n, 0, "set"));
    s.clear();
    for (std::uint64_t i = 0; i < n; ++i) {
      T x{};
      SMALTI_RETURN_IF_ERROR(decode_from(d, x));
      if (!s.empty() && !(*s.rbegin() < x)) {
        return d.fail(StatusCode::kMalformed, "set elements are not strictly increasing");
      }
      s.emplace_hint(s.end(), std::move(x));
    }
    return Status::ok();
  }
};

template <typename T>
struct Codec<std::optional<T>> {
  static void encode(Encoder& e, const std::optional<T>& v) {
    e.put_u8(v.has_value() ? 1 : 0);
    if (v) encode_into(e, *v);
  }
  static Status decode(Decoder& d, std::optional<T>& v) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    bool present = false;
    SMALTI_RETURN_IF_ERROR(Codec<bool>::decode(d, present));
    if (!present) {
      v.reset();
      return Status::ok();
    }
    T x{};
    SMALTI_RETURN_IF_ERROR(decode_from(d, x));
    v = std::move(x);
    return Status::ok();
  }
};

template <typename A, typename B>
struct Codec<std::pair<A, B>> {
  static void encode(Encoder& e, const std::pair<A, B>& v) {
    encode_into(e, v.first);
    encode_into(e, v.second);
  }
  static Status decode(Decoder& d, std::pair<A, B>& v) {
    SMALTI_RETURN_IF_ERROR(decode_from(d, v.first));
    return decode_from(d, v.second);
  }
};

template <typename... Ts>
struct Codec<std::variant<Ts...>> {
  using Variant = std::variant<Ts...>;
  static void encode(Encoder& e, const Variant& v) {
    e.put_varint(v.index());
    std::visit([&e](const auto& alt) { encode_into(e, alt); }, v);
  }
  static Status decode(Decoder& d, Variant& v) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    std::uint64_t index = 0;
    SMALTI_RETURN_IF_ERROR(d.get_varint(index));
    if (index >= sizeof...(Ts)) {
      return d.fail(StatusCode::kMalformed,
                    "variant index " + std::to_string(index) + " out of range");
    }
    return decode_alternative(d, v, index, std::index_sequence_for<Ts...>{});
  }

 private:
  template <std::size_t... Is>
  static Status decode_alternative(Decoder& d, Variant& v, std::uint64_t index,
                                   std::index_sequence<Is...>) {
    Status result = Status::ok();
    (void)((Is == index ? (result = decode_one<Is>(d, v), true) : false) || ...);
    return result;
  }
  template <std::size_t I>
  static Status decode_one(Decoder& d, Variant& v) {
    std::variant_alternative_t<I, Variant> alt{};
    SMALTI_RETURN_IF_ERROR(decode_from(d, alt));
    v.template emplace<I>(std::move(alt));
    return Status::ok();
  }
};

template <>
struct Codec<std::monostate> {
  static void encode(Encoder&, std::monostate) {}
  static Status decode(Decoder&, std::monostate&) { return Status::ok(); }
};

// ---- structs --------------------------------------------------------------------------------

// A function-pointer visitor, not a lambda: clang 14 mis-evaluates lambdas in requires-clauses
// and would call every type a FieldStruct.
template <typename T>
concept FieldStruct = requires(T& v, void (*visitor)(int&)) {
  smalti_visit_fields(v, visitor);
};

template <typename T>
struct Codec<T, std::enable_if_t<FieldStruct<T>>> {
  static void encode(Encoder& e, const T& v) {
    // Visiting through a non-const reference only reads here; fields are never modified.
    smalti_visit_fields(const_cast<T&>(v), [&e](auto& field) { encode_into(e, field); });
  }
  static Status decode(Decoder& d, T& v) {
    detail::DepthGuard guard(d);
    SMALTI_RETURN_IF_ERROR(guard.status());
    Status status;
    smalti_visit_fields(v, [&](auto& field) {
      if (!status.is_ok()) return;
      Status s = decode_from(d, field);
      if (!s.is_ok()) status = std::move(s);
    });
    return status;
  }
};

}  // namespace smalti

// ---- SMALTI_FIELDS(Type, field...) ------------------------------------------------------------
// Declares the fields of a struct, in wire order. Place it in the struct's namespace. Up to 24.
#define SMALTI_FE_1(m, x) m(x)
#define SMALTI_FE_2(m, x, ...) m(x) SMALTI_FE_1(m, __VA_ARGS__)
#define SMALTI_FE_3(m, x, ...) m(x) SMALTI_FE_2(m, __VA_ARGS__)
#define SMALTI_FE_4(m, x, ...) m(x) SMALTI_FE_3(m, __VA_ARGS__)
#define SMALTI_FE_5(m, x, ...) m(x) SMALTI_FE_4(m, __VA_ARGS__)
#define SMALTI_FE_6(m, x, ...) m(x) SMALTI_FE_5(m, __VA_ARGS__)
#define SMALTI_FE_7(m, x, ...) m(x) SMALTI_FE_6(m, __VA_ARGS__)
#define SMALTI_FE_8(m, x, ...) m(x) SMALTI_FE_7(m, __VA_ARGS__)
#define SMALTI_FE_9(m, x, ...) m(x) SMALTI_FE_8(m, __VA_ARGS__)
#define SMALTI_FE_10(m, x, ...) m(x) SMALTI_FE_9(m, __VA_ARGS__)
#define SMALTI_FE_11(m, x, ...) m(x) SMALTI_FE_10(m, __VA_ARGS__)
#define SMALTI_FE_12(m, x, ...) m(x) SMALTI_FE_11(m, __VA_ARGS__)
#define SMALTI_FE_13(m, x, ...) m(x) SMALTI_FE_12(m, __VA_ARGS__)
#define SMALTI_FE_14(m, x, ...) m(x) SMALTI_FE_13(m, __VA_ARGS__)
#define SMALTI_FE_15(m, x, ...) m(x) SMALTI_FE_14(m, __VA_ARGS__)
#define SMALTI_FE_16(m, x, ...) m(x) SMALTI_FE_15(m, __VA_ARGS__)
#define SMALTI_FE_17(m, x, ...) m(x) SMALTI_FE_16(m, __VA_ARGS__)
#define SMALTI_FE_18(m, x, ...) m(x) SMALTI_FE_17(m, __VA_ARGS__)
#define SMALTI_FE_19(m, x, ...) m(x) SMALTI_FE_18(m, __VA_ARGS__)
#define SMALTI_FE_20(m, x, ...) m(x) SMALTI_FE_19(m, __VA_ARGS__)
#define SMALTI_FE_21(m, x, ...) m(x) SMALTI_FE_20(m, __VA_ARGS__)
#define SMALTI_FE_22(m, x, ...) m(x) SMALTI_FE_21(m, __VA_ARGS__)
#define SMALTI_FE_23(m, x, ...) m(x) SMALTI_FE_22(m, __VA_ARGS__)
#define SMALTI_FE_24(m, x, ...) m(x) SMALTI_FE_23(m, __VA_ARGS__)
#define SMALTI_FE_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, \
                       _18, _19, _20, _21, _22, _23, _24, name, ...)                               \
  name
#define SMALTI_FOR_EACH(m, ...)                                                                 \
  SMALTI_FE_PICK(__VA_ARGS__, SMALTI_FE_24, SMALTI_FE_23, SMALTI_FE_22, SMALTI_FE_21,           \
                 SMALTI_FE_20, SMALTI_FE_19, SMALTI_FE_18, SMALTI_FE_17, SMALTI_FE_16,          \
                 SMALTI_FE_15, SMALTI_FE_14, SMALTI_FE_13, SMALTI_FE_12, SMALTI_FE_11,          \
                 SMALTI_FE_10, SMALTI_FE_9, SMALTI_FE_8, SMALTI_FE_7, SMALTI_FE_6, SMALTI_FE_5, \
                 SMALTI_FE_4, SMALTI_FE_3, SMALTI_FE_2, SMALTI_FE_1)                            \
  (m, __VA_ARGS__)
#define SMALTI_VISIT_ONE_FIELD_(field) visit(value.field);

#define SMALTI_FIELDS(Type, ...)                                                         \
  template <typename SmaltiVisitor>                                                      \
  [[maybe_unused]] inline void smalti_visit_fields(Type& value, SmaltiVisitor&& visit) { \
    SMALTI_FOR_EACH(SMALTI_VISIT_ONE_FIELD_, __VA_ARGS__)                                \
  }

// For structs with no fields (encoded as zero bytes).
// NOLINTBEGIN(bugprone-macro-parentheses): Type names a type, and `(Type)&` declares nothing.
#define SMALTI_EMPTY_FIELDS(Type)   \
  template <typename SmaltiVisitor> \
  [[maybe_unused]] inline void smalti_visit_fields(Type&, SmaltiVisitor&&) {}
// NOLINTEND(bugprone-macro-parentheses)
