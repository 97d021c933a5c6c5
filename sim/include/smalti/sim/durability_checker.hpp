// DurabilityChecker: a group member promises nothing that its durable store does not hold yet.
//
// It watches every frame a host sends on a groups link (World::set_send_observer), decodes the
// Raft messages in it, and checks each promise against the host's MemoryMedium (the durable
// side of its in-memory stores, which a crash keeps) at that very moment:
//
//   granted vote        a VoteResponse granting a real vote (not a pre-vote) for term T needs a
//                       durable term > T, or term T with the vote for that candidate;
//   candidacy           a real VoteRequest for term T (the candidate voted for itself) needs a
//                       durable term > T, or term T with the vote for itself;
//   acknowledged append an AppendResponse succeeding at index i in term T needs a durable log
//                       of at least i entries whose terms match those the leader of T sent for
//                       the last kAppendWindow of them (taken from its AppendEntries);
//   incarnation         both of the above need the incarnation of the message's header durable.
//
// So a promise made too early is caught on the first message that carries it, with no crash.
// The in-memory stores keep their durable side in the host's medium; the SQLite stores (and any
// StoreProvider that implements record_durable_image) copy there what each completed sync made
// durable. Volatile members, with no medium, keep nothing durable: every promise they make fails.
// Violations are collected as readable strings, the first one is what a test reports. Memory:
// the group of each groups link, and one term per log index for the last kTermsKept leader terms
// of each group. Single-threaded (the simulator's thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "smalti/groups/group_messages.hpp"
#include "smalti/sim/world.hpp"

namespace smalti::sim {

class DurabilityChecker {
 public:
  // Watches `world`'s sends (taking its send observer) until destroyed; either may be
  // destroyed first (the observer left behind does nothing).
  explicit DurabilityChecker(World& world);
  ~DurabilityChecker() { *self_ = nullptr; }
  DurabilityChecker(const DurabilityChecker&) = delete;
  DurabilityChecker& operator=(const DurabilityChecker&) = delete;

  // One sent frame (the send observer calls it).
  void observe(const SentFrame& sent);

  bool ok() const { return violations_.empty(); }
  const std::vector<std::string>& violations() const { return violations_; }
  // Promises checked so far: granted votes, candidacies and acknowledged appends.
  std::uint64_t votes_checked() const { return votes_checked_; }
  std::uint64_t appends_checked() const { return appends_checked_; }
  // The promises of one host checked so far (1 for its first).
  std::uint64_t promises_of(HostId host) const {
    auto it = promises_.find(host);
    return it == promises_.end() ? 0 : it->second;
  }
  // Where the first violation was found: the host and the number of its promise.
  struct Where {
    HostId host = 0;
    std::uint64_t promise = 0;
  };
  std::optional<Where> first_violation() const { return first_; }

  static constexpr std::size_t kMaxViolations = 32;
  // Leader terms of one group whose logs are kept to check the acknowledgements against.
  static constexpr std::size_t kTermsKept = 16;
  // Entries compared before the acknowledged index, inclusive (one AppendEntries at most).
  static constexpr std::size_t kAppendWindow = groups::kMaxEntriesPerAppend;
  // The longest leader log whose terms are kept (8 bytes an index).
  static constexpr groups::Index kMaxIndexKept = groups::Index{1} << 24;

 private:
  // What the leader of one (cluster, term) sent: terms[i - 1] is its entry i's term, 0 unknown.
  using LeaderKey = std::pair<groups::Term, Digest>;
  struct LeaderLog {
    std::vector<groups::Term> terms;
  };

  void on_raft(const SentFrame& sent, const groups::GroupId& group,
               const groups::RaftMessage& message);
  void note_append(const groups::GroupId& group, const groups::AppendEntries& m);
  void check_vote(const SentFrame& sent, const groups::GroupId& group, const groups::Header& h,
                  groups::Term term, const PeerId& candidate, const char* what);
  void check_ack(const SentFrame& sent, const groups::GroupId& group,
                 const groups::AppendResponse& m);
  bool check_incarnation(const SentFrame& sent, const groups::GroupId& group,
                         const groups::Header& h, const groups::HardState& durable,
                         const char* what);
  std::string who(const SentFrame& sent, const groups::GroupId& group) const;
  void fail(const SentFrame& sent, std::string what);
  void count_promise(const SentFrame& sent) { ++promises_[sent.from]; }

  World& world_;
  std::shared_ptr<DurabilityChecker*> self_ = std::make_shared<DurabilityChecker*>(this);
  std::map<LinkId, groups::GroupId> link_groups_;  // from the Hello that opened each link
  std::map<groups::GroupId, std::map<LeaderKey, LeaderLog>> leaders_;
  std::map<HostId, std::uint64_t> promises_;
  std::vector<std::string> violations_;
  std::optional<Where> first_;
  std::uint64_t votes_checked_ = 0;
  std::uint64_t appends_checked_ = 0;
};

}  // namespace smalti::sim
