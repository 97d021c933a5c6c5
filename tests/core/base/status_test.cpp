// Tests for smalti::Status, Result<T> and the SMALTI_RETURN_IF_ERROR / SMALTI_ASSIGN_OR_RETURN
// macros.
#include "smalti/base/status.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace smalti {
namespace {

constexpr StatusCode kAllCodes[] = {
    StatusCode::kOk,
    StatusCode::kInvalidArgument,
    StatusCode::kMalformed,
    StatusCode::kLimitExceeded,
    StatusCode::kNotFound,
    StatusCode::kAlreadyExists,
    StatusCode::kUnavailable,
    StatusCode::kTimeout,
    StatusCode::kCancelled,
    StatusCode::kIoError,
    StatusCode::kNoSpace,
    StatusCode::kPermissionDenied,
    StatusCode::kFailedPrecondition,
    StatusCode::kInternal,
};

TEST(StatusTest, DefaultIsOk) {
  const Status s;
  EXPECT_TRUE(s.is_ok());
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "ok");
  EXPECT_EQ(s, Status::ok());
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  const Status s = error(StatusCode::kNotFound, "no such key");
  EXPECT_FALSE(s.is_ok());
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such key");
  EXPECT_EQ(s.to_string(), "not found: no such key");
  EXPECT_EQ(Status(StatusCode::kTimeout, "").to_string(), "timeout");
}

TEST(StatusTest, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(error(StatusCode::kMalformed, "x"), error(StatusCode::kMalformed, "x"));
  EXPECT_NE(error(StatusCode::kMalformed, "x"), error(StatusCode::kMalformed, "y"));
  EXPECT_NE(error(StatusCode::kMalformed, "x"), error(StatusCode::kInternal, "x"));
  EXPECT_NE(error(StatusCode::kMalformed, ""), Status::ok());
}

// The message lives out of line: copies are deep, moves leave a valid Status behind.
TEST(StatusTest, CopiesAndMovesKeepCodeAndMessage) {
  const Status original = error(StatusCode::kTimeout, "slow peer");
  Status copy = original;
  EXPECT_EQ(copy, original);
  Status assigned = Status::ok();
  assigned = original;
  EXPECT_EQ(assigned.message(), "slow peer");
  const Status& same = assigned;
  assigned = same;  // self-assignment keeps the message
  EXPECT_EQ(assigned.message(), "slow peer");
  Status moved = std::move(copy);
  EXPECT_EQ(moved, original);
  Status reassigned = error(StatusCode::kInternal, "old");
  reassigned = std::move(moved);
  EXPECT_EQ(reassigned, original);
  EXPECT_EQ(original.message(), "slow peer");
}

TEST(StatusTest, WithContextPrefixesTheMessageAndKeepsTheCode) {
  const Status s = error(StatusCode::kIoError, "disk full").with_context("writing log");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), "writing log: disk full");
  EXPECT_EQ(s.with_context("raft").message(), "raft: writing log: disk full");
  EXPECT_EQ(s.to_string(), "i/o error: writing log: disk full");
}

TEST(StatusTest, WithContextOnOkStaysOk) {
  const Status s = Status::ok().with_context("anything");
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (StatusCode code : kAllCodes) {
    const std::string_view name = status_code_name(code);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(kAllCodes));
  EXPECT_EQ(status_code_name(StatusCode::kOk), "ok");
  EXPECT_EQ(status_code_name(StatusCode::kLimitExceeded), "limit exceeded");
  EXPECT_EQ(status_code_name(static_cast<StatusCode>(200)), "unknown");
}

// ---- Result<T> ----------------------------------------------------------------------------

TEST(ResultTest, HoldsAValue) {
  Result<int> r = 42;
  EXPECT_TRUE(r.is_ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_TRUE(r.status().is_ok());
  EXPECT_EQ(r.value_or(7), 42);
  *r = 5;
  EXPECT_EQ(r.value(), 5);
}

TEST(ResultTest, HoldsAnError) {
  const Result<int> r = error(StatusCode::kUnavailable, "peer gone");
  EXPECT_FALSE(r.is_ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "peer gone");
  EXPECT_EQ(r.value_or(7), 7);
}

TEST(ResultTest, ArrowReachesMembers) {
  Result<std::string> r = std::string("hello");
  EXPECT_EQ(r->size(), 5u);
  r->append("!");
  EXPECT_EQ(r.value(), "hello!");
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->back(), '!');
}

TEST(ResultTest, MoveOnlyValuesCanBeMovedOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(9);
  ASSERT_TRUE(r.is_ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 9);
}

TEST(ResultDeathTest, OkStatusIsRejected) {
  EXPECT_DEATH(
      {
        Result<int> r = Status::ok();
        (void)r;
      },
      "cannot hold an ok Status");
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  EXPECT_DEATH(
      {
        Result<int> r = error(StatusCode::kInternal, "boom");
        (void)r.value();
      },
      "value\\(\\) on an error");
}

// ---- macros -------------------------------------------------------------------------------

Status step(bool fail, std::vector<std::string>& log, const std::string& name) {
  log.push_back(name);
  if (fail) return error(StatusCode::kFailedPrecondition, name + " failed");
  return Status::ok();
}

Status three_steps(int failing, std::vector<std::string>& log) {
  SMALTI_RETURN_IF_ERROR(step(failing == 1, log, "one"));
  SMALTI_RETURN_IF_ERROR(step(failing == 2, log, "two"));
  SMALTI_RETURN_IF_ERROR(step(failing == 3, log, "three"));
  log.push_back("done");
  return Status::ok();
}

TEST(StatusMacros, ReturnIfErrorStopsAtTheFirstError) {
  std::vector<std::string> log;
  EXPECT_TRUE(three_steps(0, log).is_ok());
  EXPECT_EQ(log, (std::vector<std::string>{"one", "two", "three", "done"}));
  log.clear();
  const Status s = three_steps(2, log);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "two failed");
  EXPECT_EQ(log, (std::vector<std::string>{"one", "two"}));
}

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') {
    return error(StatusCode::kInvalidArgument, std::string("not a digit: ") + c);
  }
  return c - '0';
}

// Uses the macro twice in one function, assigning to fresh and existing variables.
Result<int> sum_of_digits(char a, char b, int& evaluated) {
  SMALTI_ASSIGN_OR_RETURN(const int x, parse_digit(a));
  ++evaluated;
  int y = 0;
  SMALTI_ASSIGN_OR_RETURN(y, parse_digit(b));
  ++evaluated;
  return x + y;
}

Status check_sum(char a, char b, int& out) {
  int evaluated = 0;
  SMALTI_ASSIGN_OR_RETURN(out, sum_of_digits(a, b, evaluated));
  return Status::ok();
}

TEST(StatusMacros, AssignOrReturnBindsTheValue) {
  int evaluated = 0;
  const Result<int> r = sum_of_digits('3', '4', evaluated);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(evaluated, 2);
}

TEST(StatusMacros, AssignOrReturnReturnsTheError) {
  int evaluated = 0;
  Result<int> r = sum_of_digits('x', '4', evaluated);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "not a digit: x");
  EXPECT_EQ(evaluated, 0);
  r = sum_of_digits('1', '?', evaluated);
  EXPECT_EQ(r.status().message(), "not a digit: ?");
  EXPECT_EQ(evaluated, 1);
}

TEST(StatusMacros, AssignOrReturnWorksInAStatusFunction) {
  int out = -1;
  EXPECT_TRUE(check_sum('2', '5', out).is_ok());
  EXPECT_EQ(out, 7);
  out = -1;
  const Status s = check_sum('2', 'z', out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out, -1);
}

}  // namespace
}  // namespace smalti
