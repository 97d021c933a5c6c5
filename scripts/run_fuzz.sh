#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, from its seed corpus in fuzz/seeds.
# Fails if any target finds a crash. Usage: run_fuzz.sh BUILD_DIR SECONDS [PARALLEL]
# PARALLEL targets run at once (default 2, the CI machine's cores).
set -euo pipefail
build=$1
seconds=$2
parallel=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
targets=$(find "$build" -maxdepth 1 -type f -name '*_fuzz' -perm -u+x | sort)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets in $build" >&2
  exit 1
fi
# Runs one target; prints its stats, or the tail of its log when it found something.
run_one() {
  local target=$1 name corpus seeds
  name=$(basename "$target")
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/seeds/$name" ] && seeds=("$root/fuzz/seeds/$name")
  if ! "$target" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/$name-" "$corpus" "${seeds[@]}" > "$build/$name.log" 2>&1; then
    tail -n 40 "$build/$name.log"
    echo "fuzz: $name FAILED (artifacts in $build/$name-*)" >&2
    return 1
  fi
  echo "fuzz: $name ran ${seconds}s: $(grep -E "stat::number_of_executed_units" "$build/$name.log" | tr -s ' ')"
}
failed=0
running=0
for target in $targets; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target failed" >&2
  exit 1
fi
echo "fuzz: all targets ran clean"
