#include "smalti/sim/raft_checker.hpp"

#include <algorithm>

namespace smalti::sim {

using groups::Index;

void RaftChecker::fail(std::string what) {
  if (violations_.size() < kMaxViolations) violations_.push_back(std::move(what));
}

Index RaftChecker::max_committed() const {
  Index best = 0;
  for (const auto& [cluster, prefixes] : committed_) best = std::max<Index>(best, prefixes.size());
  return best;
}

void RaftChecker::observe(MemberKey member, const groups::RaftMachine& raft) {
  MemberView& view = members_[member];
  if (!refresh(view, raft)) return;
  check_leader(member, view, raft);
  check_commit(member, view, raft.commit_index());
}

// Re-digests the log from its first change since the last observation and records each new
// (index, term) for log matching.
bool RaftChecker::refresh(MemberView& view, const groups::RaftMachine& raft) {
  const groups::RaftLog& log = raft.log();
  if (view.cluster != raft.cluster() || view.machine != &raft) {
    view = MemberView{};
    view.cluster = raft.cluster();
    view.machine = &raft;
    view.truncations = log.truncations();
  }
  Index same = std::min<Index>(view.terms.size(), log.last_index());
  if (view.truncations != log.truncations()) {
    // Something was cut since the last look (rare): digest the whole log again.
    same = 0;
    view.truncations = log.truncations();
  }
  view.terms.resize(same);
  view.prefix.resize(same);
  const Index base = log.base().index;
  if (same < base) {
    // Entries up to the base are in the member's snapshot, which holds committed entries only:
    // the prefix there is the committed one.
    const std::vector<Digest>& committed = committed_[view.cluster];
    if (committed.size() < base) {
      fail("state machine safety: a member holds a snapshot up to index " + std::to_string(base) +
           " past the " + std::to_string(committed.size()) + " entries committed");
      view.machine = nullptr;  // look again next time
      return false;
    }
    view.terms.resize(base, 0);
    view.prefix.insert(view.prefix.end(), committed.begin() + static_cast<std::ptrdiff_t>(same),
                       committed.begin() + static_cast<std::ptrdiff_t>(base));
    same = base;
  }
  for (Index i = same + 1; i <= log.last_index(); ++i) {
    const groups::LogEntry& e = log.at(i);
    const Digest before = i == 1 ? Digest::zero() : view.prefix[i - 2];
    const Digest chained = before.derive(Digest::hash(encode(e)));
    view.terms.push_back(e.term);
    view.prefix.push_back(chained);
    auto [it, added] = seen_.try_emplace({view.cluster, i, e.term}, chained);
    if (!added && it->second != chained) {
      fail("log matching: two logs hold entries of term " + std::to_string(e.term) + " at index " +
           std::to_string(i) + " with different prefixes");
    }
  }
  if (view.commit > log.last_index()) view.commit = 0;  // a reset member starts over
  return true;
}

void RaftChecker::check_leader(MemberKey member, MemberView& view,
                               const groups::RaftMachine& raft) {
  if (!raft.is_leader()) return;
  auto [it, added] = leaders_.try_emplace({view.cluster, raft.term()}, member);
  if (!added && it->second != member) {
    fail("election safety: members " + std::to_string(it->second) + " and " +
         std::to_string(member) + " both lead term " + std::to_string(raft.term()));
  }
  if (view.led_term == raft.term()) return;
  view.led_term = raft.term();
  const std::vector<Digest>& committed = committed_[view.cluster];
  if (committed.empty()) return;
  const Index n = committed.size();
  if (view.prefix.size() < n || view.prefix[n - 1] != committed[n - 1]) {
    fail("leader completeness: member " + std::to_string(member) + " leads term " +
         std::to_string(raft.term()) + " without the entries committed up to index " +
         std::to_string(n));
  }
}

void RaftChecker::check_commit(MemberKey member, MemberView& view, Index commit) {
  if (commit <= view.commit) {
    view.commit = commit;
    return;
  }
  std::vector<Digest>& committed = committed_[view.cluster];
  const Index known = committed.size();
  const Index check_at = std::min(commit, known);
  if (check_at > 0 && view.prefix[check_at - 1] != committed[check_at - 1]) {
    fail("state machine safety: member " + std::to_string(member) +
         " committed different entries up to index " + std::to_string(check_at));
    return;
  }
  for (Index i = known + 1; i <= commit; ++i) committed.push_back(view.prefix[i - 1]);
  view.commit = commit;
}

}  // namespace smalti::sim
