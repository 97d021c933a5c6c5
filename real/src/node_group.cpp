#include "node_group.hpp"

#include <chrono>
#include <utility>

namespace smalti::real::node {

using namespace std::chrono_literals;

void CommandLog::apply(const Command& command, const groups::ApplyContext&) {
  if (!seen.insert(command).second) return;
  ++applied;
  const ByteView text(reinterpret_cast<const std::uint8_t*>(command.data()), command.size());
  chain = Digest::from_parts({chain.view(), text});
  if (on_applied) on_applied("applied " + std::to_string(applied) + " " + command);
}

namespace {

struct CommandLogState {
  std::set<std::string> seen;
  std::uint64_t applied = 0;
  Digest chain;
};
SMALTI_FIELDS(CommandLogState, seen, applied, chain)

}  // namespace

Bytes CommandLog::snapshot() const {
  return encode(CommandLogState{seen, applied, chain});
}

Status CommandLog::restore(ByteView state) {
  auto decoded = decode<CommandLogState>(state);
  if (!decoded.is_ok()) return decoded.status();
  seen = std::move(decoded->seen);
  applied = decoded->applied;
  chain = decoded->chain;
  return Status::ok();
}

namespace {

constexpr Duration kRetryAfter = 200ms;

// Submits `count` commands named after this node, each retried until it commits.
Task<void> submit(Network& net, groups::Group<CommandLog> group, std::uint32_t count,
                  std::string prefix, Say say) {
  co_await group.when().online();
  say("group online");
  if (prefix.empty()) prefix = net.id().to_hex().substr(0, 8) + "-";
  for (std::uint32_t i = 0; i < count;) {
    const std::string command = prefix + std::to_string(i);
    auto at = co_await group.execute(command);
    if (at.is_ok()) {
      say("executed " + std::to_string(*at) + " " + command);
      ++i;
    } else {
      say("execute failed, retrying: " + at.status().message());
      co_await net.node().sleep(kRetryAfter);
    }
  }
  say("submitted " + std::to_string(count));
}

Task<void> report_state(groups::Group<CommandLog> group, Say say) {
  groups::Index seen = 0;
  std::uint64_t installed = 0;
  while (true) {
    co_await group.when().committed_reaches(seen + 1);
    seen = group.committed();
    const std::uint64_t now_installed = group.raft().catch_up_stats().snapshots_installed;
    if (now_installed != installed) {
      installed = now_installed;
      say("snapshots installed=" + std::to_string(installed));
    }
    const CommandLog& log = group.state();
    say("state applied=" + std::to_string(log.applied) + " digest=" + log.chain.to_hex());
  }
}

}  // namespace

Result<groups::Group<CommandLog>> start_group_mode(Network& net, const GroupMode& mode, Say say) {
  auto group = net.groups()
                   .with_key(groups::GroupKey::from_secret(mode.secret))
                   .with_state_machine(CommandLog{.on_applied = mode.print_applied ? say : Say()})
                   .with_consensus_config(mode.consensus)
                   .with_snapshots(mode.snapshots)
                   .join();
  if (!group.is_ok()) return group.status();
  // Each task holds a handle: the membership lasts until the node stops and cancels them.
  net.spawn(submit(net, *group, mode.commands, mode.command_prefix, say));
  if (mode.print_state) net.spawn(report_state(*group, std::move(say)));
  return group;
}

}  // namespace smalti::real::node
