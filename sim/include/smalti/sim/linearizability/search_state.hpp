// Internal to the linearizability checker (partition_search.hpp): the data structures one
// partition's search keeps, namely the real-time lists of its required operations, the memo of
// explored configurations, the table of the states met and the index of its optional operations.
// Nothing here knows the model.
//
// Thread-safety: none; each search owns its own.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace smalti::sim {
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

}  // namespace detail
}  // namespace smalti::sim
