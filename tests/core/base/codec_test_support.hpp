// The types the codec tests encode (an enum, an empty struct, nested structs with every kind of
// field, a recursive tree) and RapidCheck generators for them and for the standard types
// RapidCheck does not know. Shared by the codec_*_test.cpp files.
#pragma once

#include <rapidcheck.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "smalti/base/codec.hpp"

namespace smalti {
namespace codec_test {

enum class Color : std::uint8_t { kRed, kGreen, kBlue };
SMALTI_ENUM(Color, Color::kBlue)

struct Empty {
  friend bool operator==(const Empty&, const Empty&) = default;
};
SMALTI_EMPTY_FIELDS(Empty)

struct Inner {
  std::int32_t a = 0;
  std::string b;
  std::optional<Color> c;
  friend bool operator==(const Inner&, const Inner&) = default;
};
SMALTI_FIELDS(Inner, a, b, c)

struct Outer {
  std::vector<Inner> items;
  std::map<std::string, std::vector<std::uint16_t>> index;
  std::set<std::int64_t> keys;
  Empty empty;
  std::variant<std::monostate, std::uint64_t, Inner> choice;
  Digest id;
  Duration timeout{};
  WallTime at;
  std::pair<bool, std::int8_t> flag;
  std::array<std::uint16_t, 3> triple{};
  Bytes blob;
  friend bool operator==(const Outer&, const Outer&) = default;
};
SMALTI_FIELDS(Outer, items, index, keys, empty, choice, id, timeout, at, flag, triple, blob)

// A recursive type: each level of the tree is two levels of codec nesting (struct + vector).
struct Tree {
  std::vector<Tree> children;
  friend bool operator==(const Tree&, const Tree&) = default;
};
SMALTI_FIELDS(Tree, children)

// Builds a tree of depth <= 12 from a byte string: `b % 3 == 0` closes the current node.
inline Tree tree_from_shape(const std::vector<std::uint8_t>& shape, std::size_t& pos, int depth) {
  Tree t;
  while (pos < shape.size()) {
    const std::uint8_t b = shape[pos++];
    if (b % 3 == 0) break;
    if (depth < 12) t.children.push_back(tree_from_shape(shape, pos, depth + 1));
  }
  return t;
}

inline Tree chain(int levels) {
  Tree t;
  for (int i = 1; i < levels; ++i) t = Tree{{std::move(t)}};
  return t;
}

}  // namespace codec_test
}  // namespace smalti

// RapidCheck generators for the types it does not know.
namespace rc {
namespace ct = smalti::codec_test;

template <typename T>
struct Arbitrary<std::optional<T>> {
  static Gen<std::optional<T>> arbitrary() {
    return gen::oneOf(gen::just(std::optional<T>()),
                      gen::map(gen::arbitrary<T>(), [](T v) { return std::optional<T>(v); }));
  }
};

template <typename... Ts>
struct Arbitrary<std::variant<Ts...>> {
  static Gen<std::variant<Ts...>> arbitrary() {
    return gen::oneOf(gen::map(gen::arbitrary<Ts>(), [](Ts v) {
      return std::variant<Ts...>(std::in_place_type<Ts>, std::move(v));
    })...);
  }
};

template <>
struct Arbitrary<std::monostate> {
  static Gen<std::monostate> arbitrary() { return gen::just(std::monostate{}); }
};

template <>
struct Arbitrary<smalti::Digest> {
  static Gen<smalti::Digest> arbitrary() {
    return gen::construct<smalti::Digest>(gen::arbitrary<std::array<std::uint8_t, 32>>());
  }
};

template <>
struct Arbitrary<smalti::WallTime> {
  static Gen<smalti::WallTime> arbitrary() {
    return gen::map(gen::arbitrary<std::int64_t>(), &smalti::WallTime::from_unix_nanos);
  }
};

template <>
struct Arbitrary<ct::Color> {
  static Gen<ct::Color> arbitrary() {
    return gen::element(ct::Color::kRed, ct::Color::kGreen, ct::Color::kBlue);
  }
};

template <>
struct Arbitrary<ct::Empty> {
  static Gen<ct::Empty> arbitrary() { return gen::just(ct::Empty{}); }
};

template <>
struct Arbitrary<ct::Inner> {
  static Gen<ct::Inner> arbitrary() {
    return gen::build<ct::Inner>(gen::set(&ct::Inner::a), gen::set(&ct::Inner::b),
                                 gen::set(&ct::Inner::c));
  }
};

template <>
struct Arbitrary<ct::Outer> {
  static Gen<ct::Outer> arbitrary() {
    using O = ct::Outer;
    return gen::build<O>(gen::set(&O::items), gen::set(&O::index), gen::set(&O::keys),
                         gen::set(&O::choice), gen::set(&O::id), gen::set(&O::timeout),
                         gen::set(&O::at), gen::set(&O::flag), gen::set(&O::triple),
                         gen::set(&O::blob));
  }
};

template <>
struct Arbitrary<ct::Tree> {
  static Gen<ct::Tree> arbitrary() {
    return gen::map(gen::arbitrary<std::vector<std::uint8_t>>(), [](const auto& shape) {
      std::size_t pos = 0;
      return ct::tree_from_shape(shape, pos, 0);
    });
  }
};

}  // namespace rc
