// Internal to the linearizability checker: the search over one partition of a history, Wing &
// Gong's with Lowe's memo, pruned as linearizability.hpp describes. The data structures it keeps
// are in search_state.hpp.
//
// Thread-safety: none; check_linearizability() makes one per call.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/sim/linearizability/check_types.hpp"
#include "smalti/sim/linearizability/history.hpp"
#include "smalti/sim/linearizability/model.hpp"
#include "smalti/sim/linearizability/report.hpp"
#include "smalti/sim/linearizability/search_state.hpp"

namespace smalti::sim {
namespace detail {

// The search over one partition. Reusable: run() resets everything but buffer capacity.
template <LinearizabilityModel Model>
class PartitionSearch {
 public:
  using State = typename Model::State;

  PartitionSearch(std::span<const Operation<Model>> history, const LinearizabilityOptions& options)
      : history_(history), options_(options) {}

  // `members`: indices into the history of the partition's operations, in (invoked, index) order.
  SearchOutcome run(std::span<const std::uint32_t> members) {
    reset(members);
    if (remaining_required_ == 0) return SearchOutcome::kLinearizable;
    Scan scan = first_scan();
    // Bounded: every pass takes a counted step, moves on to the next list, or undoes a step; the
    // step count is capped by max_search_steps.
    for (;;) {
      if (exhausted(scan)) {
        if (next_list(scan)) continue;
        if (stack_.empty()) return SearchOutcome::kNotLinearizable;
        scan = undo();
        continue;
      }
      if (over_limit()) return SearchOutcome::kGaveUp;
      ++steps_;
      if (ruled_out(scan)) {
        advance(scan);
        continue;
      }
      const Move move = try_linearize(scan);
      if (move == Move::kTaken) {
        if (remaining_required_ == 0) return SearchOutcome::kLinearizable;
        scan = first_scan();
      } else if (move == Move::kDominated && scan.list == kReadList) {
        scan.list = kOptionalPhase;  // a forced move (see try_linearize) led where others were
        scan.entry = scan.end = 0;
      } else {
        advance(scan);
      }
    }
  }

  std::uint64_t steps() const { return steps_; }

  // Describes the last run(), which did not return kLinearizable.
  PartitionReport report(std::uint64_t partition, SearchOutcome outcome) const {
    PartitionReport r{.partition = partition, .outcome = outcome};
    r.gave_up_reason = gave_up_reason_;
    r.operations = members_.size();
    r.steps = steps_;
    r.prefix_length = best_.size();
    std::vector<bool> placed(members_.size(), false);
    State state = Model::init();
    for (std::size_t i = 0; i < best_.size(); ++i) {
      placed[best_[i]] = true;
      const Operation<Model>& op = local(best_[i]);
      std::optional<State> next = Model::step(state, op.input, op.output);
      SMALTI_ASSERT(next.has_value(), "the longest prefix replays");
      state = std::move(*next);
      if (best_.size() - i <= kMaxExplainedOperations) r.prefix_tail.push_back(reported(best_[i]));
    }
    if constexpr (requires { Model::describe_state(state); }) {
      r.state_after_prefix = Model::describe_state(state);
    }
    const std::vector<std::uint32_t> unplaced =
        next_candidates(placed, invoked_, completed_, class_);
    r.unplaced_count = unplaced.size();
    for (std::size_t i = 0; i < unplaced.size(); ++i) {
      r.unplaced_unknown += is_required(unplaced[i]) ? 0 : 1;
      if (i < kMaxExplainedOperations) r.unplaced.push_back(reported(unplaced[i]));
    }
    return r;
  }

 private:
  // A configuration's candidates are scanned in three phases: the required read-only calls, the
  // other required calls (both in time order, up to the boundary), then the optional operations
  // that can matter here (gathered into candidates_: non-blind ones first, newest first, since a
  // lost write that took effect is usually seen soon).
  static constexpr std::uint32_t kReadList = static_cast<std::uint32_t>(OpClass::kRequiredReadOnly);
  static constexpr std::uint32_t kWriteList = static_cast<std::uint32_t>(OpClass::kRequired);
  static constexpr std::uint32_t kOptionalPhase = EntryLists::kLists;
  struct Scan {
    std::uint32_t list = kReadList;  // or kOptionalPhase
    std::uint32_t entry = kNoEntry;  // the candidate to try next (in kOptionalPhase: its index)
    std::uint32_t end = 0;           // kOptionalPhase: the end of this configuration's candidates
    std::int64_t boundary = 0;       // the first pending return: later calls are not candidates
  };
  struct Frame {
    Scan scan;                     // at the entry that was linearized
    std::uint32_t candidates = 0;  // candidates_.size() then
    bool forced = false;           // the only move worth trying from the configuration before
    std::uint32_t frontier = 0;    // frontier_ and highest_ before the step
    std::uint32_t highest = 0;
    State state;  // before the step
  };
  enum class Move : std::uint8_t {
    kRefused,    // the model refuses the operation here
    kDominated,  // it fits, but an explored configuration (or one to be) dominates the result
    kTaken,
  };

  const Operation<Model>& local(std::uint32_t op) const { return history_[members_[op]]; }
  ReportedOperation reported(std::uint32_t op) const {
    const Operation<Model>& o = local(op);
    return {.index = members_[op],
            .client = o.client,
            .invoked = o.invoked,
            .completed = o.completed,
            .text = Model::describe(o.input, o.output)};
  }
  bool is_required(std::uint32_t op) const { return class_[op] <= OpClass::kRequiredReadOnly; }
  std::uint32_t op_at(const Scan& scan) const {
    return scan.list == kOptionalPhase ? candidates_[scan.entry] : lists_.op(scan.entry);
  }
  // Whether the latest linearized operation is an optional one.
  bool after_optional() const { return !stack_.empty() && !is_required(op_at(stack_.back().scan)); }

  Scan first_scan() const {
    const std::int64_t boundary =
        std::min(lists_.first_return_time(kReadList), lists_.first_return_time(kWriteList));
    return {.list = kReadList, .entry = lists_.head(kReadList), .boundary = boundary};
  }
  bool exhausted(const Scan& scan) const {
    if (scan.list == kOptionalPhase) return scan.entry == scan.end;
    return scan.entry == kNoEntry || lists_.is_return(scan.entry) ||
           lists_.time(scan.entry) > scan.boundary;
  }
  void advance(Scan& scan) const {
    scan.entry = scan.list == kOptionalPhase ? scan.entry + 1 : lists_.next(scan.entry);
  }
  // Moves the scan to the next phase; false when there is none.
  bool next_list(Scan& scan) {
    if (scan.list == kReadList) {
      scan.list = kWriteList;
      scan.entry = lists_.head(kWriteList);
      return true;
    }
    if (scan.list != kWriteList) return false;
    scan.list = kOptionalPhase;
    scan.entry = static_cast<std::uint32_t>(candidates_.size());
    gather_optional(scan.boundary);
    scan.end = static_cast<std::uint32_t>(candidates_.size());
    return true;
  }

  // Whether the model's hints show the candidate cannot lead anywhere new: it is refused, or
  // leaves the state alone, both here and before the optional operation p placed last (so it is
  // refused in both places, or it and p commute).
  bool ruled_out(const Scan& scan) const {
    if (scan.list == kOptionalPhase || !after_optional()) return false;
    const std::optional<SpecialState<State>>& special = special_[lists_.op(scan.entry)];
    return special && special->state != state_ && special->state != stack_.back().state;
  }

  // Appends to candidates_ the optional operations worth trying in this configuration: those
  // invoked by `boundary` and not linearized yet that can act in the current state; of the blind
  // writes (each sets one state v whatever the state before), only those some candidate acts
  // specially at v for (all of them when a candidate's special state is the current one, or it
  // has no hint); and no blind write right after an optional operation p, as it overwrites p.
  void gather_optional(std::int64_t boundary) {
    const auto begin = static_cast<std::ptrdiff_t>(candidates_.size());
    const auto add = [&](std::uint32_t op) {
      ++steps_;
      if (invoked_[op] <= boundary && !applied_[op]) candidates_.push_back(op);
    };
    for_each_with_hash(index_.acting, Model::hash(state_), add);
    for (std::uint32_t op : index_.unhinted) {
      if (invoked_[op] > boundary) break;  // in invocation order
      add(op);
    }
    const auto non_blind_end = static_cast<std::ptrdiff_t>(candidates_.size());
    if (!after_optional()) {
      bool all = !index_.unhinted.empty();
      for (const std::uint32_t list : {kReadList, kWriteList}) {
        for (std::uint32_t e = lists_.head(list);
             !all && e != kNoEntry && !lists_.is_return(e) && lists_.time(e) <= boundary;
             e = lists_.next(e)) {
          const std::uint32_t op = lists_.op(e);
          const std::optional<SpecialState<State>>& special = special_[op];
          if (!special) {
            all = blind_[op] == 0;
          } else if (special->state == state_) {
            all = special->elsewhere == Elsewhere::kUnchanged;  // p may unblock it
          } else {
            for_each_with_hash(index_.blind, Model::hash(special->state), add);
          }
        }
      }
      for (std::uint32_t op : (all ? index_.blind_ops : index_.chained_blind)) {
        if (invoked_[op] > boundary) break;  // in invocation order
        add(op);
      }
    }
    const auto newest_first = [](std::uint32_t a, std::uint32_t b) { return a > b; };
    std::sort(candidates_.begin() + begin, candidates_.begin() + non_blind_end, newest_first);
    std::sort(candidates_.begin() + non_blind_end, candidates_.end(), newest_first);
    candidates_.erase(std::unique(candidates_.begin() + non_blind_end, candidates_.end()),
                      candidates_.end());
  }

  // The model's optional hints (see LinearizabilityModel), or what is safe without them.
  static bool hinted_read_only(const typename Model::Input& in) {
    if constexpr (requires { Model::is_read_only(in); }) return Model::is_read_only(in);
    return false;
  }
  static bool hinted_blind(const typename Model::Input& in) {
    if constexpr (requires { Model::is_blind_write(in); }) return Model::is_blind_write(in);
    return false;
  }

  void reset(std::span<const std::uint32_t> members) {
    members_.assign(members.begin(), members.end());
    reset_operations();
    reset_hints();
    remaining_required_ = required_count_;
    lists_.build(invoked_, completed_, class_);
    required_bits_.assign((required_count_ + 63) / 64, 0);
    required_hash_ = 0;
    frontier_ = 0;
    highest_ = 0;
    spent_ = 0;
    state_ = Model::init();
    named_.clear();
    cache_.reset();
    states_.reset();
    std::uint64_t compared = 0;
    memoize(state_, &compared);
    stack_.clear();
    candidates_.clear();
    best_.clear();
    best_required_ = 0;
    common_ = 0;
    steps_ = 0;
    gave_up_reason_.clear();
  }

  void reset_operations() {
    invoked_.clear();
    completed_.clear();
    class_.clear();
    slot_.clear();
    blind_.clear();
    special_.clear();
    required_count_ = 0;
    std::uint32_t optional_count = 0;
    for (std::uint32_t index : members_) {
      const Operation<Model>& op = history_[index];
      invoked_.push_back(op.invoked.nanos());
      completed_.push_back(op.completed.nanos());
      const bool read_only = hinted_read_only(op.input);
      blind_.push_back(hinted_blind(op.input) ? 1 : 0);
      if (op.completed != Instant::max()) {
        class_.push_back(read_only ? OpClass::kRequiredReadOnly : OpClass::kRequired);
      } else if (op.output) {
        class_.push_back(OpClass::kOptional);
      } else {
        class_.push_back(read_only       ? OpClass::kOmitted
                         : blind_.back() ? OpClass::kBlindWrite
                                         : OpClass::kOptional);
      }
      slot_.push_back(is_required(static_cast<std::uint32_t>(class_.size() - 1))
                          ? required_count_++
                          : optional_count++);
      special_.emplace_back();
      if constexpr (requires { Model::special_state(op.input, op.output); }) {
        special_.back() = Model::special_state(op.input, op.output);
      }
    }
    applied_.assign(members_.size(), 0);
  }

  // The indexes gather_optional() uses, and the observers of each blind write: the operations
  // not linearized yet whose special state is the one it sets. A blind write that has none left
  // can only be overwritten, refused, or commute with what follows, so which of those were spent
  // no longer matters, only how many: the memo counts them instead of naming them, when every
  // operation that is not a blind write has a hint (see SearchCache).
  void reset_hints() {
    std::vector<std::optional<std::uint64_t>>& special_hashes = scratch_special_hashes_;
    special_hashes.clear();
    effect_hash_.assign(members_.size(), 0);
    for (std::uint32_t op = 0; op < members_.size(); ++op) {
      special_hashes.emplace_back();
      if (special_[op]) special_hashes.back() = Model::hash(special_[op]->state);
      if (class_[op] != OpClass::kBlindWrite) continue;
      const std::optional<State> effect = Model::step(Model::init(), local(op).input, no_output_);
      if (effect) effect_hash_[op] = Model::hash(*effect);
    }
    index_.build(class_, blind_, special_hashes, effect_hash_);
    observers_ = index_.observers;
  }

  // Records the configuration with `state`; false when an explored one dominates it.
  bool memoize(const State& state, std::uint64_t* compared) {
    const std::uint64_t hash = Model::hash(state);
    return cache_.insert(required_set(), states_.intern(state, hash), hash, named_, spent_,
                         compared);
  }

  bool over_limit() {
    if (steps_ >= options_.max_search_steps) {
      gave_up_reason_ = "the limit of " + std::to_string(options_.max_search_steps) + " steps";
      return true;
    }
    if (cache_.bytes() + states_.bytes() > options_.max_cache_bytes) {
      gave_up_reason_ =
          "the memo cache limit of " + std::to_string(options_.max_cache_bytes) + " bytes";
      return true;
    }
    return false;
  }

  RequiredSet required_set() const {
    const auto words = static_cast<std::uint32_t>(required_bits_.size());
    const std::uint32_t base = frontier_ / 64;
    if (base >= words) return {.base_word = base, .window = {}, .hash = required_hash_};
    const std::uint32_t last = highest_ == 0 ? base : std::max(base, (highest_ - 1) / 64);
    return {.base_word = base,
            .window = std::span<const std::uint64_t>(required_bits_).subspan(base, last - base + 1),
            .hash = required_hash_};
  }

  // The first required slot at or after `from` that is not linearized.
  std::uint32_t first_unset(std::uint32_t from) const {
    std::size_t w = from / 64;
    if (w >= required_bits_.size()) return required_count_;
    std::uint64_t free = ~required_bits_[w] & (~std::uint64_t{0} << (from % 64));
    while (free == 0) {  // bounded by the number of words
      if (++w == required_bits_.size()) return required_count_;
      free = ~required_bits_[w];
    }
    const auto slot = static_cast<std::uint32_t>(w * 64 + std::countr_zero(free));
    return std::min(slot, required_count_);
  }

  // Whether a linearized optional operation is named in the memo (or only counted as spent).
  bool named(std::uint32_t op) const {
    return !index_.canonical || class_[op] != OpClass::kBlindWrite || observers_[op] > 0;
  }
  // Adds the optional operation to named_, or takes it out (named_ holds few: the non-blind and
  // the observed blind writes linearized).
  void flip_optional(std::uint32_t op) {
    const auto it = std::lower_bound(named_.begin(), named_.end(), slot_[op]);
    if (it != named_.end() && *it == slot_[op]) {
      named_.erase(it);
    } else {
      named_.insert(it, slot_[op]);
    }
  }

  void add_linearized(std::uint32_t op) {
    const std::uint32_t slot = slot_[op];
    if (!is_required(op)) {
      applied_[op] = 1;
      if (named(op)) {
        flip_optional(op);
      } else {
        ++spent_;
      }
    } else {
      required_bits_[slot / 64] |= std::uint64_t{1} << (slot % 64);
      required_hash_ ^= mix64(slot + 0x5157'4d1b'2f0c'a11bull);
      highest_ = std::max(highest_, slot + 1);
      if (slot == frontier_) frontier_ = first_unset(slot + 1);
    }
    for (const std::uint32_t p : index_.observed_by(op)) {
      if (--observers_[p] == 0 && applied_[p] && index_.canonical) {  // named, now only counted
        flip_optional(p);
        ++spent_;
      }
    }
  }

  // Undoes add_linearized(op), the latest one not undone.
  void remove_linearized(std::uint32_t op, std::uint32_t frontier, std::uint32_t highest) {
    const std::span<const std::uint32_t> observed = index_.observed_by(op);
    for (auto it = observed.rbegin(); it != observed.rend(); ++it) {
      const std::uint32_t p = *it;
      if (observers_[p]++ == 0 && applied_[p] && index_.canonical) {
        flip_optional(p);
        --spent_;
      }
    }
    const std::uint32_t slot = slot_[op];
    if (!is_required(op)) {
      applied_[op] = 0;
      if (named(op)) {
        flip_optional(op);
      } else {
        --spent_;
      }
    } else {
      required_bits_[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
      required_hash_ ^= mix64(slot + 0x5157'4d1b'2f0c'a11bull);
      frontier_ = frontier;
      highest_ = highest;
    }
  }

  // Tries the scan's candidate next.
  Move try_linearize(const Scan& scan) {
    const std::uint32_t op = op_at(scan);
    const Operation<Model>& o = local(op);
    std::optional<State> next = Model::step(state_, o.input, o.output);
    if (!next) return Move::kRefused;
    if (!is_required(op) && *next == state_) return Move::kDominated;  // as if left out
    if (after_optional()) {
      // After an optional operation p, tried from a configuration C: when `op` instead of p, or
      // `op` and then p, reaches the same state from C, that path (tried too) dominates this one.
      const Frame& top = stack_.back();
      std::optional<State> instead = Model::step(top.state, o.input, o.output);
      if (instead) {
        if (*instead == *next) return Move::kDominated;
        const Operation<Model>& p = local(op_at(top.scan));
        std::optional<State> swapped = Model::step(*instead, p.input, p.output);
        if (swapped && *swapped == *next) return Move::kDominated;
      }
    }
    const std::uint32_t frontier = frontier_;
    const std::uint32_t highest = highest_;
    add_linearized(op);
    std::uint64_t compared = 0;
    const bool fresh = memoize(*next, &compared);
    steps_ += compared;
    if (!fresh) {
      remove_linearized(op, frontier, highest);
      return Move::kDominated;
    }
    note_push(op);
    // A read that fits now can go first in any completion (moving it earlier changes no state
    // and frees later calls), so when nothing completes after it, nothing does without it.
    stack_.push_back(Frame{.scan = scan,
                           .candidates = static_cast<std::uint32_t>(candidates_.size()),
                           .forced = class_[op] == OpClass::kRequiredReadOnly,
                           .frontier = frontier,
                           .highest = highest,
                           .state = std::move(state_)});
    state_ = std::move(*next);
    if (scan.list != kOptionalPhase) lists_.lift(scan.entry);
    if (is_required(op)) --remaining_required_;
    return Move::kTaken;
  }

  // Undoes the latest linearization; returns where the scan of the configuration before it goes
  // on (nowhere when that move was forced).
  Scan undo() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    common_ = std::min(common_, stack_.size());
    const std::uint32_t op = op_at(frame.scan);
    if (frame.scan.list != kOptionalPhase) lists_.unlift(frame.scan.entry);
    remove_linearized(op, frame.frontier, frame.highest);
    if (is_required(op)) ++remaining_required_;
    state_ = std::move(frame.state);
    Scan scan = frame.scan;
    candidates_.resize(frame.candidates);
    if (frame.forced) {
      scan.list = kOptionalPhase;
      scan.entry = scan.end = 0;
    } else {
      advance(scan);
    }
    return scan;
  }

  // Keeps best_, the first linearized sequence seen with the most required operations, in
  // amortised O(1) per push: common_ is the length of the stack's prefix known to equal best_'s.
  void note_push(std::uint32_t op) {
    const std::size_t depth = stack_.size();
    if (common_ == depth && depth < best_.size() && best_[depth] == op) ++common_;
    const std::size_t required = required_count_ - remaining_required_ + (is_required(op) ? 1 : 0);
    if (required > best_required_) {
      best_required_ = required;
      best_.resize(common_);
      for (std::size_t i = common_; i < depth; ++i) best_.push_back(op_at(stack_[i].scan));
      best_.push_back(op);
      common_ = depth + 1;
    }
  }

  std::span<const Operation<Model>> history_;
  LinearizabilityOptions options_;
  const std::optional<typename Model::Output> no_output_;
  // Per partition operation, in (invoked, index) order.
  std::vector<std::uint32_t> members_;  // index in the history
  std::vector<std::int64_t> invoked_;
  std::vector<std::int64_t> completed_;
  std::vector<OpClass> class_;
  std::vector<std::uint32_t> slot_;  // index among the required, or among the optional
  std::vector<std::uint8_t> blind_;  // the model's hints (see LinearizabilityModel)
  std::vector<std::optional<SpecialState<State>>> special_;
  std::uint32_t required_count_ = 0;
  std::size_t remaining_required_ = 0;
  EntryLists lists_;
  OptionalIndex index_;
  std::vector<std::uint64_t> effect_hash_;  // blind writes: the hash of the state they set
  std::vector<std::optional<std::uint64_t>> scratch_special_hashes_;
  std::vector<std::uint32_t> observers_;  // blind writes: see reset_hints()
  // The configuration: linearized operations and the state.
  std::vector<std::uint64_t> required_bits_;  // by slot
  std::vector<std::uint32_t> named_;          // sorted slots of the named optional ones
  std::vector<std::uint8_t> applied_;         // by op: linearized optional operations
  std::uint32_t spent_ = 0;                   // linearized optional operations not named
  std::uint64_t required_hash_ = 0;           // of required_bits_
  std::uint32_t frontier_ = 0;                // the first required slot not linearized
  std::uint32_t highest_ = 0;                 // 1 + the highest required slot linearized
  State state_ = Model::init();
  SearchCache cache_;
  StateTable<State> states_;
  std::vector<Frame> stack_;
  std::vector<std::uint32_t> candidates_;  // optional candidates of the configurations on stack_
  std::vector<std::uint32_t> best_;        // partition-local operation indices
  std::size_t best_required_ = 0;
  std::size_t common_ = 0;
  std::uint64_t steps_ = 0;
  std::string gave_up_reason_;
};

}  // namespace detail
}  // namespace smalti::sim
