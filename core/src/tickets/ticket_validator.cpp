#include "smalti/tickets/ticket_validator.hpp"

#include <algorithm>

namespace smalti::tickets {

Result<WallTime> validate_tickets(const discovery::PeerEntry& entry, const Validators& validators,
                                  WallTime now) {
  WallTime earliest = WallTime::max();
  for (const auto& validator : validators) {
    std::optional<WallTime> best;
    Status last = error(StatusCode::kPermissionDenied,
                        "no ticket of class " + validator->ticket_class().short_hex());
    for (const auto& [id, ticket] : entry.tickets) {
      if (ticket.ticket_class != validator->ticket_class()) continue;
      auto expiry = validator->validate(ticket.data, entry.id(), now);
      if (!expiry.is_ok()) {
        last = error(StatusCode::kPermissionDenied, "ticket of class " +
                                                        validator->ticket_class().short_hex() +
                                                        " refused: " + expiry.status().message());
        continue;
      }
      if (*expiry <= now) continue;
      best = best ? std::max(*best, *expiry) : *expiry;
    }
    if (!best) return last;
    earliest = std::min(earliest, *best);
  }
  return earliest;
}

}  // namespace smalti::tickets
