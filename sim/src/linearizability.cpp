#include "smalti/sim/linearizability.hpp"

#include <algorithm>
#include <tuple>

namespace smalti::sim {
namespace {

std::string instant_text(Instant at) {
  return at == Instant::max() ? std::string("outcome unknown") : format_duration(at.since_origin());
}

void append_operation(std::string& out, const detail::ReportedOperation& op) {
  out += "  #" + std::to_string(op.index) + " client " + std::to_string(op.client) + " [" +
         instant_text(op.invoked) + ", " + instant_text(op.completed) + "] " + op.text + "\n";
}

std::string plural(std::size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

}  // namespace

std::string_view verdict_name(LinearizabilityResult::Verdict verdict) {
  switch (verdict) {
    case LinearizabilityResult::Verdict::kLinearizable:
      return "linearizable";
    case LinearizabilityResult::Verdict::kNotLinearizable:
      return "not linearizable";
    case LinearizabilityResult::Verdict::kGaveUp:
      return "gave up";
  }
  return "unknown verdict";
}

std::string KvModel::describe(const Input& input, const std::optional<Output>& output) {
  const std::string key = std::to_string(input.key);
  switch (input.kind) {
    case Input::Kind::kPut:
      return input.value == 0 ? "delete(" + key + ")"
                              : "put(" + key + ", " + std::to_string(input.value) + ")";
    case Input::Kind::kGet:
      return "get(" + key + ") -> " + (output ? describe_state(*output) : std::string("?"));
    case Input::Kind::kCas: {
      std::string text = "cas(" + key + ", " + describe_state(input.expected) + " -> " +
                         describe_state(input.value) + ") -> ";
      if (!output) return text + "?";
      return text + (*output == 1 ? "ok" : *output == 0 ? "failed" : std::to_string(*output));
    }
  }
  return "unknown operation";
}

std::optional<SpecialState<KvModel::State>> KvModel::special_state(
    const Input& input, const std::optional<Output>& output) {
  switch (input.kind) {
    case Input::Kind::kPut:
      return std::nullopt;
    case Input::Kind::kGet:
      if (!output) return SpecialState<State>{0, Elsewhere::kUnchanged};
      return SpecialState<State>{*output, Elsewhere::kRefused};
    case Input::Kind::kCas:
      return SpecialState<State>{
          input.expected, output && *output != 0 ? Elsewhere::kRefused : Elsewhere::kUnchanged};
  }
  return std::nullopt;
}

std::string KvModel::describe_state(const State& state) {
  return state == 0 ? std::string("absent") : std::to_string(state);
}

namespace detail {

void EntryLists::build(std::span<const std::int64_t> invoked,
                       std::span<const std::int64_t> completed, std::span<const OpClass> classes) {
  SMALTI_ASSERT(invoked.size() == completed.size() && invoked.size() == classes.size());
  SMALTI_ASSERT(invoked.size() < kNoEntry / 2 - kLists, "too many operations in one partition");
  const auto count = static_cast<std::uint32_t>(invoked.size());
  entries_.assign(kLists, Entry{});  // the heads
  std::uint32_t begin[kLists + 1] = {};
  for (std::uint32_t list = 0; list < kLists; ++list) {
    begin[list] = static_cast<std::uint32_t>(entries_.size());
    for (std::uint32_t op = 0; op < count; ++op) {
      SMALTI_ASSERT(invoked[op] <= completed[op], "an operation completes before it starts");
      if (static_cast<std::uint32_t>(classes[op]) != list) continue;
      entries_.push_back({.time = invoked[op], .op = op});
      entries_.push_back({.time = completed[op], .op = op, .is_return = true});
    }
    std::sort(entries_.begin() + begin[list], entries_.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
    });
  }
  const auto size = static_cast<std::uint32_t>(entries_.size());
  begin[kLists] = size;

  call_of_.assign(count, kNoEntry);
  for (std::uint32_t e = kLists; e < size; ++e) {
    if (!entries_[e].is_return) {
      call_of_[entries_[e].op] = e;
    } else {
      entries_[call_of_[entries_[e].op]].match = e;  // calls sort before their own returns
    }
  }

  next_.assign(size, kNoEntry);
  prev_.assign(size, kNoEntry);
  for (std::uint32_t list = 0; list < kLists; ++list) {
    std::uint32_t last = list;  // the head
    for (std::uint32_t e = begin[list]; e < begin[list + 1]; ++e) {
      next_[last] = e;
      prev_[e] = last;
      last = e;
    }
  }
}

void SearchCache::reset() {
  entries_.clear();
  windows_.clear();
  nodes_.clear();
  named_sets_.clear();
  table_.assign(64, 0);
}

bool SearchCache::insert(const RequiredSet& required, std::uint32_t state, std::uint64_t state_hash,
                         std::span<const std::uint32_t> named, std::uint32_t spent,
                         std::uint64_t* compared) {
  const std::uint64_t hash = mix64(required.hash ^ mix64(state_hash));
  if ((entries_.size() + 1) * 2 > table_.size()) grow();
  const std::size_t mask = table_.size() - 1;
  // Terminates: the table is at most half full.
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint32_t slot = table_[i];
    if (slot == 0) {
      table_[i] = static_cast<std::uint32_t>(entries_.size() + 1);
      entries_.push_back({.hash = hash,
                          .window_at = windows_.size(),
                          .window_words = static_cast<std::uint32_t>(required.window.size()),
                          .base_word = required.base_word,
                          .state = state,
                          .first = add_node(named, spent, kNoEntry)});
      windows_.insert(windows_.end(), required.window.begin(), required.window.end());
      return true;
    }
    ++*compared;
    Entry& entry = entries_[slot - 1];
    if (same_key(entry, hash, required, state))
      return add_if_minimal(entry, named, spent, compared);
  }
}

std::uint64_t SearchCache::bytes() const {
  return table_.size() * sizeof(std::uint32_t) + entries_.size() * sizeof(Entry) +
         windows_.size() * sizeof(std::uint64_t) + nodes_.size() * sizeof(Node) +
         named_sets_.size() * sizeof(std::uint32_t);
}

bool SearchCache::same_key(const Entry& entry, std::uint64_t hash, const RequiredSet& required,
                           std::uint32_t state) const {
  if (entry.hash != hash || entry.state != state || entry.base_word != required.base_word ||
      entry.window_words != required.window.size()) {
    return false;
  }
  return std::equal(required.window.begin(), required.window.end(),
                    windows_.begin() + static_cast<std::ptrdiff_t>(entry.window_at));
}

std::uint32_t SearchCache::add_node(std::span<const std::uint32_t> named, std::uint32_t spent,
                                    std::uint32_t next) {
  nodes_.push_back({.named_at = named_sets_.size(),
                    .named_size = static_cast<std::uint32_t>(named.size()),
                    .spent = spent,
                    .next = next});
  named_sets_.insert(named_sets_.end(), named.begin(), named.end());
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

// Adds (named, spent) to the entry's antichain unless a member is a subset of it, dropping the
// members it is a subset of. The walk is bounded by the antichain's length.
bool SearchCache::add_if_minimal(Entry& entry, std::span<const std::uint32_t> named,
                                 std::uint32_t spent, std::uint64_t* compared) {
  std::uint32_t prev = kNoEntry;
  for (std::uint32_t n = entry.first; n != kNoEntry;) {
    ++*compared;
    const Node& node = nodes_[n];
    const std::uint32_t* member = named_sets_.data() + node.named_at;
    bool subset = node.spent <= spent && node.named_size <= named.size();
    bool superset = spent <= node.spent && named.size() <= node.named_size;
    std::size_t i = 0;
    std::size_t j = 0;
    while ((subset || superset) && i < node.named_size && j < named.size()) {  // a merge
      if (member[i] == named[j]) {
        ++i;
        ++j;
      } else if (member[i] < named[j]) {
        subset = false;
        ++i;
      } else {
        superset = false;
        ++j;
      }
    }
    if (subset && i == node.named_size) return false;
    const std::uint32_t after = node.next;
    if (superset && j == named.size()) {
      (prev == kNoEntry ? entry.first : nodes_[prev].next) = after;
    } else {
      prev = n;
    }
    n = after;
  }
  entry.first = add_node(named, spent, entry.first);
  return true;
}

void SearchCache::grow() {
  table_.assign(table_.size() * 2, 0);
  const std::size_t mask = table_.size() - 1;
  for (std::size_t e = 0; e < entries_.size(); ++e) {
    std::size_t i = entries_[e].hash & mask;
    while (table_[i] != 0) i = (i + 1) & mask;  // at most half full
    table_[i] = static_cast<std::uint32_t>(e + 1);
  }
}

void OptionalIndex::build(std::span<const OpClass> classes, std::span<const std::uint8_t> blind,
                          std::span<const std::optional<std::uint64_t>> special_hashes,
                          std::span<const std::uint64_t> effect_hashes) {
  const auto count = static_cast<std::uint32_t>(classes.size());
  acting.clear();
  this->blind.clear();
  unhinted.clear();
  chained_blind.clear();
  blind_ops.clear();
  observers.assign(count, 0);
  canonical = true;
  for (std::uint32_t op = 0; op < count; ++op) {
    if (classes[op] == OpClass::kOmitted) continue;
    if (!special_hashes[op] && !blind[op]) canonical = false;
    if (classes[op] == OpClass::kOptional) {
      if (special_hashes[op]) {
        acting.emplace_back(*special_hashes[op], op);
      } else {
        unhinted.push_back(op);
      }
    } else if (classes[op] == OpClass::kBlindWrite) {
      this->blind.emplace_back(effect_hashes[op], op);
      blind_ops.push_back(op);
    }
  }
  std::sort(acting.begin(), acting.end());
  std::sort(this->blind.begin(), this->blind.end());
  observed.clear();
  observed_begin.assign(count + 1, 0);
  for (std::uint32_t op = 0; op < count; ++op) {
    observed_begin[op] = static_cast<std::uint32_t>(observed.size());
    if (!special_hashes[op] || classes[op] == OpClass::kOmitted) continue;
    for_each_with_hash(this->blind, *special_hashes[op], [&](std::uint32_t p) {
      observed.push_back(p);
      ++observers[p];
    });
  }
  observed_begin[count] = static_cast<std::uint32_t>(observed.size());
  for (const auto& [hash, op] : this->blind) {
    const auto it = std::lower_bound(acting.begin(), acting.end(), std::pair(hash, 0u));
    if (it != acting.end() && it->first == hash) chained_blind.push_back(op);
  }
  std::sort(chained_blind.begin(), chained_blind.end());
}

std::int64_t EntryLists::first_return_time(std::uint32_t list) const {
  for (std::uint32_t e = next_[list]; e != kNoEntry; e = next_[e]) {
    if (entries_[e].is_return) return entries_[e].time;
  }
  return INT64_MAX;
}

std::vector<std::uint32_t> next_candidates(const std::vector<bool>& placed,
                                           std::span<const std::int64_t> invoked,
                                           std::span<const std::int64_t> completed,
                                           std::span<const OpClass> classes) {
  std::int64_t first_completion = INT64_MAX;
  for (std::uint32_t i = 0; i < placed.size(); ++i) {
    if (!placed[i]) first_completion = std::min(first_completion, completed[i]);
  }
  std::vector<std::uint32_t> next;
  for (const bool required : {true, false}) {
    for (std::uint32_t i = 0; i < placed.size(); ++i) {
      if (!placed[i] && classes[i] != OpClass::kOmitted && invoked[i] <= first_completion &&
          (classes[i] <= OpClass::kRequiredReadOnly) == required) {
        next.push_back(i);
      }
    }
  }
  return next;
}

std::string format_report(const PartitionReport& report) {
  std::string out = "partition " + std::to_string(report.partition) + ": ";
  if (report.outcome == SearchOutcome::kGaveUp) {
    out += "gave up at " + report.gave_up_reason + " (" + plural(report.operations, "operation") +
           ", " + plural(report.steps, "search step") + ")\n";
  } else {
    out += "not linearizable (" + plural(report.operations, "operation") + ", " +
           plural(report.steps, "search step") + ")\n";
  }
  out += "longest linearizable prefix: " + std::to_string(report.prefix_length) + " of " +
         plural(report.operations, "operation") + "\n";
  if (report.prefix_length > report.prefix_tail.size()) {
    out += "  ... " +
           plural(report.prefix_length - report.prefix_tail.size(), "earlier operation") + "\n";
  }
  for (const ReportedOperation& op : report.prefix_tail) append_operation(out, op);
  if (report.state_after_prefix) {
    out += "state after the prefix: " + *report.state_after_prefix + "\n";
  }
  out += report.outcome == SearchOutcome::kGaveUp ? "not placed yet, and next in real time ("
                                                  : "none of these can be placed next (";
  out += plural(report.unplaced_count, "operation");
  if (report.unplaced_unknown > 0) {
    out += ", " + std::to_string(report.unplaced_unknown) + " of unknown outcome";
  }
  out += "):\n";
  for (const ReportedOperation& op : report.unplaced) append_operation(out, op);
  if (report.unplaced_count > report.unplaced.size()) {
    out +=
        "  ... " + plural(report.unplaced_count - report.unplaced.size(), "more operation") + "\n";
  }
  return out;
}

LinearizabilityResult check_partitions(
    std::vector<PartitionMember> members,
    const std::function<std::pair<SearchOutcome, std::uint64_t>(
        std::span<const std::uint32_t>, std::uint64_t, PartitionReport*)>& check_partition) {
  std::sort(members.begin(), members.end(), [](const PartitionMember& a, const PartitionMember& b) {
    return std::tie(a.partition, a.invoked, a.index) < std::tie(b.partition, b.invoked, b.index);
  });
  LinearizabilityResult result;
  std::optional<PartitionReport> first_gave_up;
  std::size_t gave_up = 0;
  std::vector<std::uint32_t> indices;
  for (std::size_t begin = 0, end = 0; begin < members.size(); begin = end) {
    const std::uint64_t partition = members[begin].partition;
    indices.clear();
    for (end = begin; end < members.size() && members[end].partition == partition; ++end) {
      indices.push_back(members[end].index);
    }
    PartitionReport report;
    const auto [outcome, steps] = check_partition(indices, partition, &report);
    result.search_steps += steps;
    ++result.partitions_checked;
    if (outcome == SearchOutcome::kNotLinearizable) {
      result.verdict = LinearizabilityResult::Verdict::kNotLinearizable;
      result.partition = partition;
      result.explanation = format_report(report);
      return result;
    }
    if (outcome == SearchOutcome::kGaveUp && gave_up++ == 0) first_gave_up = std::move(report);
  }
  const std::string totals = plural(members.size(), "operation") + " in " +
                             plural(result.partitions_checked, "partition") + ", " +
                             plural(result.search_steps, "search step");
  if (!first_gave_up) {
    result.explanation = "linearizable: " + totals;
    return result;
  }
  result.verdict = LinearizabilityResult::Verdict::kGaveUp;
  result.partition = first_gave_up->partition;
  result.explanation = format_report(*first_gave_up) + std::to_string(gave_up) +
                       " partition(s) gave up, the rest are linearizable: " + totals;
  return result;
}

}  // namespace detail
}  // namespace smalti::sim
