// Trace: every input a simulated node handled and every effect it produced, in order.
//
// Each record is (virtual time, host, kind, a, b, detail digest). The running hash covers every
// record whether or not records are kept, so two runs of one seed can be compared by hash alone;
// keeping records (WorldOptions::record_trace) enables JSON Lines output and first_difference(),
// which names the first event where two runs diverge. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "smalti/base/bytes.hpp"
#include "smalti/base/time.hpp"

namespace smalti::sim {

struct TraceRecord {
  std::int64_t time_ns = 0;
  std::uint32_t host = 0;
  std::uint32_t kind = 0;  // index into Trace::kind_names()
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t detail = 0;
  friend bool operator==(const TraceRecord&, const TraceRecord&) = default;
};

// A fast, well-mixed 64-bit hash of bytes (not cryptographic; for traces only).
std::uint64_t trace_hash_bytes(ByteView bytes);

class Trace {
 public:
  explicit Trace(bool keep_records) : keep_records_(keep_records) {}

  void record(Instant time, std::uint32_t host, std::string_view kind, std::uint64_t a,
              std::uint64_t b, std::uint64_t detail) {
    record_kind(time, host, intern(kind), a, b, detail);
  }
  // The fast path for hot kinds: `kind` from intern().
  void record_kind(Instant time, std::uint32_t host, std::uint32_t kind, std::uint64_t a,
                   std::uint64_t b, std::uint64_t detail);
  // The id of a kind name; ids are assigned in first-use order, which is deterministic.
  std::uint32_t intern(std::string_view kind);
  std::uint64_t count() const { return count_; }
  // 128-bit running hash as 32 hex digits.
  std::string hash_hex() const;
  bool keeps_records() const { return keep_records_; }
  const std::vector<TraceRecord>& records() const { return records_; }
  const std::string& kind_name(std::uint32_t kind) const { return kind_names_[kind]; }

  void write_jsonl(std::ostream& out) const;
  std::string describe(const TraceRecord& r) const;

  // Index of the first record where the two traces differ (including one ending early).
  static std::optional<std::size_t> first_difference(const Trace& a, const Trace& b);

 private:
  bool keep_records_;
  std::uint64_t count_ = 0;
  std::uint64_t h1_ = 0x6a09e667f3bcc908ull;
  std::uint64_t h2_ = 0xbb67ae8584caa73bull;
  std::vector<TraceRecord> records_;
  std::vector<std::string> kind_names_;
  std::vector<std::uint64_t> kind_hashes_;
  std::map<std::string, std::uint32_t, std::less<>> kind_ids_;
};

}  // namespace smalti::sim
