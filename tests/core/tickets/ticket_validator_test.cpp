// validate_tickets: every validator's class needs a valid ticket; the admission lasts until the
// earliest class expiry, taking the longest-lived valid ticket of each class.
#include "smalti/tickets/ticket_validator.hpp"

#include <gtest/gtest.h>

namespace smalti::tickets {
namespace {

const WallTime kNow = WallTime::from_unix_nanos(1'767'225'600'000'000'000);

// Tickets whose data is "<seconds from kNow>" as one byte; 0 means invalid.
class ByteTicket final : public TicketValidator {
 public:
  explicit ByteTicket(std::string name) : class_(UniqueId::from_string(name)) {}
  UniqueId ticket_class() const override { return class_; }
  Result<WallTime> validate(ByteView data, const PeerId&, WallTime) const override {
    if (data.size() != 1 || data[0] == 0) return error(StatusCode::kInvalidArgument, "bad");
    return kNow + Duration(std::chrono::seconds(data[0]));
  }
  discovery::Ticket make(std::uint8_t seconds) const { return {class_, Bytes{seconds}}; }

 private:
  UniqueId class_;
};

discovery::PeerEntry entry_with(std::initializer_list<discovery::Ticket> tickets) {
  discovery::PeerEntry e;
  for (const auto& t : tickets) e.tickets[t.id()] = t;
  return e;
}

TEST(ValidateTickets, EveryClassNeedsAValidTicketAndTheEarliestClassExpiryCounts) {
  auto a = std::make_shared<ByteTicket>("a");
  auto b = std::make_shared<ByteTicket>("b");
  const Validators both{a, b};
  EXPECT_EQ(*validate_tickets(entry_with({}), {}, kNow), WallTime::max());
  auto only_a = validate_tickets(entry_with({a->make(10)}), both, kNow);
  ASSERT_FALSE(only_a.is_ok());
  EXPECT_EQ(only_a.status().code(), StatusCode::kPermissionDenied);
  // Class a: the longer of 10 s and 50 s; class b: 30 s. The admission ends at 30 s.
  auto ok = validate_tickets(entry_with({a->make(10), a->make(50), b->make(30)}), both, kNow);
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(*ok, kNow + 30s);
  // An invalid ticket next to a valid one of the same class does not matter.
  auto mixed = validate_tickets(entry_with({a->make(0), a->make(20)}), {a}, kNow);
  ASSERT_TRUE(mixed.is_ok());
  EXPECT_EQ(*mixed, kNow + 20s);
  // Expired tickets do not count.
  EXPECT_FALSE(validate_tickets(entry_with({a->make(5)}), {a}, kNow + 10s).is_ok());
}

}  // namespace
}  // namespace smalti::tickets
