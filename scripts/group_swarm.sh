#!/usr/bin/env bash
# Runs the group properties over many RapidCheck cases, in chunks of 100 so that a progress line
# follows each chunk, and prints a summary. A failure prints RapidCheck's shrunk case and the
# world seed that replays it. Usage: group_swarm.sh BUILD_DIR CASES
set -uo pipefail
build=$1
cases=$2
chunk=100
start=$(date +%s)
failed=0
ran=0
for property in SafeLinearizableAndLiveUnderFaults SafeLinearizableAndLiveWhileForming; do
  for ((seed = 1; seed * chunk <= cases; seed++)); do
    out=$(RC_PARAMS="seed=$seed max_success=$chunk" \
      "$build/sim_tests" --gtest_filter="GroupProperties.$property" 2>&1)
    ran=$((ran + chunk))
    if ! grep -q "OK, passed $chunk tests" <<<"$out"; then
      failed=$((failed + 1))
      echo "$out" | grep -E "Falsifiable|world seed|violation|longest|reproduce" | head -8
    fi
    printf 'group swarm: %s, %d cases, %d failed chunks, %ds\n' "$property" "$ran" "$failed" \
      "$(($(date +%s) - start))"
  done
done
printf 'group swarm summary: cases=%d failed_chunks=%d time=%ds\n' "$ran" "$failed" \
  "$(($(date +%s) - start))"
[[ $failed -eq 0 ]]
