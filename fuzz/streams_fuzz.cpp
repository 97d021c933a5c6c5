// Fuzzes the streams protocol: the frame decoder (decode then re-encode gives the input), and
// the three streams machines (StreamAdmission, ProducerMachine, ConsumerMachine) wired as the
// driver wires them, fed a sequence of frames, link events, commands, refused sends and clock
// steps built from the input, with effects sometimes left unpulled (so the input marks are
// reached) and every invariant checked after each step. No input may crash any of them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "smalti/env/transport.hpp"
#include "smalti/streams/consumer_machine.hpp"
#include "smalti/streams/producer_machine.hpp"
#include "smalti/streams/stream_admission.hpp"

using namespace smalti;
using namespace smalti::streams;

namespace {

const NetworkId kNetwork = NetworkId::from_string("fuzz");
const StreamId kStream = StreamId::from_string("fuzz.stream");
const WallTime kWall = WallTime::from_unix_nanos(1'767'225'600'000'000'000);
const Tag kTag = Tag::from_string("fuzz.tag");

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

PeerId peer(std::uint8_t n) {
  return PeerId{Digest::from_u64(n % 4)};
}

// Peers 0 and 1 are in the catalog (1 with the tag); 2 and 3 are not.
PeerFacts lookup(const PeerId& id) {
  if (id != peer(0) && id != peer(1)) return PeerFacts{id, nullptr, std::nullopt};
  auto entry = std::make_shared<discovery::PeerEntry>(
      discovery::make_entry(kNetwork, PeerAddr{id, {"sim:1"}}, kWall));
  if (id == peer(1)) entry->tags.insert(kTag);
  return PeerFacts{id, std::move(entry), std::chrono::milliseconds(3)};
}

// A frame: well formed most of the time, else raw bytes from the input.
Bytes make_frame(fuzz::FuzzInput& r) {
  const std::uint8_t kind = r.byte();
  switch (kind % 6) {
    case 0: {
      const NetworkId net = kind & 0x10 ? NetworkId::from_string("other") : kNetwork;
      const StreamId stream = kind & 0x20 ? StreamId::from_string("other") : kStream;
      return encode(Message{Subscribe{net, stream, r.byte()}});
    }
    case 1:
      return encode(Message{Credit{r.byte()}});
    case 2: {
      const ByteView p = r.take(r.byte() % 16);
      return encode(Message{Datum{Bytes(p.begin(), p.end())}});
    }
    case 3:
      return encode(Message{Start{kNetwork, kind & 0x10 ? StreamId::from_string("x") : kStream}});
    default: {
      const ByteView raw = r.take(r.byte() % 32);
      return Bytes(raw.begin(), raw.end());
    }
  }
}

Status refusal(std::uint8_t b) {
  return b % 2 ? error(StatusCode::kLimitExceeded, "window full")
               : error(StatusCode::kUnavailable, "link closed");
}

struct Rig {
  StreamAdmission admission{
      AdmissionConfig{.network = kNetwork, .subscribe_timeout = 1s, .max_pending_links = 4}};
  ProducerMachine producer{ProducerConfig{.stream = kStream,
                                          .buffer_size = 4,
                                          .max_consumers = 3,
                                          .online_when = ChannelConditions().minimum_of(0)}};
  ConsumerMachine consumer{ConsumerConfig{.network = kNetwork,
                                          .stream = kStream,
                                          .buffer_size = 4,
                                          .online_when = ChannelConditions().with_tag(kTag),
                                          .max_producers = 2},
                           7};
  std::vector<LinkToken> accepted;
  std::vector<LinkToken> delivered;  // links of datums the application holds
  Instant now;
  WallTime wall = kWall;

  LinkToken some_accepted(fuzz::FuzzInput& r) {
    if (accepted.empty()) return 1 + r.byte() % 4;
    return accepted[r.byte() % accepted.size()];
  }

  // Pulls the producer's effects as its driver would, refusing some sends.
  void pull_producer(fuzz::FuzzInput& r) {
    while (auto e = producer.poll_effect()) {
      if (auto* send = std::get_if<effect::Send>(&*e)) {
        const std::uint8_t b = r.byte();
        if (b % 4 == 0) producer.handle_send_refused(now, send->link, send->frame, refusal(b >> 2));
      } else {
        admission.handle_producer_closed(now, std::get<effect::Close>(*e).link);
      }
    }
  }
  void pull_admission(fuzz::FuzzInput& r) {
    while (auto e = admission.poll_effect()) {
      if (auto* a = std::get_if<effect::Deliver<Admitted>>(&*e)) {
        producer.handle_subscribe(now, wall, a->value.link, a->value.peer, a->value.subscribe);
      } else if (auto* c = std::get_if<effect::Deliver<Credited>>(&*e)) {
        producer.handle_credit(now, c->value.link, c->value.n);
      } else if (auto* released = std::get_if<effect::Deliver<Released>>(&*e)) {
        producer.handle_link_closed(now, released->value.link);
      }
      pull_producer(r);
    }
  }
  void pull_consumer(fuzz::FuzzInput& r) {
    while (auto e = consumer.poll_effect()) {
      if (auto* send = std::get_if<effect::Send>(&*e)) {
        const std::uint8_t b = r.byte();
        if (b % 4 == 0) consumer.handle_send_refused(now, send->link, send->frame, refusal(b >> 2));
      } else if (auto* d = std::get_if<effect::Deliver<Received>>(&*e)) {
        if (delivered.size() < 64) delivered.push_back(d->value.link);
      }
    }
  }

  void step(fuzz::FuzzInput& r) {
    const std::uint8_t clock = r.byte();
    now += Duration(clock) * 1'000'000;
    // The wall clock follows, and sometimes jumps either way.
    wall = wall + Duration(clock) * 1'000'000;
    if (clock == 0xff) wall = wall - 30s;
    if (clock == 0xfe) wall = wall + 30s;
    // Peer input (and commands) may find effects waiting, since they are refused or dropped at
    // the input mark; any other input comes, as from a driver, after everything was pulled.
    bool peer_input = false;
    switch (r.byte() % 17) {
      case 0:
        peer_input = true;
        accepted.push_back(admission.handle_accepted(now, peer(r.byte()), Duration(r.byte())));
        if (accepted.size() > 16) accepted.erase(accepted.begin());
        break;
      case 1:
        peer_input = true;
        admission.handle_frame(now, some_accepted(r), make_frame(r), lookup);
        break;
      case 2:
        admission.handle_link_closed(now, some_accepted(r));
        break;
      case 3:
        admission.handle_timeout(now);
        break;
      case 4:
        if (r.byte() % 2) {
          admission.handle_stream_added(now, kStream);
        } else {
          admission.handle_stream_removed(now, kStream);
        }
        break;
      case 5: {
        peer_input = true;
        const ByteView p = r.take(r.byte() % 16);
        (void)producer.publish(now, Bytes(p.begin(), p.end()));
        break;
      }
      case 6:
        producer.handle_catalog(now, lookup);
        break;
      case 7:
        producer.handle_timeout(now, wall);
        break;
      case 8:
        if (r.byte() % 8 == 0) producer.close_all(now, stream_close::kTooSlow, "fuzz");
        break;
      case 9: {
        std::vector<ProducerCandidate> candidates;
        const std::uint8_t which = r.byte();
        for (std::uint8_t p = 0; p < 3; ++p) {
          if (which & (1 << p))
            candidates.push_back({PeerAddr{peer(p), {"sim:1"}}, lookup(peer(p))});
        }
        consumer.handle_producers(now, wall, candidates);
        break;
      }
      case 10:
        consumer.handle_connected(now, 1 + r.byte() % 8);
        break;
      case 11:
        peer_input = true;
        consumer.handle_frame(now, 1 + r.byte() % 8, make_frame(r));
        break;
      case 12:
        consumer.handle_link_closed(
            now, 1 + r.byte() % 8,
            env::CloseInfo{static_cast<std::uint32_t>(r.u64() % 11'000), "", true});
        break;
      case 13:
        peer_input = true;
        if (!delivered.empty()) {
          consumer.handle_consumed(now, delivered.front());
          delivered.erase(delivered.begin());
        }
        break;
      case 14:
        consumer.handle_timeout(now, wall);
        break;
      case 15:
        if (r.byte() % 8 == 0) consumer.close_all(now);
        break;
      default:
        // A direct credit, as if from a link admission knows.
        peer_input = true;
        producer.handle_credit(now, some_accepted(r), r.byte());
        break;
    }
    // Effects are pulled most of the time; left waiting, they reach the input marks.
    if (!peer_input || r.byte() % 4 != 0) {
      pull_admission(r);
      pull_producer(r);
      pull_consumer(r);
    }
    admission.invariants();
    producer.invariants();
    consumer.invariants();
  }
};

void drive_machines(ByteView bytes) {
  fuzz::FuzzInput r(bytes.data(), bytes.size());
  Rig rig;
  rig.admission.handle_stream_added(rig.now, kStream);
  for (int step = 0; step < 512 && !r.empty(); ++step) rig.step(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView bytes(data, size);
  check_decoder(bytes);
  drive_machines(bytes);
  return 0;
}
