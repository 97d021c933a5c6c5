// Tickets: typed credentials that peers publish in their signed discovery entries, and the
// validators that admit peers by them (mosaik section 7; JWT and TDX validators build on this).
//
// A validator handles one ticket class. validate_tickets() admits a peer when, for every
// validator, at least one of the peer's tickets of that class is valid; the admission lasts until
// the earliest of those expiries (for each class the longest-lived valid ticket counts), after
// which the peer must be checked again. Validators are immutable and may be shared.
#pragma once

#include <memory>
#include <vector>

#include "smalti/base/status.hpp"
#include "smalti/base/time.hpp"
#include "smalti/discovery/peer_entry.hpp"

namespace smalti::tickets {

class TicketValidator {
 public:
  virtual ~TicketValidator() = default;
  virtual UniqueId ticket_class() const = 0;
  // The expiry of `data` as a ticket of `peer` at `now`, or why it is not valid.
  virtual Result<WallTime> validate(ByteView data, const PeerId& peer, WallTime now) const = 0;
};

using Validators = std::vector<std::shared_ptr<const TicketValidator>>;

// WallTime::max() with no validators; kPermissionDenied naming the first class without a valid
// ticket.
Result<WallTime> validate_tickets(const discovery::PeerEntry& entry, const Validators& validators,
                                  WallTime now);

}  // namespace smalti::tickets
