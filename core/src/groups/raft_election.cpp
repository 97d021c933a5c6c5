// RaftMachine elections: pre-vote, vote, counting against the configuration (and, before the
// founding entry is known committed, against bootstrap_expect members of the group), taking
// office.
#include <algorithm>
#include <set>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::groups {

void RaftMachine::start_pre_vote(Instant now) {
  role_ = Role::kPreCandidate;
  leader_.reset();
  in_sync_ = false;
  votes_.clear();
  votes_[options_.self] = Ballot{Vote::kGranted, hard_.incarnation};
  if (count_votes()) {
    start_election(now);
    return;
  }
  Header h = header();
  h.term = hard_.term + 1;
  request_votes(h, /*pre_vote=*/true);
}

// Asks the voters of the configuration and, until the founding entry is known committed, every
// bonded member of the group (observers only abstain).
void RaftMachine::request_votes(const Header& h, bool pre_vote) {
  std::set<PeerId> asked;
  for (const Member& m : config_.voters) {
    if (m.peer != options_.self && asked.insert(m.peer).second) {
      send(m.peer, VoteRequest{h, log_.last(), pre_vote});
    }
  }
  if (hard_.founded) return;
  for (const auto& [id, peer] : peers_) {
    if (!peer.observer && asked.insert(id).second) {
      send(id, VoteRequest{h, log_.last(), pre_vote});
    }
  }
}

void RaftMachine::start_election(Instant now) {
  role_ = Role::kCandidate;
  leader_.reset();
  in_sync_ = false;
  mutate_hard_state().term = hard_.term + 1;
  hard_.vote = self_member();
  votes_.clear();
  votes_[options_.self] = Ballot{Vote::kGranted, hard_.incarnation};
  reset_election_timer(now);
  if (count_votes()) {
    if (log_.empty()) {
      found(now);
    } else {
      become_leader(now);
    }
    return;
  }
  request_votes(header(), /*pre_vote=*/false);
}

// True when the granted votes make a quorum of the configuration and, until the founding entry
// is known committed, come from bootstrap_expect members of the group (group_quorum).
bool RaftMachine::count_votes() const {
  std::size_t in_config = 0;
  for (const Member& m : config_.voters) {
    auto it = votes_.find(m.peer);
    if (it != votes_.end() && it->second.vote == Vote::kGranted &&
        it->second.incarnation == m.incarnation) {
      ++in_config;
    }
  }
  if (!log_.empty() && in_config < quorum()) return false;
  if (hard_.founded) return true;
  const auto granted = std::count_if(votes_.begin(), votes_.end(),
                                     [](const auto& b) { return b.second.vote == Vote::kGranted; });
  return static_cast<std::size_t>(granted) >= group_quorum();
}

void RaftMachine::become_leader(Instant now) {
  role_ = Role::kLeader;
  catch_up_.reset();
  leader_ = options_.self;
  in_sync_ = true;
  votes_.clear();
  election_deadline_ = Instant::max();
  leader_since_ = now;
  progress_.clear();
  for (const auto& [id, peer] : peers_) {
    Progress& p = progress_[id];
    p.next = log_.last_index() + 1;
    p.bonded = true;
    p.observer = peer.observer;
  }
  // An entry of the new term: committing it commits every earlier entry, and read-index waits
  // for it (the Raft dissertation's no-op).
  log_.append(LogEntry{hard_.term, EntryKind::kNoop, {}});
  persist_append(log_.at(log_.last_index()));
  term_start_index_ = log_.last_index();
  broadcast_heartbeat(now);
}

void RaftMachine::on_vote_request(Instant now, const PeerId& from, const VoteRequest& m) {
  const Term asked = m.header.term;
  const bool up_to_date = m.last >= log_.last();
  auto answer = [&](Vote vote) { send(from, VoteResponse{header(), asked, m.pre_vote, vote}); };
  if (options_.preference.is_observer()) {
    if (!m.pre_vote && asked > hard_.term && !in_leader_lease(now)) {
      become_follower(now, asked, std::nullopt);
    }
    answer(Vote::kAbstained);
    return;
  }
  if (m.pre_vote) {
    // No state changes: grant what a real vote would grant, had the candidate's term come.
    const bool grant = asked > hard_.term && up_to_date && !in_leader_lease(now);
    answer(grant ? Vote::kGranted : Vote::kDenied);
    return;
  }
  if (asked < hard_.term) {
    answer(Vote::kDenied);
    return;
  }
  if (asked > hard_.term) {
    // A member that hears from a live leader ignores a candidate (it would only disrupt).
    if (in_leader_lease(now)) {
      answer(Vote::kDenied);
      return;
    }
    become_follower(now, asked, std::nullopt);
  }
  const Member candidate{from, m.header.incarnation};
  const bool free = !hard_.vote || *hard_.vote == candidate;
  if (free && up_to_date && role_ != Role::kLeader) {
    mutate_hard_state().vote = candidate;  // durable before the answer leaves (send holds it)
    reset_election_timer(now);
    answer(Vote::kGranted);
  } else {
    answer(Vote::kDenied);
  }
}

void RaftMachine::on_vote_response(Instant now, const PeerId& from, const VoteResponse& m) {
  if (m.header.term > hard_.term && !(m.pre_vote && m.vote == Vote::kGranted)) {
    become_follower(now, m.header.term, std::nullopt);
    return;
  }
  // Before the founding entry is known committed, every member's vote counts towards
  // bootstrap_expect; afterwards only the configuration's.
  if (hard_.founded && !is_config_voter(from, m.header.incarnation)) return;
  const Ballot ballot{m.vote, m.header.incarnation};
  if (m.pre_vote) {
    if (role_ != Role::kPreCandidate || m.asked != hard_.term + 1) return;
    votes_[from] = ballot;
    if (count_votes()) start_election(now);
    return;
  }
  if (role_ != Role::kCandidate || m.asked != hard_.term) return;
  votes_[from] = ballot;
  if (!count_votes()) return;
  if (log_.empty()) {
    found(now);
  } else {
    become_leader(now);
  }
}

}  // namespace smalti::groups
