// RaftMachine membership: bootstrap, merging clusters of one group, and voter changes.
#include <algorithm>
#include <limits>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

// An empty member that has not heard from a leader for a while founds the cluster if no bonded
// peer that could found it sorts before it: among members that start together, one founds and
// the leader then adds the others.
bool RaftMachine::may_bootstrap() const {
  if (options_.preference.is_observer() || !founding_allowed_) return false;
  if (last_leader_contact_ &&
      last_input() - *last_leader_contact_ <
          options_.consensus.bootstrap_delay + options_.consensus.election_timeout) {
    return false;
  }
  const auto founders = 1 + std::count_if(peers_.begin(), peers_.end(), [](const auto& p) {
                          return !p.second.observer && p.second.incarnation != 0;
                        });
  if (static_cast<std::uint32_t>(founders) < options_.consensus.bootstrap_expect) return false;
  return std::none_of(peers_.begin(), peers_.end(),
                      [&](const auto& p) { return !p.second.observer && p.first < options_.self; });
}

// bootstrap_expect members of the group: before the founding entry is known committed, votes
// and stored copies must come from this many members (see the header).
std::size_t RaftMachine::group_quorum() const {
  return std::max<std::size_t>(1, options_.consensus.bootstrap_expect);
}

// Won a founding election: the founding configuration is this member and those that voted
// for it (ascending PeerId, up to max_voters, an odd number past two).
void RaftMachine::found(Instant now) {
  SMALTI_ASSERT(log_.empty() && role_ == Role::kCandidate, "founding without an election");
  VoterSet founders{{self_member()}};
  for (const auto& [id, ballot] : votes_) {  // ascending PeerId
    if (founders.voters.size() >= options_.consensus.max_voters) break;
    if (id != options_.self && ballot.vote == Vote::kGranted) {
      founders.voters.push_back({id, ballot.incarnation});
    }
  }
  if (founders.voters.size() > 2 && founders.voters.size() % 2 == 0) founders.voters.pop_back();
  std::sort(founders.voters.begin(), founders.voters.end());
  log_.append(LogEntry{hard_.term, EntryKind::kConfig, encode(founders)});
  persist_append(log_.at(1));
  refresh_config();
  become_leader(now);
}

// A message from another cluster of this group. Returns true when it must be ignored.
//   - While this member's founding entry is not known committed, Raft decides as usual: a
//     leader elected by bootstrap_expect members overwrites an uncommitted founding entry
//     (it cannot overwrite a committed one), except that a committed cluster is joined at
//     once (it can only be the sole committed one when bootstrap_expect is large enough).
//   - Two committed clusters (bootstrap_expect too low for the group) merge: the one with the
//     lower commit index (ties: the higher digest) gives way, its members drop their logs and
//     rejoin the other as new members.
//   - A committed member hears an uncommitted cluster out: such a cluster's candidates cannot
//     win its vote and its leaders' terms are stale (Raft's log comparison).
bool RaftMachine::on_foreign_cluster(Instant now, const Header& h) {
  if (cluster_ == Digest::zero() || h.cluster == cluster_ || h.cluster == Digest::zero()) {
    return false;
  }
  const bool theirs_committed = h.commit >= 1;
  if (!hard_.founded) {
    if (theirs_committed) reset_membership(now);
    return false;
  }
  if (!theirs_committed) return false;
  const bool we_give_way = h.commit > commit_ || (h.commit == commit_ && h.cluster < cluster_);
  if (!we_give_way) return true;
  reset_membership(now);
  return false;  // now empty, the message is handled as any from a leader of this group
}

void RaftMachine::reset_membership(Instant now) {
  if (role_ == Role::kLeader) fail_reads();
  discard_log();
  commit_ = 0;
  refresh_config();
  HardState& hs = mutate_hard_state();
  // The vote stays: it binds this term whatever the log holds (a second vote in the same term,
  // under the new incarnation, would count twice towards bootstrap_expect).
  hs.founded = false;
  hs.incarnation = 1 + rng_.below(UINT64_MAX - 1);
  role_ = Role::kFollower;
  leader_.reset();
  in_sync_ = false;
  progress_.clear();
  votes_.clear();
  catch_up_.reset();
  term_start_index_ = 0;
  heartbeat_deadline_ = Instant::max();
  durable_last_index_ = 0;
  last_leader_contact_ = now;  // wait for the winner's leader before founding anything again
  emit(raft_effect::Reset{});
  reset_election_timer(now);
}

void RaftMachine::append_config(VoterSet voters) {
  std::sort(voters.voters.begin(), voters.voters.end());
  log_.append(LogEntry{hard_.term, EntryKind::kConfig, encode(voters)});
  persist_append(log_.at(log_.last_index()));
  refresh_config();
  replicate_all(/*heartbeat=*/false);
}

// One voter change at a time, and only once the leader committed an entry of its term and the
// previous change (Raft dissertation 4.1 and its single-server-change fix): removes a voter
// not heard from for the bond timeout, adds the most caught-up learner while voters are fewer
// than max_voters, keeping the count odd past two when only one learner is waiting.
void RaftMachine::change_membership(Instant now) {
  if (commit_ < term_start_index_ || config_index_ > commit_) return;
  const Duration dead_after = options_.consensus.bond_timeout();
  auto alive = [&](const Member& m) {
    if (m.peer == options_.self) return true;
    auto it = progress_.find(m.peer);
    if (it == progress_.end() || it->second.incarnation != m.incarnation) {
      return now - leader_since_ < dead_after;
    }
    const Instant since =
        it->second.acked ? std::max(it->second.last_ack, leader_since_) : leader_since_;
    return now - since < dead_after;
  };
  // Answered within two heartbeats: such voters can commit the change at once. A removal waits
  // until a quorum of the smaller configuration is fresh, or a second voter that is failing but
  // not yet declared dead would be needed to commit it (and the group would stall on it).
  auto fresh = [&](const Member& m) {
    if (m.peer == options_.self) return true;
    auto it = progress_.find(m.peer);
    return it != progress_.end() && it->second.acked && it->second.incarnation == m.incarnation &&
           now - it->second.last_ack < 2 * options_.consensus.heartbeat_interval;
  };
  VoterSet next = config_;
  auto dead = std::find_if(next.voters.begin(), next.voters.end(),
                           [&](const Member& m) { return !alive(m); });
  if (dead != next.voters.end()) {
    next.voters.erase(dead);
    const auto fresh_voters = std::count_if(next.voters.begin(), next.voters.end(), fresh);
    if (static_cast<std::size_t>(fresh_voters) >= next.voters.size() / 2 + 1) {
      append_config(std::move(next));
    }
    return;
  }
  const std::size_t max_voters = options_.consensus.max_voters;
  std::vector<std::pair<Index, PeerId>> learners;  // (match, id), most caught up first
  for (const auto& [id, p] : progress_) {
    if (!p.bonded || !p.acked || p.observer || now - p.last_ack >= dead_after) continue;
    if (is_config_voter(id, p.incarnation) || p.match < commit_) continue;
    learners.emplace_back(p.match, id);
  }
  if (next.voters.size() > max_voters) {
    // max_voters was lowered: drop the least caught-up voter other than the leader. The leader
    // ranks above every other voter, even one as caught up as itself.
    auto rank = [&](const Member& m) {
      return m.peer == options_.self ? std::numeric_limits<Index>::max() : progress_[m.peer].match;
    };
    auto worst =
        std::min_element(next.voters.begin(), next.voters.end(),
                         [&](const Member& a, const Member& b) { return rank(a) < rank(b); });
    next.voters.erase(worst);
    append_config(std::move(next));
    return;
  }
  if (learners.empty() || next.voters.size() >= max_voters) return;
  const std::size_t after = next.voters.size() + 1;
  if (after > 2 && after % 2 == 0 && learners.size() < 2) return;
  std::sort(learners.begin(), learners.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const PeerId& chosen = learners.front().second;
  next.voters.push_back(Member{chosen, progress_[chosen].incarnation});
  append_config(std::move(next));
}

}  // namespace smalti::groups
