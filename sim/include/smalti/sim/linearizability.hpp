// Linearizability checking of operation histories recorded in the simulator.
//
// A history is a list of operations, each with the client that issued it, when it was invoked,
// when it completed and what it returned. check_linearizability() decides whether some total
// order of the operations (a) respects real time: an operation that completed before another was
// invoked comes first, and (b) is a legal sequential run of a Model. Operations whose intervals
// overlap, or merely touch (a.completed == b.invoked), are concurrent and may go in either order.
//
// An operation whose outcome is unknown (a timeout, a crashed client) has completed ==
// Instant::max(): it may take effect at any point after its invocation, or never. An empty output
// with a finite completion means the operation did take effect within its interval but what it
// returned was not recorded; the model then accepts any output.
//
// The search is Wing & Gong's with Lowe's memo of (linearized operations, state), run on each
// partition the model names separately (P-compositionality), as in Porcupine and Knossos. As
// unknown-outcome operations make it exponential in their number, moves that others provably
// cover are skipped: completed operations are tried first; a completed read-only one that fits is
// placed without alternatives; an unknown-outcome operation is never placed where it changes
// nothing, nor where the next operation gets as far without it or before it; and an explored
// configuration with a subset of the unknown-outcome operations covers this one. The model's
// optional hints (read-only operations, blind writes, special states) decide most of that without a
// model step.
//
// Bounded: each partition's search stops after LinearizabilityOptions::max_search_steps search
// steps (model steps, memo comparisons, candidates considered), or when its memo grows past
// max_cache_bytes, and the verdict is then kGaveUp. Deterministic: the verdict and the
// explanation depend only on the history's contents and order, never on pointer values or on the
// iteration order of a hash table. Partitions are checked in ascending key order and the first
// one that is not linearizable is reported.
//
// Thread-safety: the functions are pure and keep no state between calls; concurrent calls are safe.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smalti/base/assert.hpp"
#include "smalti/base/time.hpp"

namespace smalti::sim {

// Search steps one partition may take before it gives up (a step takes some tens of ns).
inline constexpr std::uint64_t kMaxSearchSteps = 20'000'000;
// Memory one partition's memo cache may use before the search gives up.
inline constexpr std::uint64_t kMaxSearchCacheBytes = std::uint64_t{512} << 20;
// Operations a report lists, per list (the end of the prefix, the operations left unplaced).
inline constexpr std::size_t kMaxExplainedOperations = 20;

// A sequential specification. State is the state of one partition: every partition starts from
// init(). step() returns the state after `input` when, in `state`, the operation could have
// returned `output`, and nothing when it could not; with no output, any output is allowed and it
// returns the state after applying the operation. Models are deterministic (one next state).
// hash() must agree with ==.
//
// Optional hooks, which make unknown-outcome operations much cheaper to search:
//   static bool is_read_only(const Input&)
//     step(s, input, output) is s or refused, for every s and output.
//   static bool is_blind_write(const Input&)
//     step(s, input, output) does not depend on s (the same state, or refused, in every state).
//   static std::optional<SpecialState<State>> special_state(const Input&,
//                                                          const std::optional<Output>&)
//     A state in which the operation (with this output) may behave unlike in all the others,
//     and what it does in all the others: be refused, or leave the state unchanged. Empty when
//     the operation is not of that shape.
//   static std::string describe_state(const State&)
//     Reports show the state after the longest linearizable prefix.
template <typename M>
concept LinearizabilityModel = std::copyable<typename M::State> &&
    std::equality_comparable<typename M::State> && std::copyable<typename M::Input> &&
    std::copyable<typename M::Output> &&
    requires(const typename M::State& state, const typename M::Input& input,
             const std::optional<typename M::Output>& output) {
  { M::init() } -> std::same_as<typename M::State>;
  { M::step(state, input, output) } -> std::same_as<std::optional<typename M::State>>;
  { M::hash(state) } -> std::same_as<std::uint64_t>;
  { M::partition(input) } -> std::same_as<std::uint64_t>;
  { M::describe(input, output) } -> std::same_as<std::string>;
};

// What an operation does in every state but its special one (see special_state above).
enum class Elsewhere : std::uint8_t { kRefused, kUnchanged };
template <typename State>
struct SpecialState {
  State state;
  Elsewhere elsewhere = Elsewhere::kRefused;
};

// One entry of a history. Requires invoked <= completed.
template <typename Model>
struct Operation {
  std::uint64_t client = 0;
  Instant invoked;
  Instant completed = Instant::max();  // max(): outcome unknown (timed out, crashed)
  typename Model::Input input{};
  std::optional<typename Model::Output> output;  // empty when unknown
};

template <typename Model>
using History = std::vector<Operation<Model>>;

struct LinearizabilityOptions {
  std::uint64_t max_search_steps = kMaxSearchSteps;      // per partition
  std::uint64_t max_cache_bytes = kMaxSearchCacheBytes;  // per partition
};

struct LinearizabilityResult {
  enum class Verdict : std::uint8_t { kLinearizable, kNotLinearizable, kGaveUp };
  Verdict verdict = Verdict::kLinearizable;
  // The partition reported on when the verdict is not kLinearizable; 0 otherwise.
  std::uint64_t partition = 0;
  // For a violation: the partition key, the longest linearizable prefix found, the state after
  // it (when the model can describe states) and the operations that could not be placed next.
  std::string explanation;
  std::uint64_t search_steps = 0;      // over all partitions checked
  std::size_t partitions_checked = 0;  // a violation stops the check early

  bool linearizable() const { return verdict == Verdict::kLinearizable; }
};

// "linearizable", "not linearizable", "gave up".
std::string_view verdict_name(LinearizabilityResult::Verdict verdict);

// KvModel: a map from 64-bit keys to 64-bit values, checked one key at a time.
//
// Value 0 means absent: a get of a missing key returns 0 and put(k, 0) deletes k. The output is
// one word: get returns the value read; cas returns 1 when it swapped and 0 when it did not; a
// put's output is ignored. partition() is the key, so State is the value of a single key.
struct KvInput {
  enum class Kind : std::uint8_t { kPut, kGet, kCas };
  Kind kind = Kind::kGet;
  std::uint64_t key = 0;
  std::uint64_t value = 0;     // kPut: the value written; kCas: the value swapped in
  std::uint64_t expected = 0;  // kCas: the value that must be present for the swap
};

struct KvModel {
  using Input = KvInput;
  using Output = std::uint64_t;
  using State = std::uint64_t;

  static Input put(std::uint64_t key, std::uint64_t value) {
    return {Input::Kind::kPut, key, value};
  }
  static Input get(std::uint64_t key) { return {Input::Kind::kGet, key}; }
  static Input cas(std::uint64_t key, std::uint64_t expected, std::uint64_t value) {
    return {Input::Kind::kCas, key, value, expected};
  }

  static State init() { return 0; }
  static std::optional<State> step(const State& state, const Input& input,
                                   const std::optional<Output>& output) {
    switch (input.kind) {
      case Input::Kind::kPut:
        return input.value;
      case Input::Kind::kGet:
        if (output && *output != state) return std::nullopt;
        return state;
      case Input::Kind::kCas: {
        const bool swaps = state == input.expected;
        if (output && *output != (swaps ? 1u : 0u)) return std::nullopt;
        return swaps ? input.value : state;
      }
    }
    return std::nullopt;
  }
  static std::uint64_t hash(const State& state) { return state; }
  static std::uint64_t partition(const Input& input) { return input.key; }
  static bool is_read_only(const Input& input) { return input.kind == Input::Kind::kGet; }
  static bool is_blind_write(const Input& input) { return input.kind == Input::Kind::kPut; }
  // A get is refused unless it read the value; a cas acts, or is refused, at its expected value
  // only; a put is a blind write.
  static std::optional<SpecialState<State>> special_state(const Input& input,
                                                          const std::optional<Output>& output);
  // "put(3, 7)", "delete(3)", "get(3) -> 7", "get(3) -> absent", "cas(3, 7 -> 8) -> ok", "... ->
  // ?".
  static std::string describe(const Input& input, const std::optional<Output>& output);
  // "7" or "absent".
  static std::string describe_state(const State& state);
};

namespace detail {

// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit word.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline constexpr std::uint32_t kNoEntry = UINT32_MAX;

// How the search treats an operation; the first two name the list its entries are in.
enum class OpClass : std::uint8_t {
  kRequired,          // completed: linearized within its interval
  kRequiredReadOnly,  // kRequired, and read-only
  kOptional,          // outcome unknown: linearized after its invocation, or never
  kBlindWrite,        // kOptional, and a blind write with no output
  kOmitted,           // kOptional, and read-only with no output: the same as leaving it out
};

// The real-time skeleton of one partition's required operations, as doubly linked lists of their
// calls and returns in time order, calls before returns at equal times (Wing & Gong): one list
// per required OpClass. Linearizing an operation lifts its entries out; undoing that, in reverse
// order, puts them back. Entries 0 and 1 are the heads of the lists; kNoEntry ends a list.
class EntryLists {
 public:
  static constexpr std::uint32_t kLists = 2;

  // Requires one element per operation in each span and invoked[i] <= completed[i].
  void build(std::span<const std::int64_t> invoked, std::span<const std::int64_t> completed,
             std::span<const OpClass> classes);

  std::uint32_t head(std::uint32_t list) const { return next_[list]; }
  std::uint32_t next(std::uint32_t entry) const { return next_[entry]; }
  std::uint32_t op(std::uint32_t entry) const { return entries_[entry].op; }
  std::int64_t time(std::uint32_t entry) const { return entries_[entry].time; }
  bool is_return(std::uint32_t entry) const { return entries_[entry].is_return; }

  // The time of the first return still in `list`, or INT64_MAX. Walks the calls before it.
  std::int64_t first_return_time(std::uint32_t list) const;

  // `call` is a call entry still in its list.
  void lift(std::uint32_t call) {
    unlink(call);
    unlink(entries_[call].match);
  }
  // Undoes the latest lift() not yet undone, which was of `call`.
  void unlift(std::uint32_t call) {
    relink(entries_[call].match);
    relink(call);
  }

 private:
  struct Entry {
    std::int64_t time = 0;
    std::uint32_t op = 0;
    std::uint32_t match = kNoEntry;  // a call's return entry
    bool is_return = false;
  };
  void unlink(std::uint32_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kNoEntry) prev_[next_[e]] = prev_[e];
  }
  void relink(std::uint32_t e) {
    next_[prev_[e]] = e;
    if (next_[e] != kNoEntry) prev_[next_[e]] = e;
  }

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> next_;
  std::vector<std::uint32_t> prev_;
  std::vector<std::uint32_t> call_of_;  // build() scratch: each operation's call entry
};

// A set of required operations (by slot, in invocation order): every slot below 64 * base_word,
// and the bits of `window` from there on. base_word is the frontier's word and the window ends at
// the highest member's, so the form is canonical and as long as the concurrency, not the history.
struct RequiredSet {
  std::uint32_t base_word = 0;
  std::span<const std::uint64_t> window;
  std::uint64_t hash = 0;  // of the set, however represented
};

// Lowe's memo, extended to operations that may be left out. A configuration is the set R of
// required operations linearized, the set O of optional ones linearized, and the state. An
// explored (R, O', s) with O' a subset of O dominates (R, O, s): every way to finish from the
// latter also finishes from the former, because optional operations never complete and so never
// hold back another operation. O is given as the set of operations it names plus a count of
// interchangeable ones it does not (`spent`, see PartitionSearch::reset_hints()): O' is a subset
// when its named set is and its count is not larger. For each (R, s) the cache keeps the minimal
// O explored (an antichain). The table is open-addressed by the hashes of R and of the state.
// Only membership is ever asked, so the table's order never reaches any output.
class SearchCache {
 public:
  void reset();
  // Records the configuration (`state` is an id from a StateTable, `named` is sorted); false
  // when an explored one dominates (or equals) it. Adds the memo entries compared to *compared.
  bool insert(const RequiredSet& required, std::uint32_t state, std::uint64_t state_hash,
              std::span<const std::uint32_t> named, std::uint32_t spent, std::uint64_t* compared);
  std::uint64_t bytes() const;

 private:
  // One per (R, s).
  struct Entry {
    std::uint64_t hash = 0;
    std::size_t window_at = 0;  // in windows_
    std::uint32_t window_words = 0;
    std::uint32_t base_word = 0;
    std::uint32_t state = 0;
    std::uint32_t first = kNoEntry;  // the first node of the antichain
  };
  // One per member of an antichain.
  struct Node {
    std::size_t named_at = 0;  // in named_sets_
    std::uint32_t named_size = 0;
    std::uint32_t spent = 0;
    std::uint32_t next = kNoEntry;  // the next node of the same entry
  };

  bool same_key(const Entry& entry, std::uint64_t hash, const RequiredSet& required,
                std::uint32_t state) const;
  std::uint32_t add_node(std::span<const std::uint32_t> named, std::uint32_t spent,
                         std::uint32_t next);
  bool add_if_minimal(Entry& entry, std::span<const std::uint32_t> named, std::uint32_t spent,
                      std::uint64_t* compared);
  void grow();

  std::vector<std::uint32_t> table_;  // 0: empty; otherwise an entry index + 1
  std::vector<Entry> entries_;
  std::vector<std::uint64_t> windows_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> named_sets_;
};

// The distinct states a search has met, each stored once and named by a dense id.
template <typename State>
class StateTable {
 public:
  void reset() {
    states_.clear();
    hashes_.clear();
    table_.assign(64, 0);
  }
  std::uint32_t intern(const State& state, std::uint64_t hash) {
    if ((states_.size() + 1) * 2 > table_.size()) grow();
    const std::size_t mask = table_.size() - 1;
    // Terminates: the table is at most half full.
    for (std::size_t i = mix64(hash) & mask;; i = (i + 1) & mask) {
      if (table_[i] == 0) {
        states_.push_back(state);
        hashes_.push_back(hash);
        table_[i] = static_cast<std::uint32_t>(states_.size());
        return table_[i] - 1;
      }
      const std::uint32_t id = table_[i] - 1;
      if (hashes_[id] == hash && states_[id] == state) return id;
    }
  }
  std::uint64_t bytes() const {
    return table_.size() * sizeof(std::uint32_t) + states_.size() * (sizeof(State) + 8);
  }

 private:
  void grow() {
    table_.assign(table_.size() * 2, 0);
    const std::size_t mask = table_.size() - 1;
    for (std::uint32_t id = 0; id < states_.size(); ++id) {
      std::size_t i = mix64(hashes_[id]) & mask;
      while (table_[i] != 0) i = (i + 1) & mask;  // at most half full
      table_[i] = id + 1;
    }
  }

  std::vector<std::uint32_t> table_;  // 0: empty; otherwise an id + 1
  std::vector<State> states_;
  std::vector<std::uint64_t> hashes_;
};

// The optional operations of one partition, indexed by the states they react to, and who
// observes each blind write (see PartitionSearch::reset_hints()). Built from each operation's
// class, hints and hashes, without the model.
struct OptionalIndex {
  // One element per operation in each span; effect_hashes: for blind writes, of the state set.
  void build(std::span<const OpClass> classes, std::span<const std::uint8_t> blind,
             std::span<const std::optional<std::uint64_t>> special_hashes,
             std::span<const std::uint64_t> effect_hashes);
  std::span<const std::uint32_t> observed_by(std::uint32_t op) const {
    return std::span<const std::uint32_t>(observed).subspan(
        observed_begin[op], observed_begin[op + 1] - observed_begin[op]);
  }

  // (hash of the special state, op) of the hinted non-blind optional operations, and (hash of
  // the state set, op) of the blind writes, sorted.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> acting;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> blind;
  // In invocation order: the unhinted non-blind optional operations, the blind writes whose
  // state is some non-blind one's special state, and all the blind writes.
  std::vector<std::uint32_t> unhinted;
  std::vector<std::uint32_t> chained_blind;
  std::vector<std::uint32_t> blind_ops;
  // For each blind write, how many operations have (by hash) the special state it sets; and for
  // each operation, the blind writes it so observes, from observed[observed_begin[op]].
  std::vector<std::uint32_t> observers;
  std::vector<std::uint32_t> observed;
  std::vector<std::uint32_t> observed_begin;
  bool canonical = true;  // every operation but the blind writes has a special state
};

// Calls fn(op) for every op of a (hash, op) index sorted by hash whose hash is `hash`.
template <typename Fn>
void for_each_with_hash(std::span<const std::pair<std::uint64_t, std::uint32_t>> index,
                        std::uint64_t hash, Fn&& fn) {
  auto it = std::lower_bound(index.begin(), index.end(), std::pair(hash, std::uint32_t{0}));
  for (; it != index.end() && it->first == hash; ++it) fn(it->second);
}

enum class SearchOutcome : std::uint8_t { kLinearizable, kNotLinearizable, kGaveUp };

// One operation as a report shows it.
struct ReportedOperation {
  std::size_t index = 0;  // in the history
  std::uint64_t client = 0;
  Instant invoked;
  Instant completed;
  std::string text;  // Model::describe()
};

struct PartitionReport {
  std::uint64_t partition = 0;
  SearchOutcome outcome = SearchOutcome::kLinearizable;
  std::string gave_up_reason;  // which limit, for kGaveUp
  std::size_t operations = 0;
  std::uint64_t steps = 0;
  std::size_t prefix_length = 0;
  std::vector<ReportedOperation> prefix_tail;  // the last operations of the prefix, in order
  std::optional<std::string> state_after_prefix;
  std::size_t unplaced_count = 0;
  std::size_t unplaced_unknown = 0;         // of those, the ones of unknown outcome
  std::vector<ReportedOperation> unplaced;  // the first operations that could come next
};

std::string format_report(const PartitionReport& report);
// The operations not placed that could come next: those invoked by the first completion of one
// not placed (but the omitted ones); the required ones first, each kind in order.
std::vector<std::uint32_t> next_candidates(const std::vector<bool>& placed,
                                           std::span<const std::int64_t> invoked,
                                           std::span<const std::int64_t> completed,
                                           std::span<const OpClass> classes);

// An operation's place in the check: its partition, then invocation order.
struct PartitionMember {
  std::uint64_t partition = 0;
  std::int64_t invoked = 0;
  std::uint32_t index = 0;  // in the history
};
// Runs check_partition on each partition's history indices, in (invoked, index) order, in
// ascending partition order, and assembles the result. check_partition returns the outcome and
// its search steps, and fills the report when the outcome is not kLinearizable.
LinearizabilityResult check_partitions(
    std::vector<PartitionMember> members,
    const std::function<std::pair<SearchOutcome, std::uint64_t>(
        std::span<const std::uint32_t>, std::uint64_t, PartitionReport*)>& check_partition);

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

// Checks the whole history, partition by partition in ascending key order. Returns the first
// partition that is not linearizable; failing that, the first that gave up (with a count of those
// that did); failing that, kLinearizable. Requires invoked <= completed for every operation.
template <LinearizabilityModel Model>
LinearizabilityResult check_linearizability(std::span<const Operation<Model>> history,
                                            const LinearizabilityOptions& options = {}) {
  SMALTI_ASSERT(history.size() < detail::kNoEntry / 2, "history too long for 32-bit indices");
  std::vector<detail::PartitionMember> members;
  members.reserve(history.size());
  for (std::size_t i = 0; i < history.size(); ++i) {
    SMALTI_ASSERT(history[i].invoked <= history[i].completed,
                  "an operation completes before it starts");
    members.push_back({Model::partition(history[i].input), history[i].invoked.nanos(),
                       static_cast<std::uint32_t>(i)});
  }
  detail::PartitionSearch<Model> search(history, options);
  return detail::check_partitions(
      std::move(members), [&search](std::span<const std::uint32_t> indices, std::uint64_t partition,
                                    detail::PartitionReport* report) {
        const detail::SearchOutcome outcome = search.run(indices);
        if (outcome != detail::SearchOutcome::kLinearizable) {
          *report = search.report(partition, outcome);
        }
        return std::pair(outcome, search.steps());
      });
}

template <LinearizabilityModel Model>
LinearizabilityResult check_linearizability(const History<Model>& history,
                                            const LinearizabilityOptions& options = {}) {
  return check_linearizability<Model>(std::span<const Operation<Model>>(history), options);
}

}  // namespace smalti::sim
