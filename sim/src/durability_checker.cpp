#include "smalti/sim/durability_checker.hpp"

#include <algorithm>

namespace smalti::sim {

using groups::Index;
using groups::Term;

namespace {

// What a host that never stored anything for a group holds.
const groups::MemoryMedium::Slot& nothing_stored() {
  static const groups::MemoryMedium::Slot nothing;
  return nothing;
}

const char* message_kind(const groups::RaftMessage& m) {
  static constexpr const char* kNames[] = {"AppendEntries", "AppendResponse",   "VoteRequest",
                                           "VoteResponse",  "SyncAvailability", "SyncFetch",
                                           "SyncEntries"};
  return kNames[m.index()];
}

std::string describe(const groups::HardState& s) {
  std::string out = "term " + std::to_string(s.term) + ", vote ";
  out += s.vote ? s.vote->peer.short_hex() : std::string("none");
  return out + ", incarnation " + std::to_string(s.incarnation);
}

}  // namespace

DurabilityChecker::DurabilityChecker(World& world) : world_(world) {
  world_.set_send_observer([self = self_](const SentFrame& sent) {
    if (*self) (*self)->observe(sent);
  });
}

void DurabilityChecker::fail(const SentFrame& sent, std::string what) {
  if (!first_) first_ = Where{sent.from, promises_of(sent.from)};
  if (violations_.size() < kMaxViolations) violations_.push_back(std::move(what));
}

std::string DurabilityChecker::who(const SentFrame& sent, const groups::GroupId& group) const {
  return world_.name(sent.from) + " (host " + std::to_string(sent.from) + ") in group " +
         group.short_hex() + " to " + world_.name(sent.to);
}

void DurabilityChecker::observe(const SentFrame& sent) {
  if (sent.alpn != groups::kAlpn) return;
  auto decoded = groups::decode_group_message(sent.frame);
  if (!decoded.is_ok()) return;  // the receiver refuses it; nothing is promised
  if (const auto* hello = std::get_if<groups::Hello>(&*decoded)) {
    link_groups_[sent.link] = hello->group;
    return;
  }
  const auto* raft = std::get_if<groups::RaftFrame>(&*decoded);
  if (raft == nullptr) return;
  auto group = link_groups_.find(sent.link);
  if (group == link_groups_.end()) {
    fail(sent, "a Raft message on link " + std::to_string(sent.link) + " from " +
                   world_.name(sent.from) + " before any Hello named its group");
    return;
  }
  on_raft(sent, group->second, raft->message);
}

void DurabilityChecker::on_raft(const SentFrame& sent, const groups::GroupId& group,
                                const groups::RaftMessage& message) {
  if (const auto* m = std::get_if<groups::AppendEntries>(&message)) {
    note_append(group, *m);
  } else if (const auto* m = std::get_if<groups::AppendResponse>(&message)) {
    if (m->success) check_ack(sent, group, *m);
  } else if (const auto* m = std::get_if<groups::VoteResponse>(&message)) {
    if (!m->pre_vote && m->vote == groups::Vote::kGranted) {
      check_vote(sent, group, m->header, m->asked, world_.peer_id(sent.to), message_kind(message));
    }
  } else if (const auto* m = std::get_if<groups::VoteRequest>(&message)) {
    if (!m->pre_vote) {
      check_vote(sent, group, m->header, m->header.term, world_.peer_id(sent.from),
                 message_kind(message));
    }
  }
}

// The terms the leader of (cluster, term) holds at the indexes this message names.
void DurabilityChecker::note_append(const groups::GroupId& group, const groups::AppendEntries& m) {
  auto& logs = leaders_[group];
  const LeaderKey key{m.header.term, m.header.cluster};
  if (logs.count(key) == 0 && logs.size() >= kTermsKept) {
    if (key < logs.begin()->first) return;  // older than every term kept
    logs.erase(logs.begin());               // the oldest term
  }
  LeaderLog& log = logs[key];
  const Index last = m.prev.index + m.entries.size();
  if (last > kMaxIndexKept) return;  // a log this long is not kept; its acknowledgements pass
  if (log.terms.size() < last) log.terms.resize(last, 0);
  if (m.prev.index > 0) log.terms[m.prev.index - 1] = m.prev.term;
  for (std::size_t k = 0; k < m.entries.size(); ++k) {
    log.terms[m.prev.index + k] = m.entries[k].term;
  }
}

bool DurabilityChecker::check_incarnation(const SentFrame& sent, const groups::GroupId& group,
                                          const groups::Header& h, const groups::HardState& durable,
                                          const char* what) {
  if (durable.incarnation == h.incarnation) return true;
  fail(sent, std::string("durability: ") + what + " from " + who(sent, group) +
                 " speaks as incarnation " + std::to_string(h.incarnation) +
                 ", durable state holds " + describe(durable));
  return false;
}

// A vote for `candidate` in `term` (a candidate's for itself) must survive a crash: a member
// that forgot it could vote again in that term.
void DurabilityChecker::check_vote(const SentFrame& sent, const groups::GroupId& group,
                                   const groups::Header& h, Term term, const PeerId& candidate,
                                   const char* what) {
  ++votes_checked_;
  count_promise(sent);
  const auto* slot = world_.medium(sent.from).find(group);
  const groups::HardState& durable = (slot ? *slot : nothing_stored()).hard_state;
  if (!check_incarnation(sent, group, h, durable, what)) return;
  if (durable.term > term) return;
  if (durable.term == term && durable.vote && durable.vote->peer == candidate) return;
  fail(sent, std::string("durability: ") + what + " from " + who(sent, group) +
                 " promises a vote for " + candidate.short_hex() + " in term " +
                 std::to_string(term) + ", durable state holds " + describe(durable));
}

// An acknowledged append up to m.index must be in the durable log, with the leader's entries.
void DurabilityChecker::check_ack(const SentFrame& sent, const groups::GroupId& group,
                                  const groups::AppendResponse& m) {
  if (m.index == 0) return;
  ++appends_checked_;
  count_promise(sent);
  const auto* slot = world_.medium(sent.from).find(group);
  const groups::MemoryMedium::Slot& durable = slot ? *slot : nothing_stored();
  const std::string what = "AppendResponse acknowledging index " + std::to_string(m.index) +
                           " in term " + std::to_string(m.header.term);
  if (!check_incarnation(sent, group, m.header, durable.hard_state, what.c_str())) return;
  if (durable.last_index() < m.index) {
    fail(sent, "durability: " + what + " from " + who(sent, group) +
                   ", durable log ends at index " + std::to_string(durable.last_index()));
    return;
  }
  auto logs = leaders_.find(group);
  if (logs == leaders_.end()) return;
  auto leader = logs->second.find(LeaderKey{m.header.term, m.header.cluster});
  if (leader == logs->second.end()) return;  // a term no longer kept
  const std::vector<Term>& terms = leader->second.terms;
  const Index from = m.index > kAppendWindow ? m.index - kAppendWindow + 1 : 1;
  // Entries up to the durable base are in the durable snapshot: committed, the leader's too.
  for (Index i = std::min<Index>(m.index, terms.size()); i >= from && i > durable.base.index; --i) {
    const Term sent_term = terms[i - 1];
    const Term stored_term = durable.log[i - durable.base.index - 1].term;
    if (sent_term == 0 || stored_term == sent_term) continue;
    fail(sent, "durability: " + what + " from " + who(sent, group) + ", the leader's entry " +
                   std::to_string(i) + " has term " + std::to_string(sent_term) +
                   ", the durable log's " + std::to_string(stored_term));
    return;
  }
}

}  // namespace smalti::sim
