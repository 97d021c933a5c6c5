#include "smalti/sim/trace.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace smalti::sim {
namespace {

constexpr std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint64_t trace_hash_bytes(ByteView bytes) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = mix(h ^ word);
  }
  std::uint64_t tail = 0;
  for (std::size_t k = 0; i < bytes.size(); ++i, ++k)
    tail |= static_cast<std::uint64_t>(bytes[i]) << (8 * k);
  return mix(h ^ tail);
}

std::uint32_t Trace::intern(std::string_view kind) {
  auto it = kind_ids_.find(kind);
  if (it != kind_ids_.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(kind_names_.size());
  kind_names_.emplace_back(kind);
  kind_hashes_.push_back(trace_hash_bytes(as_bytes(kind)));
  kind_ids_.emplace(std::string(kind), id);
  return id;
}

void Trace::record_kind(Instant time, std::uint32_t host, std::uint32_t id, std::uint64_t a,
                        std::uint64_t b, std::uint64_t detail) {
  const auto t = static_cast<std::uint64_t>(time.nanos());
  // Two independent lanes; each record is folded in with its position.
  h1_ = mix(h1_ ^ t) ^ mix(kind_hashes_[id] + host);
  h1_ = mix(h1_ ^ a ^ (b << 1)) + detail;
  h2_ = mix(h2_ + t * 31 + host) ^ mix(kind_hashes_[id] ^ b);
  h2_ = mix(h2_ ^ (a << 3) ^ detail) + count_;
  ++count_;
  if (keep_records_) records_.push_back(TraceRecord{time.nanos(), host, id, a, b, detail});
}

std::string Trace::hash_hex() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "%016" PRIx64, h1_, h2_);
  return buf;
}

std::string Trace::describe(const TraceRecord& r) const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "t=%s host=%" PRIu32 " kind=%s a=%" PRIu64 " b=%" PRIu64 " detail=%016" PRIx64,
                format_duration(Duration(r.time_ns)).c_str(), r.host, kind_names_[r.kind].c_str(),
                r.a, r.b, r.detail);
  return buf;
}

void Trace::write_jsonl(std::ostream& out) const {
  char buf[256];
  for (const TraceRecord& r : records_) {
    std::snprintf(buf, sizeof buf,
                  "{\"t\":%" PRId64 ",\"host\":%" PRIu32 ",\"kind\":\"%s\",\"a\":%" PRIu64
                  ",\"b\":%" PRIu64 ",\"detail\":\"%016" PRIx64 "\"}\n",
                  r.time_ns, r.host, kind_names_[r.kind].c_str(), r.a, r.b, r.detail);
    out << buf;
  }
}

std::optional<std::size_t> Trace::first_difference(const Trace& a, const Trace& b) {
  const auto& ra = a.records_;
  const auto& rb = b.records_;
  const std::size_t n = std::min(ra.size(), rb.size());
  for (std::size_t i = 0; i < n; ++i) {
    const bool same = ra[i].time_ns == rb[i].time_ns && ra[i].host == rb[i].host &&
                      a.kind_names_[ra[i].kind] == b.kind_names_[rb[i].kind] &&
                      ra[i].a == rb[i].a && ra[i].b == rb[i].b && ra[i].detail == rb[i].detail;
    if (!same) return i;
  }
  if (ra.size() != rb.size()) return n;
  return std::nullopt;
}

}  // namespace smalti::sim
