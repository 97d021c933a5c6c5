// BLAKE3 (hash mode, 32-byte output), smalti's own portable implementation.
//
// Blake3 is an incremental hasher: update() any number of times, then finalize(). A hasher is a
// value type and not synchronised; copies hash independently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "smalti/base/bytes.hpp"

namespace smalti {

class Blake3 {
 public:
  static constexpr std::size_t kOutLen = 32;
  static constexpr std::size_t kBlockLen = 64;
  static constexpr std::size_t kChunkLen = 1024;

  Blake3();
  void update(ByteView input);
  // Returns the 32-byte hash of everything given to update(); the hasher can keep going.
  std::array<std::uint8_t, kOutLen> finalize() const;
  // Extended output of any length (XOF), as BLAKE3 defines it.
  void finalize_xof(std::uint8_t* out, std::size_t out_len) const;

  static std::array<std::uint8_t, kOutLen> hash(ByteView input);

 private:
  struct ChunkState {
    std::array<std::uint32_t, 8> cv{};
    std::uint64_t chunk_counter = 0;
    std::array<std::uint8_t, kBlockLen> block{};
    std::uint8_t block_len = 0;
    std::uint8_t blocks_compressed = 0;
  };
  struct Output {
    std::array<std::uint32_t, 8> input_cv{};
    std::array<std::uint32_t, 16> block_words{};
    std::uint64_t counter = 0;
    std::uint32_t block_len = 0;
    std::uint32_t flags = 0;
  };

  static Output chunk_output(const ChunkState& chunk);
  static Output parent_output(const std::array<std::uint32_t, 8>& left,
                              const std::array<std::uint32_t, 8>& right);
  static std::array<std::uint32_t, 8> chaining_value(const Output& output);
  static void chunk_update(ChunkState& chunk, ByteView input);
  void add_chunk_cv(std::array<std::uint32_t, 8> cv, std::uint64_t total_chunks);

  ChunkState chunk_;
  // One chaining value per level of the tree: enough for 2^54 chunks.
  std::array<std::array<std::uint32_t, 8>, 54> cv_stack_{};
  std::uint8_t cv_stack_len_ = 0;
};

}  // namespace smalti
