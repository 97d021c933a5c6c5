#include "smalti/sim/sim_clock.hpp"

#include "smalti/base/assert.hpp"

namespace smalti::sim {
namespace {
// 128-bit intermediates keep drift arithmetic exact over long runs.
__extension__ typedef __int128 Wide;
}  // namespace

Instant SimClock::local_from_global(Instant global) const {
  if (ppm_ == 0) return anchor_local_ + (global - anchor_global_);  // the common case, exact
  const Wide dg = global.nanos() - anchor_global_.nanos();
  const Wide dl = dg * (1'000'000 + ppm_) / 1'000'000;
  return anchor_local_ + Duration(static_cast<std::int64_t>(dl));
}

Instant SimClock::global_from_local(Instant local) const {
  if (ppm_ == 0) return anchor_global_ + (local - anchor_local_);
  const Wide dl = local.nanos() - anchor_local_.nanos();
  const Wide rate = 1'000'000 + ppm_;
  // Round up so the local time has surely been reached at the returned global instant.
  Wide dg = (dl * 1'000'000 + rate - 1) / rate;
  if (dl < 0) dg = dl * 1'000'000 / rate;
  return anchor_global_ + Duration(static_cast<std::int64_t>(dg));
}

void SimClock::set_drift_ppm(std::int64_t ppm) {
  SMALTI_ASSERT(ppm > -500'000 && ppm < 500'000, "drift out of range");
  const Instant now = global_now_();
  anchor_local_ = local_from_global(now);
  anchor_global_ = now;
  ppm_ = ppm;
}

}  // namespace smalti::sim
