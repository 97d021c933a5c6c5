#include "smalti/streams/messages.hpp"

#include <string>

namespace smalti::streams {

Result<Message> decode_message(ByteView frame) {
  if (frame.size() > kMaxMessageSize) {
    return error(StatusCode::kLimitExceeded,
                 "streams frame of " + std::to_string(frame.size()) + " bytes is too large");
  }
  return decode<Message>(frame, DecodeLimits{.max_length = kMaxMessageSize, .max_depth = 4});
}

}  // namespace smalti::streams
