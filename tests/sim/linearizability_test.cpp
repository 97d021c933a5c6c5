// Linearizability checker: hand-written histories with known verdicts (real-time order, unknown
// outcomes, partitions, the search bounds, reports), a second model, agreement with an exhaustive
// search on tiny random histories (with and without the model's hints), and randomized histories
// generated from a truly linearizable register, which must pass, and then fail once one read is
// corrupted.
#include "smalti/sim/linearizability.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "smalti/base/rng.hpp"

namespace smalti::sim {
namespace {

using Op = Operation<KvModel>;
using Verdict = LinearizabilityResult::Verdict;

Instant at_ms(std::int64_t ms) {
  return Instant() + std::chrono::milliseconds(ms);
}

// An operation that completed at `to_ms`; `output` empty when it was not recorded.
Op done(std::uint64_t client, std::int64_t from_ms, std::int64_t to_ms, KvInput input,
        std::optional<std::uint64_t> output = std::nullopt) {
  return {.client = client,
          .invoked = at_ms(from_ms),
          .completed = at_ms(to_ms),
          .input = input,
          .output = output};
}

// An operation whose outcome is unknown (timed out, or its client crashed).
Op pending(std::uint64_t client, std::int64_t from_ms, KvInput input) {
  return {.client = client, .invoked = at_ms(from_ms), .completed = Instant::max(), .input = input};
}

Verdict verdict_of(const History<KvModel>& history) {
  return check_linearizability(history).verdict;
}

TEST(Linearizability, EmptyHistoryIsLinearizable) {
  const LinearizabilityResult result = check_linearizability(History<KvModel>{});
  EXPECT_TRUE(result.linearizable());
  EXPECT_EQ(result.partitions_checked, 0u);
}

TEST(Linearizability, SequentialHistoryIsLinearizable) {
  const History<KvModel> history = {
      done(1, 0, 10, KvModel::get(1), 0),    done(1, 20, 30, KvModel::put(1, 5)),
      done(2, 40, 50, KvModel::get(1), 5),   done(2, 60, 70, KvModel::put(1, 0)),
      done(1, 80, 90, KvModel::get(1), 0),   done(2, 100, 110, KvModel::cas(1, 0, 8), 1),
      done(1, 120, 130, KvModel::get(1), 8),
  };
  const LinearizabilityResult result = check_linearizability(history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  EXPECT_EQ(result.partitions_checked, 1u);
  EXPECT_NE(result.explanation.find("linearizable: 7 operations in 1 partition"), std::string::npos)
      << result.explanation;
}

TEST(Linearizability, OverlappingWritesLinearizableOnlyInTheOrderTheReadsForce) {
  // put(1) and put(2) overlap; the later read of 1 forces put(2) first.
  History<KvModel> history = {
      done(1, 0, 100, KvModel::put(1, 1)),
      done(2, 10, 90, KvModel::put(1, 2)),
      done(3, 110, 120, KvModel::get(1), 1),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
  // Then reading 2 needs the other order: no single order explains both reads.
  history.push_back(done(3, 130, 140, KvModel::get(1), 2));
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, RealTimeOrderIsEnforcedEvenWhenSomeSequentialOrderWorks) {
  // put(2), put(1), get -> 1 is a legal sequential run, but put(1) completed before put(2) began.
  const History<KvModel> history = {
      done(1, 0, 10, KvModel::put(1, 1)),
      done(1, 20, 30, KvModel::put(1, 2)),
      done(2, 40, 50, KvModel::get(1), 1),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, OperationsThatTouchAreConcurrent) {
  History<KvModel> history = {done(1, 0, 10, KvModel::put(1, 1)),
                              done(2, 10, 20, KvModel::get(1), 0)};
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
  history[1].invoked = at_ms(11);
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, StaleReadAfterCompletedWriteIsRejectedWithAnExplanation) {
  const History<KvModel> history = {
      done(1, 0, 10, KvModel::put(7, 1)),
      done(2, 20, 30, KvModel::get(7), 0),
  };
  const LinearizabilityResult result = check_linearizability(history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(verdict_name(result.verdict), "not linearizable");
  EXPECT_EQ(result.partition, 7u);
  const std::string& why = result.explanation;
  EXPECT_EQ(why.rfind("partition 7: not linearizable (2 operations", 0), 0u) << why;
  EXPECT_NE(why.find("longest linearizable prefix: 1 of 2 operations\n"
                     "  #0 client 1 [0ns, 10.000ms] put(7, 1)\n"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("state after the prefix: 1\n"), std::string::npos) << why;
  EXPECT_NE(why.find("none of these can be placed next (1 operation):\n"
                     "  #1 client 2 [20.000ms, 30.000ms] get(7) -> absent\n"),
            std::string::npos)
      << why;
}

TEST(Linearizability, LongPrefixesAreShortenedInReports) {
  History<KvModel> history;
  for (std::int64_t i = 0; i < 30; ++i) {
    history.push_back(
        done(1, 10 * i, 10 * i + 5, KvModel::put(1, static_cast<std::uint64_t>(i + 1))));
  }
  history.push_back(done(2, 1000, 1005, KvModel::get(1), 3));
  const LinearizabilityResult result = check_linearizability(history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(result.explanation.find("longest linearizable prefix: 30 of 31 operations\n"
                                    "  ... 10 earlier operations\n"
                                    "  #10 client 1"),
            std::string::npos)
      << result.explanation;
  EXPECT_NE(result.explanation.find("#29 client 1 [290.000ms, 295.000ms] put(1, 30)\n"),
            std::string::npos);
}

TEST(Linearizability, UnknownOutcomeWriteMayOrMayNotTakeEffect) {
  const Op write = pending(1, 10, KvModel::put(1, 5));
  EXPECT_EQ(verdict_of({write, done(2, 20, 30, KvModel::get(1), 5)}), Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({write, done(2, 20, 30, KvModel::get(1), 0)}), Verdict::kLinearizable);
  // It may take effect long after it was issued...
  EXPECT_EQ(verdict_of({write, done(2, 20, 30, KvModel::get(1), 0),
                        done(2, 1000, 1010, KvModel::get(1), 5)}),
            Verdict::kLinearizable);
  // ...but once seen it stays, and it cannot take effect before it was issued.
  EXPECT_EQ(
      verdict_of({write, done(2, 20, 30, KvModel::get(1), 5), done(2, 40, 50, KvModel::get(1), 0)}),
      Verdict::kNotLinearizable);
  EXPECT_EQ(verdict_of({done(2, 0, 5, KvModel::get(1), 5), write}), Verdict::kNotLinearizable);
}

TEST(Linearizability, ReadOfAValueNeverWrittenIsRejected) {
  const History<KvModel> history = {
      pending(1, 10, KvModel::put(1, 5)),
      done(2, 0, 100, KvModel::put(1, 6)),
      done(3, 20, 30, KvModel::get(1), 9),
  };
  const LinearizabilityResult result = check_linearizability(history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  // The completed read is listed before the write of unknown outcome.
  EXPECT_NE(result.explanation.find("none of these can be placed next (2 operations, 1 of unknown "
                                    "outcome):\n  #2 client 3 [20.000ms, 30.000ms] get(1) -> 9\n"
                                    "  #0 client 1 [10.000ms, outcome unknown] put(1, 5)\n"),
            std::string::npos)
      << result.explanation;
}

TEST(Linearizability, UnknownOutcomeOperationsCanChain) {
  // A lost put of 5 and a lost cas of 5 to 6: a read of 6 needs both, in that order.
  History<KvModel> history = {
      pending(1, 0, KvModel::put(1, 5)),
      pending(2, 10, KvModel::cas(1, 5, 6)),
      done(3, 20, 30, KvModel::get(1), 6),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
  history[0].input = KvModel::put(1, 4);
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, ALostWriteCanExplainAFailedCompareAndSwap) {
  // The value is 5 when the cas expecting 5 says it failed: only the lost put of 7 explains it.
  History<KvModel> history = {
      done(1, 0, 10, KvModel::put(1, 5)),
      pending(2, 20, KvModel::put(1, 7)),
      done(3, 30, 40, KvModel::cas(1, 5, 9), 0),
      done(3, 50, 60, KvModel::get(1), 7),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
  history.erase(history.begin() + 1);
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, LostWritesAreNotInterchangeableWhileAReadStillNeedsOne) {
  // Either lost write explains the failed cas, but only the put of 1 may be spent on it: the
  // read of 2 needs the other. (Found by the exhaustive comparison below.)
  const History<KvModel> history = {
      pending(1, 2, KvModel::put(1, 1)),   done(0, 1, 4, KvModel::cas(1, 0, 0), 0),
      pending(1, 4, KvModel::put(1, 2)),   done(1, 9, 14, KvModel::put(1, 1)),
      done(1, 13, 21, KvModel::put(1, 0)), done(1, 14, 16, KvModel::put(1, 3)),
      done(2, 18, 24, KvModel::get(1), 2), done(1, 20, 25, KvModel::get(1), 0),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
}

TEST(Linearizability, UnrecordedOutputWithAKnownCompletionMustTakeEffect) {
  // A cas whose reply was lost but which is known to have completed: in state 0 it swaps.
  History<KvModel> history = {
      done(1, 0, 10, KvModel::cas(1, 0, 5)),
      done(2, 20, 30, KvModel::get(1), 0),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
  history[0].completed = Instant::max();  // outcome unknown: it may never have happened
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
}

TEST(Linearizability, CompareAndSwapMustReportWhetherItSwapped) {
  History<KvModel> history = {
      done(1, 0, 10, KvModel::cas(1, 0, 5), 1),
      done(2, 20, 30, KvModel::cas(1, 0, 7), 0),
      done(1, 40, 50, KvModel::get(1), 5),
  };
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
  history[1].output = 1;
  EXPECT_EQ(verdict_of(history), Verdict::kNotLinearizable);
}

TEST(Linearizability, OnlyTheBadPartitionIsReportedAndTheLowestKeyFirst) {
  History<KvModel> history;
  for (std::uint64_t key = 5; key >= 1; --key) {
    const bool bad = key == 3 || key == 5;
    history.push_back(done(key, 0, 10, KvModel::put(key, key * 10)));
    history.push_back(done(key, 20, 30, KvModel::get(key), bad ? 0 : key * 10));
  }
  const LinearizabilityResult result = check_linearizability(history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.partition, 3u);
  EXPECT_EQ(result.partitions_checked, 3u);  // keys 1, 2 and 3: the check stops at a violation
  EXPECT_EQ(result.explanation.rfind("partition 3: not linearizable", 0), 0u) << result.explanation;
  EXPECT_EQ(result.explanation.find("put(5"), std::string::npos) << result.explanation;
}

// Ten concurrent writes, ten concurrent reads each of a different one of them, and then a read
// nobody wrote: the search must try many orders of the writes before it can say no (about 60,000
// steps).
History<KvModel> exponential_history() {
  History<KvModel> history;
  for (std::uint64_t i = 1; i <= 10; ++i) {
    history.push_back(done(i, 0, 100, KvModel::put(4, i)));
    history.push_back(done(100 + i, 0, 100, KvModel::get(4), i));
  }
  history.push_back(done(99, 200, 210, KvModel::get(4), 999));
  return history;
}

TEST(Linearizability, TheSearchBoundGivesUpInsteadOfHanging) {
  const LinearizabilityResult result =
      check_linearizability(exponential_history(), {.max_search_steps = 1000});
  ASSERT_EQ(result.verdict, Verdict::kGaveUp) << result.explanation;
  EXPECT_EQ(result.partition, 4u);
  EXPECT_GE(result.search_steps, 1000u);
  EXPECT_LT(result.search_steps, 1100u);
  EXPECT_NE(result.explanation.find("partition 4: gave up at the limit of 1000 steps"),
            std::string::npos)
      << result.explanation;

  const LinearizabilityResult unbounded = check_linearizability(exponential_history());
  EXPECT_EQ(unbounded.verdict, Verdict::kNotLinearizable) << unbounded.explanation;
  EXPECT_GT(unbounded.search_steps, 1000u);
}

TEST(Linearizability, ManyUnknownOutcomeWritesDoNotMakeTheSearchExponential) {
  // Forty writes that may or may not have happened, each followed by a write and a read that did
  // not see it, and finally a read nobody wrote. Lowe's memo alone would explore every subset of
  // the forty; the dominance rules and KvModel's hints keep it to a few steps per operation.
  History<KvModel> history;
  for (std::uint64_t i = 1; i <= 40; ++i) {
    const auto t = static_cast<std::int64_t>(i) * 100;
    history.push_back(pending(i, t, KvModel::put(4, i)));
    history.push_back(done(100 + i, t + 10, t + 20, KvModel::put(4, 1000 + i)));
    history.push_back(done(200 + i, t + 30, t + 40, KvModel::get(4), 1000 + i));
  }
  history.push_back(done(99, 10'000, 10'010, KvModel::get(4), 999));
  const LinearizabilityResult result = check_linearizability(history);
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable) << result.explanation;
  EXPECT_LT(result.search_steps, 1'000u);
  history.pop_back();
  EXPECT_EQ(verdict_of(history), Verdict::kLinearizable);
}

TEST(Linearizability, TheCacheBoundGivesUpToo) {
  const LinearizabilityResult result =
      check_linearizability(exponential_history(), {.max_cache_bytes = 4096});
  ASSERT_EQ(result.verdict, Verdict::kGaveUp);
  EXPECT_NE(result.explanation.find("memo cache limit of 4096 bytes"), std::string::npos)
      << result.explanation;
}

TEST(Linearizability, AViolationElsewhereOutranksAPartitionThatGaveUp) {
  History<KvModel> history = exponential_history();  // key 4: gives up under the bound
  history.push_back(done(1, 0, 10, KvModel::put(9, 1)));
  history.push_back(done(2, 20, 30, KvModel::get(9), 0));
  const LinearizabilityResult result = check_linearizability(history, {.max_search_steps = 1000});
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.partition, 9u);
}

// A FIFO queue in one partition: the checker is generic over the model.
struct QueueModel {
  struct Input {
    bool enqueue = false;
    std::uint64_t value = 0;  // enqueue: the value added
  };
  using Output = std::uint64_t;              // dequeue: the value removed, 0 when empty
  using State = std::vector<std::uint64_t>;  // front first

  static State init() { return {}; }
  static std::optional<State> step(const State& state, const Input& input,
                                   const std::optional<Output>& output) {
    State next = state;
    if (input.enqueue) {
      next.push_back(input.value);
      return next;
    }
    const std::uint64_t front = state.empty() ? 0 : state.front();
    if (output && *output != front) return std::nullopt;
    if (!next.empty()) next.erase(next.begin());
    return next;
  }
  static std::uint64_t hash(const State& state) {
    std::uint64_t h = state.size();
    for (std::uint64_t v : state) h = h * 1'000'003 + v;
    return h;
  }
  static std::uint64_t partition(const Input&) { return 0; }
  static std::string describe(const Input& input, const std::optional<Output>& output) {
    if (input.enqueue) return "enqueue(" + std::to_string(input.value) + ")";
    return "dequeue() -> " + (output ? std::to_string(*output) : std::string("?"));
  }
};

TEST(Linearizability, WorksWithAnyModelIncludingOneWithoutStateDescriptions) {
  using QueueOp = Operation<QueueModel>;
  History<QueueModel> history = {
      QueueOp{.client = 1, .invoked = at_ms(0), .completed = at_ms(10), .input = {true, 1}},
      QueueOp{.client = 2, .invoked = at_ms(5), .completed = at_ms(15), .input = {true, 2}},
      QueueOp{.client = 3, .invoked = at_ms(20), .completed = at_ms(30), .input = {}, .output = 2},
  };
  EXPECT_TRUE(check_linearizability(history).linearizable());  // the enqueues overlap
  history[1].invoked = at_ms(11);
  const LinearizabilityResult result = check_linearizability(history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(result.explanation.find("dequeue() -> 2"), std::string::npos) << result.explanation;
  EXPECT_EQ(result.explanation.find("state after"), std::string::npos) << result.explanation;
}

// --- Agreement with the definition, by exhaustive search on tiny random histories ------------

// KvModel without its optional hooks: the checker's plain path.
struct PlainKvModel {
  using Input = KvModel::Input;
  using Output = KvModel::Output;
  using State = KvModel::State;
  static State init() { return KvModel::init(); }
  static std::optional<State> step(const State& state, const Input& input,
                                   const std::optional<Output>& output) {
    return KvModel::step(state, input, output);
  }
  static std::uint64_t hash(const State& state) { return KvModel::hash(state); }
  static std::uint64_t partition(const Input& input) { return KvModel::partition(input); }
  static std::string describe(const Input& input, const std::optional<Output>& output) {
    return KvModel::describe(input, output);
  }
};

History<PlainKvModel> without_hints(const History<KvModel>& history) {
  History<PlainKvModel> plain;
  for (const Op& op : history)
    plain.push_back({op.client, op.invoked, op.completed, op.input, op.output});
  return plain;
}

// Whether some order of the operations places every completed one, respecting real time: an
// operation can go next when no unplaced completed operation completed before it was invoked.
bool brute_force_linearizable(const History<KvModel>& history, std::vector<bool>& placed,
                              KvModel::State state) {
  Instant horizon = Instant::max();
  bool all_placed = true;
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (placed[i] || history[i].completed == Instant::max()) continue;
    all_placed = false;
    horizon = std::min(horizon, history[i].completed);
  }
  if (all_placed) return true;
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (placed[i] || history[i].invoked > horizon) continue;
    const std::optional<KvModel::State> next =
        KvModel::step(state, history[i].input, history[i].output);
    if (!next) continue;
    placed[i] = true;
    if (brute_force_linearizable(history, placed, *next)) return true;
    placed[i] = false;
  }
  return false;
}

History<KvModel> tiny_random_history(Rng& rng) {
  History<KvModel> history(1 + rng.below(8));
  for (Op& op : history) {
    op.client = rng.below(3);
    op.invoked = at_ms(rng.between(0, 20));
    op.completed = rng.chance(0.3) ? Instant::max() : op.invoked + 1ms * rng.between(0, 10);
    const std::uint64_t kind = rng.below(3);
    op.input = kind == 0   ? KvModel::put(1, rng.below(4))
               : kind == 1 ? KvModel::get(1)
                           : KvModel::cas(1, rng.below(3), rng.below(4));
    if (op.completed != Instant::max() ? rng.chance(0.8) : rng.chance(0.1)) {
      op.output = kind == 2 ? rng.below(2) : rng.below(4);
    }
  }
  return history;
}

TEST(Linearizability, AgreesWithExhaustiveSearchOnTinyRandomHistories) {
  Rng rng(7);
  int linearizable = 0;
  int not_linearizable = 0;
  for (int round = 0; round < 20000; ++round) {
    const History<KvModel> history = tiny_random_history(rng);
    std::vector<bool> placed(history.size(), false);
    const bool expected = brute_force_linearizable(history, placed, KvModel::init());
    const LinearizabilityResult result = check_linearizability(history);
    ASSERT_EQ(result.linearizable(), expected) << "round " << round << "\n" << result.explanation;
    ASSERT_EQ(check_linearizability(without_hints(history)).linearizable(), expected)
        << "round " << round;
    ++(expected ? linearizable : not_linearizable);
  }
  EXPECT_GT(linearizable, 2000);  // both verdicts are well exercised
  EXPECT_GT(not_linearizable, 2000);
}

// --- Randomized histories from a truly linearizable register ---------------------------------

struct Workload {
  std::uint32_t operations = 2000;
  std::uint64_t keys = 5;
  std::uint32_t clients = 5;
  double unknown = 0.05;  // fraction of operations whose outcome is lost
  Duration latency = 2ms;
};

// Each operation takes effect at a random instant inside its interval; outputs come from applying
// the operations in that order. An operation whose outcome is lost takes effect or not, at random.
History<KvModel> linearizable_history(Rng& rng, const Workload& w) {
  History<KvModel> history;
  std::vector<std::pair<Instant, std::uint32_t>> effects;  // (instant, operation)
  std::vector<Instant> client_free(w.clients);
  std::vector<std::uint64_t> last_written(w.keys + 1, 0);
  std::uint64_t next_value = 1;
  for (std::uint32_t i = 0; i < w.operations; ++i) {
    const std::uint32_t client = i % w.clients;
    const std::uint64_t key = 1 + rng.below(w.keys);
    const std::uint64_t roll = rng.below(10);
    Op op{.client = client, .invoked = client_free[client] + rng.duration_between(0ns, w.latency)};
    op.input = roll < 4   ? KvModel::put(key, next_value++)
               : roll < 9 ? KvModel::get(key)
                          : KvModel::cas(key, last_written[key], next_value++);
    if (op.input.kind != KvInput::Kind::kGet) last_written[key] = op.input.value;
    const Instant effect = op.invoked + rng.duration_between(0ns, w.latency);
    op.completed = effect + rng.duration_between(0ns, w.latency);
    client_free[client] = op.completed;
    const bool lost = rng.chance(w.unknown);
    if (lost) op.completed = Instant::max();
    if (!lost || rng.chance(0.5)) effects.emplace_back(effect, i);
    history.push_back(op);
  }
  std::sort(effects.begin(), effects.end());
  std::vector<std::uint64_t> value(w.keys + 1, 0);
  for (const auto& [effect, i] : effects) {
    Op& op = history[i];
    std::uint64_t& v = value[op.input.key];
    std::uint64_t output = v;
    if (op.input.kind == KvInput::Kind::kPut) {
      v = op.input.value;
      output = 0;
    } else if (op.input.kind == KvInput::Kind::kCas) {
      output = v == op.input.expected ? 1 : 0;
      if (output == 1) v = op.input.value;
    }
    if (op.completed != Instant::max()) op.output = output;
  }
  return history;
}

// Makes one completed read return a value nobody wrote; returns its key.
std::uint64_t corrupt_one_read(Rng& rng, History<KvModel>& history) {
  const std::size_t start = rng.below(history.size());
  for (std::size_t k = 0; k < history.size(); ++k) {
    Op& op = history[(start + k) % history.size()];
    if (op.input.kind == KvInput::Kind::kGet && op.output) {
      op.output = 1'000'000'000'000ull + k;
      return op.input.key;
    }
  }
  ADD_FAILURE() << "no completed read to corrupt";
  return 0;
}

TEST(Linearizability, RandomLinearizableHistoriesPassAndFailOnceOneReadIsCorrupted) {
  const Workload workloads[] = {
      {},
      {.operations = 600, .keys = 1, .clients = 8},
      {.operations = 3000, .keys = 50, .clients = 10, .unknown = 0.2},
      {.operations = 1000, .keys = 2, .clients = 20, .unknown = 0.02, .latency = 10ms},
  };
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    for (const Workload& w : workloads) {
      Rng rng(seed);
      History<KvModel> history = linearizable_history(rng, w);
      const LinearizabilityResult good = check_linearizability(history);
      ASSERT_EQ(good.verdict, Verdict::kLinearizable)
          << "seed " << seed << " keys " << w.keys << "\n"
          << good.explanation;
      const bool plain_too = seed <= 10;  // the path without hints is slower
      if (plain_too) {
        EXPECT_TRUE(check_linearizability(without_hints(history)).linearizable())
            << "seed " << seed;
      }
      const std::uint64_t key = corrupt_one_read(rng, history);
      const LinearizabilityResult bad = check_linearizability(history);
      ASSERT_EQ(bad.verdict, Verdict::kNotLinearizable) << "seed " << seed << " keys " << w.keys;
      EXPECT_EQ(bad.partition, key);
      if (plain_too) {
        EXPECT_EQ(check_linearizability(without_hints(history)).verdict, Verdict::kNotLinearizable)
            << "seed " << seed;
      }
    }
  }
}

TEST(Linearizability, VerdictsAndReportsAreDeterministic) {
  Rng rng(42);
  History<KvModel> history = linearizable_history(rng, {.operations = 3000, .keys = 20});
  const std::uint64_t key = corrupt_one_read(rng, history);
  const LinearizabilityResult first = check_linearizability(history);
  const LinearizabilityResult second = check_linearizability(history);
  ASSERT_EQ(first.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(first.partition, key);
  EXPECT_EQ(first.explanation, second.explanation);
  EXPECT_EQ(first.search_steps, second.search_steps);

  // The order operations are listed in does not change the verdict.
  for (std::size_t i = history.size() - 1; i > 0; --i) {
    std::swap(history[i], history[rng.below(i + 1)]);
  }
  const LinearizabilityResult shuffled = check_linearizability(history);
  EXPECT_EQ(shuffled.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(shuffled.partition, key);
}

}  // namespace
}  // namespace smalti::sim
