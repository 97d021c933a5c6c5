// Fuzzes the signed peer entry decoder: any bytes end in a verified entry or a clear error, and
// a verified entry re-encodes to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "smalti/discovery/peer_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const smalti::ByteView bytes(data, size);
  auto entry = smalti::discovery::decode_signed_entry(bytes);
  if (entry.is_ok()) {
    const smalti::Bytes again = smalti::encode(*entry);
    SMALTI_ASSERT(again.size() == size && std::equal(again.begin(), again.end(), data),
                  "a decoded signed entry did not re-encode to its bytes");
  } else {
    SMALTI_ASSERT(!entry.status().message().empty());
  }
  return 0;
}
