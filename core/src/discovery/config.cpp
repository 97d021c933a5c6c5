#include "smalti/discovery/config.hpp"

namespace smalti::discovery {

namespace {
Status invalid(const char* what) {
  return error(StatusCode::kInvalidArgument, std::string("discovery config: ") + what);
}
}  // namespace

Status Config::validate() const {
  const Duration zero{0};
  if (events_backlog == 0) return invalid("events_backlog must be at least 1");
  if (purge_after <= zero) return invalid("purge_after must be positive");
  if (max_time_drift <= zero) return invalid("max_time_drift must be positive");
  if (announce_interval <= zero) return invalid("announce_interval must be positive");
  if (!(announce_jitter >= 0 && announce_jitter < 1)) {
    return invalid("announce_jitter must be in [0, 1)");
  }
  if (rtt_probe_interval <= zero) return invalid("rtt_probe_interval must be positive");
  if (max_probes_per_round == 0) return invalid("max_probes_per_round must be at least 1");
  if (max_rtt && *max_rtt <= zero) return invalid("max_rtt must be positive");
  if (graceful_departure_window < zero) return invalid("graceful_departure_window is negative");
  if (active_view == 0) return invalid("active_view must be at least 1");
  if (max_active_view < active_view) return invalid("max_active_view is below active_view");
  if (ihave_interval <= zero) return invalid("ihave_interval must be positive");
  if (graft_timeout <= zero) return invalid("graft_timeout must be positive");
  if (join_backoff_min <= zero) return invalid("join_backoff_min must be positive");
  if (join_backoff_max < join_backoff_min) return invalid("join_backoff_max is below the minimum");
  if (max_entries == 0) return invalid("max_entries must be at least 1");
  return Status::ok();
}

}  // namespace smalti::discovery
