// Deterministic node keys for tests: key n of a test file's family (`family` keeps the keys of
// different test files apart, as each file used its own seed byte).
#pragma once

#include <array>
#include <cstdint>

#include "smalti/base/identity.hpp"

namespace smalti::test_support {

inline SecretKey test_key(std::uint8_t n, std::uint8_t family = 0) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = n;
  seed[1] = family;
  return SecretKey::from_seed(seed).value();
}

}  // namespace smalti::test_support
