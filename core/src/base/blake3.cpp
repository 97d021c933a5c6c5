// A portable BLAKE3 following the structure of the specification: a chunk state that compresses
// 64-byte blocks, and a stack of chaining values that merges completed subtrees eagerly.
#include "smalti/base/blake3.hpp"

#include <algorithm>
#include <cstring>

namespace smalti {
namespace {

using Words8 = std::array<std::uint32_t, 8>;
using Words16 = std::array<std::uint32_t, 16>;

constexpr Words8 kIv = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                        0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
constexpr std::array<std::uint8_t, 16> kMsgPermutation = {2, 6,  3,  10, 7, 0,  4,  13,
                                                          1, 11, 12, 5,  9, 14, 15, 8};
constexpr std::uint32_t kChunkStart = 1u << 0;
constexpr std::uint32_t kChunkEnd = 1u << 1;
constexpr std::uint32_t kParent = 1u << 2;
constexpr std::uint32_t kRoot = 1u << 3;

constexpr std::uint32_t rotr(std::uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

inline void g(Words16& s, int a, int b, int c, int d, std::uint32_t mx, std::uint32_t my) {
  s[a] = s[a] + s[b] + mx;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + my;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

inline void round_fn(Words16& s, const Words16& m) {
  g(s, 0, 4, 8, 12, m[0], m[1]);
  g(s, 1, 5, 9, 13, m[2], m[3]);
  g(s, 2, 6, 10, 14, m[4], m[5]);
  g(s, 3, 7, 11, 15, m[6], m[7]);
  g(s, 0, 5, 10, 15, m[8], m[9]);
  g(s, 1, 6, 11, 12, m[10], m[11]);
  g(s, 2, 7, 8, 13, m[12], m[13]);
  g(s, 3, 4, 9, 14, m[14], m[15]);
}

Words16 compress(const Words8& cv, const Words16& block_words, std::uint64_t counter,
                 std::uint32_t block_len, std::uint32_t flags) {
  Words16 state = {cv[0],
                   cv[1],
                   cv[2],
                   cv[3],
                   cv[4],
                   cv[5],
                   cv[6],
                   cv[7],
                   kIv[0],
                   kIv[1],
                   kIv[2],
                   kIv[3],
                   static_cast<std::uint32_t>(counter),
                   static_cast<std::uint32_t>(counter >> 32),
                   block_len,
                   flags};
  Words16 m = block_words;
  for (int r = 0; r < 7; ++r) {
    round_fn(state, m);
    if (r == 6) break;
    Words16 permuted;
    for (std::size_t i = 0; i < 16; ++i) permuted[i] = m[kMsgPermutation[i]];
    m = permuted;
  }
  for (std::size_t i = 0; i < 8; ++i) {
    state[i] ^= state[i + 8];
    state[i + 8] ^= cv[i];
  }
  return state;
}

Words16 words_from_block(const std::uint8_t* block) {
  Words16 w;
  for (std::size_t i = 0; i < 16; ++i) {
    const std::uint8_t* p = block + 4 * i;
    w[i] = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  }
  return w;
}

Words8 first_eight(const Words16& w) {
  Words8 out;
  std::copy_n(w.begin(), 8, out.begin());
  return out;
}

}  // namespace

Blake3::Blake3() {
  chunk_.cv = kIv;
}

Blake3::Output Blake3::chunk_output(const ChunkState& chunk) {
  const std::uint32_t start = chunk.blocks_compressed == 0 ? kChunkStart : 0;
  return Output{chunk.cv, words_from_block(chunk.block.data()), chunk.chunk_counter,
                chunk.block_len, start | kChunkEnd};
}

Blake3::Output Blake3::parent_output(const Words8& left, const Words8& right) {
  Words16 block;
  std::copy(left.begin(), left.end(), block.begin());
  std::copy(right.begin(), right.end(), block.begin() + 8);
  return Output{kIv, block, 0, kBlockLen, kParent};
}

Words8 Blake3::chaining_value(const Output& output) {
  return first_eight(compress(output.input_cv, output.block_words, output.counter, output.block_len,
                              output.flags));
}

void Blake3::chunk_update(ChunkState& chunk, ByteView input) {
  std::size_t pos = 0;
  while (pos < input.size()) {
    if (chunk.block_len == kBlockLen) {
      const std::uint32_t start = chunk.blocks_compressed == 0 ? kChunkStart : 0;
      chunk.cv = first_eight(compress(chunk.cv, words_from_block(chunk.block.data()),
                                      chunk.chunk_counter, kBlockLen, start));
      ++chunk.blocks_compressed;
      chunk.block.fill(0);
      chunk.block_len = 0;
    }
    const std::size_t take = std::min(kBlockLen - chunk.block_len, input.size() - pos);
    std::memcpy(chunk.block.data() + chunk.block_len, input.data() + pos, take);
    chunk.block_len = static_cast<std::uint8_t>(chunk.block_len + take);
    pos += take;
  }
}

void Blake3::add_chunk_cv(Words8 cv, std::uint64_t total_chunks) {
  // Each trailing zero bit of the chunk count means one completed subtree to merge.
  while ((total_chunks & 1) == 0) {
    cv = chaining_value(parent_output(cv_stack_[--cv_stack_len_], cv));
    total_chunks >>= 1;
  }
  cv_stack_[cv_stack_len_++] = cv;
}

void Blake3::update(ByteView input) {
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::size_t chunk_len =
        static_cast<std::size_t>(chunk_.blocks_compressed) * kBlockLen + chunk_.block_len;
    if (chunk_len == kChunkLen) {
      const Words8 cv = chaining_value(chunk_output(chunk_));
      const std::uint64_t total_chunks = chunk_.chunk_counter + 1;
      add_chunk_cv(cv, total_chunks);
      chunk_ = ChunkState{};
      chunk_.cv = kIv;
      chunk_.chunk_counter = total_chunks;
      continue;
    }
    const std::size_t take = std::min(kChunkLen - chunk_len, input.size() - pos);
    chunk_update(chunk_, input.subspan(pos, take));
    pos += take;
  }
}

void Blake3::finalize_xof(std::uint8_t* out, std::size_t out_len) const {
  Output output = chunk_output(chunk_);
  for (int i = cv_stack_len_ - 1; i >= 0; --i) {
    output = parent_output(cv_stack_[static_cast<std::size_t>(i)], chaining_value(output));
  }
  std::uint64_t block_counter = 0;
  std::size_t written = 0;
  while (written < out_len) {
    const Words16 words = compress(output.input_cv, output.block_words, block_counter,
                                   output.block_len, output.flags | kRoot);
    for (std::size_t w = 0; w < 16 && written < out_len; ++w) {
      for (int b = 0; b < 4 && written < out_len; ++b) {
        out[written++] = static_cast<std::uint8_t>(words[w] >> (8 * b));
      }
    }
    ++block_counter;
  }
}

std::array<std::uint8_t, Blake3::kOutLen> Blake3::finalize() const {
  std::array<std::uint8_t, kOutLen> out{};
  finalize_xof(out.data(), out.size());
  return out;
}

std::array<std::uint8_t, Blake3::kOutLen> Blake3::hash(ByteView input) {
  Blake3 hasher;
  hasher.update(input);
  return hasher.finalize();
}

}  // namespace smalti
