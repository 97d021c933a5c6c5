// The machine contract (tests/support/machine_contract.hpp) on the streams machines:
// ProducerMachine, ConsumerMachine and StreamAdmission.
#include "core/streams/streams_test_support.hpp"
#include "support/machine_contract.hpp"

namespace smalti::streams::test {

struct ProducerContract {
  using Machine = ProducerMachine;
  // Consumers need a ticket.
  static std::unique_ptr<Machine> make(Instant start) {
    return std::make_unique<Machine>(
        ProducerConfig{.stream = kStream,
                       .buffer_size = 4,
                       .max_consumers = 4,
                       .tickets = {std::make_shared<ExpiringTicket>()}},
        start);
  }
  // A Subscribe without a ticket on a new link: refused (a Close).
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    m.handle_subscribe(now, wall_at(now), 100 + i, facts(kOther), Subscribe{kNet, kStream, 1});
  }
  // A subscription whose ticket expires in a minute: due then.
  static void arm(Machine& m, Instant now) {
    m.handle_subscribe(now, wall_at(now), 1,
                       facts(kPeer, {}, std::nullopt, {ExpiringTicket::make(wall_at(now) + 60s)}),
                       Subscribe{kNet, kStream, 1});
  }
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now, wall_at(now)); }
};

struct ConsumerContract {
  using Machine = ConsumerMachine;
  static constexpr LinkToken kLink = 1;
  // Subscribed to one producer, with a wide credit window.
  static std::unique_ptr<Machine> make(Instant start) {
    auto m = std::make_unique<Machine>(
        ConsumerConfig{.network = kNet, .stream = kStream, .buffer_size = 4096, .max_producers = 4},
        7, start);
    m->handle_producers(start, wall_at(start),
                        {ProducerCandidate{PeerAddr{kPeer, {"sim:1"}}, facts(kPeer)}});
    m->handle_connected(start, kLink);
    m->handle_frame(start, kLink, frame(Message{Start{kNet, kStream}}));
    while (m->poll_effect()) {
    }
    return m;
  }
  // A datum: handed up.
  static void peer_input(Machine& m, Instant now, std::size_t i) {
    m.handle_frame(now, kLink, frame(Message{Datum{Bytes{static_cast<std::uint8_t>(i)}}}));
  }
  // The link resets: a reconnection is due after the backoff.
  static void arm(Machine& m, Instant now) {
    m.handle_link_closed(now, kLink, env::CloseInfo{env::close_code::kReset, "", false});
  }
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now, wall_at(now)); }
};

struct AdmissionContract {
  using Machine = StreamAdmission;
  static std::unique_ptr<Machine> make(Instant start) {
    auto m =
        std::make_unique<Machine>(AdmissionConfig{.network = kNet, .max_pending_links = 8}, start);
    m->handle_stream_added(start, kStream);
    return m;
  }
  // A new link that sends garbage: closed for the violation.
  static void peer_input(Machine& m, Instant now, std::size_t) {
    const LinkToken link = m.handle_accepted(now, kPeer, Duration::zero());
    m.handle_frame(now, link, Bytes{0xff, 0xff}, [](const PeerId& id) { return facts(id); });
  }
  // A link that has not subscribed yet: due at its subscribe timeout.
  static void arm(Machine& m, Instant now) { m.handle_accepted(now, kPeer, Duration::zero()); }
  static void timeout(Machine& m, Instant now) { m.handle_timeout(now); }
};

}  // namespace smalti::streams::test

namespace smalti::test_support {
INSTANTIATE_TYPED_TEST_SUITE_P(StreamProducer, MachineContract,
                               smalti::streams::test::ProducerContract);
INSTANTIATE_TYPED_TEST_SUITE_P(StreamConsumer, MachineContract,
                               smalti::streams::test::ConsumerContract);
INSTANTIATE_TYPED_TEST_SUITE_P(StreamAdmission, MachineContract,
                               smalti::streams::test::AdmissionContract);
}  // namespace smalti::test_support
