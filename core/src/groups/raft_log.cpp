#include "smalti/groups/raft_log.hpp"

namespace smalti::groups {

std::vector<LogEntry> RaftLog::slice(Index from, std::size_t max_count,
                                     std::size_t max_bytes) const {
  std::vector<LogEntry> out;
  from = std::max<Index>(from, 1);
  if (from <= base_.index || from > last_index()) return out;
  std::size_t bytes = 0;
  for (const LogEntry& e : range(from, last_index())) {
    if (out.size() >= max_count) break;
    if (!out.empty() && bytes + e.payload.size() > max_bytes) break;
    bytes += e.payload.size();
    out.push_back(e);
  }
  return out;
}

Index RaftLog::first_index_of_term_at(Index i) const {
  SMALTI_ASSERT(i > base_.index && i <= last_index(), "log index out of range");
  const Term t = at(i).term;
  while (i > first_index() && at(i - 1).term == t) --i;
  return i;
}

void RaftLog::prune_through(Index through) {
  SMALTI_ASSERT(through > base_.index && through <= last_index(), "pruning outside the log");
  const Cursor base{at(through).term, through};
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(through - base_.index));
  base_ = base;
}

}  // namespace smalti::groups
