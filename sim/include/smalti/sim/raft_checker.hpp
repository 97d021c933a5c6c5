// RaftChecker: Raft's safety properties, checked on live members after every simulation step.
//
//   election safety     at most one leader per (cluster, term);
//   log matching        two logs with an entry of the same index and term hold the same prefix
//                       up to it (entries are compared through chained digests);
//   leader completeness a member that takes office holds every entry committed so far;
//   state machine safety no two members commit different entries at one index.
//
// It works for any state machine, since it looks only at the Raft log: observe() each member
// (through its RaftMachine) after each step, forget() one that crashed (its durable log is
// observed again after the restart). Violations are collected as readable strings; the first
// one is what a test reports. Memory: one digest per log entry per member, plus one per
// (cluster, index, term) seen. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "smalti/groups/raft_machine.hpp"

namespace smalti::sim {

class RaftChecker {
 public:
  using MemberKey = std::uint64_t;  // any stable name of a member (a host id)

  void observe(MemberKey member, const groups::RaftMachine& raft);
  void forget(MemberKey member) { members_.erase(member); }

  bool ok() const { return violations_.empty(); }
  const std::vector<std::string>& violations() const { return violations_; }
  // The highest index known committed in any cluster, and the number of leaders seen.
  groups::Index max_committed() const;
  std::size_t terms_with_leader() const { return leaders_.size(); }

  static constexpr std::size_t kMaxViolations = 32;

 private:
  struct MemberView {
    Digest cluster;
    std::vector<groups::Term> terms;  // terms[i]: term of entry i + 1
    std::vector<Digest> prefix;       // prefix[i]: chained digest of entries 1..i + 1
    groups::Index commit = 0;
    groups::Term led_term = 0;  // the last term it was seen leading in
    std::uint64_t truncations = 0;
    const groups::RaftMachine* machine = nullptr;
  };
  void fail(std::string what);
  // False when the member's log cannot be checked (reported).
  bool refresh(MemberView& view, const groups::RaftMachine& raft);
  void check_commit(MemberKey member, MemberView& view, groups::Index commit);
  void check_leader(MemberKey member, MemberView& view, const groups::RaftMachine& raft);

  std::map<MemberKey, MemberView> members_;
  std::map<std::pair<Digest, groups::Term>, MemberKey> leaders_;
  std::map<std::tuple<Digest, groups::Index, groups::Term>, Digest> seen_;
  std::map<Digest, std::vector<Digest>> committed_;  // cluster -> prefix digests of its commits
  std::vector<std::string> violations_;
};

}  // namespace smalti::sim
