// What a group is and how it is doing here, as its handles report them (Group<M>::config() and
// Group<M>::status()). Value types.
#pragma once

#include <optional>

#include "smalti/base/status.hpp"
#include "smalti/groups/raft_machine.hpp"
#include "smalti/tickets/ticket_validator.hpp"

namespace smalti::groups {

// Everything the GroupId derives from, and the consensus settings (mosaik's GroupConfig).
struct GroupConfig {
  GroupId id;
  GroupKey key;
  ConsensusConfig consensus;
  LogReplayConfig log_replay;
  tickets::Validators validators;  // in the order require_ticket() added them
};

// The group as this member sees it now, for tests, metrics and the demo.
struct GroupStatus {
  Role role = Role::kFollower;
  Term term = 0;
  std::optional<PeerId> leader;
  bool online = false;
  Index committed = 0;
  Index applied = 0;
  std::size_t bonds = 0;
  std::size_t voters = 0;
  // The first error of this member's stores (ok while there is none). From then on the member
  // no longer acknowledges anything that needs them: it stays up and keeps its bonds, but does
  // not count towards a quorum until it is restarted with working stores.
  Status store_error;
};

}  // namespace smalti::groups
