// Lowercase hexadecimal encoding and strict decoding. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "smalti/base/bytes.hpp"
#include "smalti/base/status.hpp"

namespace smalti {

std::string to_hex(ByteView bytes);

// Accepts upper- and lowercase digits. Fails with kMalformed on an odd length or a non-hex digit.
Result<Bytes> from_hex(std::string_view hex);

}  // namespace smalti
