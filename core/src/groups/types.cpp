#include "smalti/groups/types.hpp"

#include <array>

#include "smalti/base/hex.hpp"

namespace smalti::groups {

std::string GroupKey::redacted() const {
  const auto& b = secret_.bytes();
  return to_hex(ByteView(&b.front(), 1)) + "****" + to_hex(ByteView(&b.back(), 1));
}

Status ConsensusConfig::validate() const {
  if (heartbeat_interval <= Duration::zero()) {
    return error(StatusCode::kInvalidArgument, "heartbeat_interval must be positive");
  }
  if (heartbeat_jitter <= Duration::zero() || heartbeat_jitter >= heartbeat_interval) {
    return error(StatusCode::kInvalidArgument,
                 "heartbeat_jitter must be positive and below heartbeat_interval");
  }
  if (max_missed_heartbeats == 0) {
    return error(StatusCode::kInvalidArgument, "max_missed_heartbeats must be at least 1");
  }
  if (election_timeout <= heartbeat_interval) {
    return error(StatusCode::kInvalidArgument,
                 "election_timeout must be longer than heartbeat_interval");
  }
  if (election_timeout_jitter < Duration::zero() || bootstrap_delay < Duration::zero()) {
    return error(StatusCode::kInvalidArgument, "timeouts must not be negative");
  }
  if (forward_timeout <= Duration::zero() || query_timeout <= Duration::zero()) {
    return error(StatusCode::kInvalidArgument, "forward and query timeouts must be positive");
  }
  if (max_voters == 0 || max_voters > kMaxVoters) {
    return error(StatusCode::kInvalidArgument,
                 "max_voters must be between 1 and " + std::to_string(kMaxVoters));
  }
  if (bootstrap_expect == 0) {
    return error(StatusCode::kInvalidArgument, "bootstrap_expect must be at least 1");
  }
  return Status::ok();
}

namespace {
// A 16-byte little-endian integer, as mosaik's u128::to_le_bytes.
void put_u128(std::array<std::uint8_t, 48>& out, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 16; ++i) {
    out[at + i] = i < 8 ? static_cast<std::uint8_t>(v >> (8 * i)) : 0;
  }
}
std::uint64_t millis(Duration d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}
}  // namespace

Digest ConsensusConfig::digest() const {
  std::array<std::uint8_t, 48> bytes{};
  put_u128(bytes, 0, millis(heartbeat_interval));
  put_u128(bytes, 16, millis(heartbeat_jitter));
  put_u128(bytes, 32, max_missed_heartbeats);
  return Digest::hash(ByteView(bytes.data(), bytes.size()));
}

Status LogReplayConfig::validate() const {
  if (batch_size == 0 || batch_size > kMaxLogReplayBatch) {
    return error(StatusCode::kInvalidArgument, "log replay batch_size must be between 1 and " +
                                                   std::to_string(kMaxLogReplayBatch));
  }
  return Status::ok();
}

Status SnapshotPolicy::validate() const {
  if (enabled() && every_bytes == 0) {
    return error(StatusCode::kInvalidArgument, "snapshot every_bytes must be at least 1");
  }
  return Status::ok();
}

Digest LogReplayConfig::signature() const {
  std::array<std::uint8_t, 8> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(std::uint64_t{batch_size} >> (8 * i));
  }
  return Digest::from_string("smalti_log_replay_sync.v1")
      .derive(ByteView(bytes.data(), bytes.size()));
}

GroupId derive_group_id(const GroupKey& key, const ConsensusConfig& consensus,
                        const Digest& state_machine_signature, const Digest& sync_signature,
                        std::span<const Digest> validator_signatures) {
  GroupId id = key.secret()
                   .hashed()
                   .derive(consensus.digest())
                   .derive(state_machine_signature)
                   .derive(sync_signature);
  for (const Digest& v : validator_signatures) id = id.derive(v);
  return id;
}

}  // namespace smalti::groups
