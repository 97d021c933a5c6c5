// Fuzzes the streams protocol: the frame decoder (decode then re-encode gives the input), and
// both state machines fed a sequence of frames and events built from the input, with their
// invariants checked after each step. No input may crash either side.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"

using namespace smalti;
using namespace smalti::streams;

namespace {

void check_decoder(ByteView bytes) {
  auto message = decode_message(bytes);
  if (!message.is_ok()) {
    SMALTI_ASSERT(!message.status().message().empty());
    return;
  }
  const Bytes again = encode(*message);
  SMALTI_ASSERT(
      again.size() == bytes.size() && std::equal(again.begin(), again.end(), bytes.begin()),
      "a decoded streams message did not re-encode to its bytes");
}

void drive_machines(ByteView bytes) {
  const NetworkId network = NetworkId::from_string("fuzz");
  const StreamId stream = StreamId::from_string("fuzz.stream");
  ProducerMachine producer(ProducerConfig{.stream = stream, .buffer_size = 4, .max_consumers = 3});
  ConsumerMachine consumer(ConsumerConfig{.network = network, .stream = stream, .buffer_size = 4},
                           7);
  const PeerId peer{Digest::from_string("peer")};
  consumer.handle_producers(Instant(), WallTime(),
                            {ProducerCandidate{PeerAddr{peer, {"sim:1"}}, PeerInfo{peer}}});
  fuzz::FuzzInput r(bytes.data(), bytes.size());
  Instant now;
  for (int step = 0; step < 256 && !r.empty(); ++step) {
    now += Duration(r.byte()) * 1'000'000;
    const LinkToken link = 1 + r.byte() % 4;
    switch (r.byte() % 8) {
      case 0:
        producer.handle_subscribe(now, WallTime(), link, PeerInfo{peer},
                                  Subscribe{network, stream, static_cast<std::uint32_t>(r.byte())});
        break;
      case 1:
        producer.handle_credit(link, r.byte());
        break;
      case 2: {
        const ByteView p = r.take(r.byte());
        producer.publish(Bytes(p.begin(), p.end()));
        break;
      }
      case 3:
        producer.handle_closed(link);
        break;
      case 4:
        consumer.handle_connected(now, link);
        break;
      case 5:
        consumer.handle_frame(now, link, r.take(r.byte()));
        break;
      case 6:
        consumer.handle_closed(now, link, env::CloseInfo{r.byte() * 100u, "", true});
        break;
      default:
        consumer.handle_timeout(now);
        (void)consumer.pop();
        break;
    }
    while (producer.poll_effect()) {
    }
    while (consumer.poll_effect()) {
    }
    producer.invariants();
    consumer.invariants();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView bytes(data, size);
  check_decoder(bytes);
  drive_machines(bytes);
  return 0;
}
