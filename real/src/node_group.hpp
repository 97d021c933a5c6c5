// The group mode of smalti-node: every node started with the same --group secret joins one
// Raft group running a replicated command log, submits its own commands to it and prints the
// log's state whenever it changes ("state applied=<count> digest=<hex>"). Equal digests on two
// nodes mean they applied the same commands in the same order. Each acknowledged command is
// printed as "executed <index> <command>"; with print_applied each applied one as
// "applied <n> <command>". Executor thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "smalti/groups/groups.hpp"
#include "smalti/network.hpp"

namespace smalti::real::node {

// Text commands, each applied once: a command equal to one already applied is ignored, so a
// submitter may retry a command whose outcome it does not know (an idempotency key).
struct CommandLog {
  using Command = std::string;
  using Query = groups::Unit;
  using QueryResult = std::uint64_t;

  std::set<std::string> seen;
  std::uint64_t applied = 0;
  Digest chain = Digest::zero();  // BLAKE3(previous chain || command) over applied commands
  // Told "applied <n> <command>" for each command applied, when set (--print-applied).
  std::function<void(const std::string&)> on_applied;

  Digest signature() const { return Digest::from_string("smalti.node.command-log.v1"); }
  void apply(const Command& command, const groups::ApplyContext&);
  QueryResult query(const Query&) const { return applied; }
  // The commands seen, the count and the chain (the group snapshots it, --snapshot-every).
  Bytes snapshot() const;
  Status restore(ByteView state);
};

struct GroupMode {
  std::string secret;          // the group key's secret; empty: no group
  std::uint32_t commands = 0;  // submitted once the group is online, one at a time
  bool print_applied = false;  // a line per applied command, in order
  // Commands are "<prefix><n>"; empty: the first 8 hex digits of the peer id and "-".
  std::string command_prefix;
  groups::ConsensusConfig consensus;
  groups::SnapshotPolicy snapshots;  // --snapshot-every N, --snapshot-keep N
  bool print_state = true;           // a "state applied=..." line per commit, and one per snapshot
                                     // installed from other members ("snapshots installed=<n>")
};

using Say = std::function<void(const std::string&)>;

// Joins the group and spawns the submitting and reporting tasks on `net`; they hold the
// membership until the node stops. The group's handle, or an error when the join is refused.
Result<groups::Group<CommandLog>> start_group_mode(Network& net, const GroupMode& mode, Say say);

}  // namespace smalti::real::node
