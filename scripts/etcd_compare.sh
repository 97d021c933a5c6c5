#!/usr/bin/env bash
# The durable 3-node group side by side with etcd 3.4, in one run (docs/performance.md).
#
#   bash scripts/etcd_compare.sh BUILD_DIR
#
# Each side runs twice on a fresh cluster of three processes on loopback, with fsync on:
#   throughput: INFLIGHT callers, each with one write outstanding, THROUGHPUT_WRITES writes;
#   latency:    one caller with one write outstanding, LATENCY_WRITES writes.
# Both after WARMUP writes of the same kind. Writes are a unique 16-byte key and a 64-byte value
# (etcd: KV.Put over gRPC from build/etcd_load, a separate process, to the leader; smalti: an
# 80-byte command executed on the leader, in-process, by `smalti-node --bench`).
# Every server process runs under `perf stat` counting its fsync and fdatasync calls (all its
# threads); the syncs of the three members are divided by the writes of the run (warm-up
# included), so start-up syncs count against both sides alike.
set -euo pipefail
build=${1:?usage: etcd_compare.sh BUILD_DIR}
INFLIGHT=${INFLIGHT:-256}
THROUGHPUT_WRITES=${THROUGHPUT_WRITES:-100000}
LATENCY_WRITES=${LATENCY_WRITES:-5000}
WARMUP=${WARMUP:-1000}
ETCD_CONNS=${ETCD_CONNS:-8}
# SMALTI_MEMORY=1: smalti's group state in memory (no --data-dir), to see what durability costs.
SMALTI_MEMORY=${SMALTI_MEMORY:-0}
SIDES=${SIDES:-smalti etcd}
node_bin=$build/smalti-node
load_bin=$build/etcd_load
for b in "$node_bin" "$load_bin" "$(command -v etcd || true)" "$(command -v etcdctl || true)"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    echo "etcd_compare: needs $build/smalti-node, $build/etcd_load, etcd and etcdctl" \
      "(scripts/bench_deps.sh, then a build with -DSMALTI_BENCH=ON)" >&2
    exit 2
  fi
done
work=$(mktemp -d /tmp/smalti-etcd-compare.XXXXXX)
pids=()
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT

# perf stat counting syncs, when the kernel lets it; else the sync columns say "n/a".
sync_events=syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync
# Run in the background (`counted OUT cmd... &`), it execs, so $! is perf's pid (or the server's).
if perf stat -x, -e "$sync_events" true >/dev/null 2>&1; then
  counted() { local out=$1; shift; exec perf stat -x, -e "$sync_events" -o "$out" -- "$@"; }
else
  counted() { shift; exec "$@"; }
fi
# The syncs counted in the perf outputs given, summed.
sum_syncs() {
  cat "$@" 2>/dev/null | awk -F, '/sys_enter_f/ { s += $1; n++ } END { if (n) print s; else print "n/a" }'
}
per_write() { awk -v s="$1" -v w="$2" 'BEGIN { if (s == "n/a") print "n/a"; else printf "%.3f", s / w }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# Waits until FILE has a line matching PATTERN; fails after SECONDS.
wait_for() {
  local file=$1 pattern=$2 seconds=$3
  for ((i = 0; i < seconds * 10; i++)); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "etcd_compare: timed out waiting for '$pattern' in $file" >&2
  tail -5 "$file" >&2 || true
  return 1
}
# Stops the server processes of a run (SIGTERM to each server, not to perf, which then writes
# its counts as the server exits).
stop_servers() {
  local p
  for p in "${pids[@]}"; do
    pkill -TERM -P "$p" 2>/dev/null || kill "$p" 2>/dev/null || true
  done
  # A server that has not exited after 10 s is killed (perf still writes its counts).
  for ((t = 0; t < 100; t++)); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    pkill -KILL -P "$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

# smalti: three smalti-node processes, each with its group state in SQLite under its data dir;
# every node runs the bench flags and the one that leads once the group is online runs them.
# Prints the leader's bench line and the syncs.
smalti_run() {
  local name=$1 inflight=$2 writes=$3
  local dir=$work/smalti-$name
  mkdir -p "$dir"
  local common=(--network "bench-$$-$name" --group "bench-$$-$name" --bootstrap-expect 3
    --quiet-state --bench-leader-only --bench "$inflight:$WARMUP" --bench "$inflight:$writes")
  local data=()
  [ "$SMALTI_MEMORY" = 1 ] || data=(--data-dir "$dir/data0")
  local base=$((7300 + RANDOM % 500 * 3))
  counted "$dir/perf.0" "$node_bin" --listen "127.0.0.1:$base" --identity "$dir/0.key" \
    "${data[@]}" "${common[@]}" >"$dir/0.log" 2>&1 &
  pids+=($!)
  wait_for "$dir/0.log" '^listening ' 10
  local first
  first=$(sed -n 's/^listening //p' "$dir/0.log" | head -1)
  for i in 1 2; do
    [ "$SMALTI_MEMORY" = 1 ] || data=(--data-dir "$dir/data$i")
    counted "$dir/perf.$i" "$node_bin" --listen "127.0.0.1:$((base + i))" --identity "$dir/$i.key" \
      "${data[@]}" --bootstrap "$first" "${common[@]}" >"$dir/$i.log" 2>&1 &
    pids+=($!)
  done
  local deadline=$((SECONDS + 600))
  until grep -q '^bench done' "$dir"/[012].log 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "etcd_compare: smalti $name did not finish" >&2
      tail -n 3 "$dir"/[012].log >&2
      return 1
    fi
    sleep 0.2
  done
  stop_servers
  local line
  line=$(grep -h "^bench inflight=$inflight commands=$writes " "$dir"/[012].log)
  echo "$line syncs=$(sum_syncs "$dir"/perf.[012]) writes=$((WARMUP + writes))"
}

# etcd: three members with default settings (fsync on) under /tmp, a client of etcd_load to the
# leader. Prints etcd_load's line and the syncs.
etcd_run() {
  local name=$1 inflight=$2 writes=$3
  local dir=$work/etcd-$name
  mkdir -p "$dir"
  local base=$((12400 + RANDOM % 500 * 6))
  local cluster="" endpoints=""
  for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 2 * i + 1))"
    endpoints+="${endpoints:+,}127.0.0.1:$((base + 2 * i))"
  done
  for i in 0 1 2; do
    local client=http://127.0.0.1:$((base + 2 * i)) peer=http://127.0.0.1:$((base + 2 * i + 1))
    counted "$dir/perf.$i" etcd --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-token "bench-$$-$name" \
      --initial-cluster-state new >"$dir/m$i.log" 2>&1 &
    pids+=($!)
  done
  local leader=""
  for ((t = 0; t < 300; t++)); do
    leader=$(etcdctl --endpoints="$endpoints" endpoint status 2>/dev/null |
      awk -F', ' '$5 == "true" { print $1 }' | head -1)
    [ -n "$leader" ] && break
    sleep 0.1
  done
  [ -n "$leader" ] || {
    echo "etcd_compare: etcd $name elected no leader" >&2
    tail -n 3 "$dir"/m*.log >&2
    return 1
  }
  local conns=$((inflight < ETCD_CONNS ? inflight : ETCD_CONNS))
  "$load_bin" --endpoint "$leader" --inflight "$inflight" --puts "$WARMUP" --conns "$conns" \
    --prefix w >/dev/null
  local line
  line=$("$load_bin" --endpoint "$leader" --inflight "$inflight" --puts "$writes" --conns "$conns" \
    --prefix m)
  stop_servers
  echo "$line syncs=$(sum_syncs "$dir"/perf.[012]) writes=$((WARMUP + writes))"
}

echo "== etcd_compare: $(etcd --version | head -1), smalti $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "   smalti_memory=$SMALTI_MEMORY inflight=$INFLIGHT throughput_writes=$THROUGHPUT_WRITES latency_writes=$LATENCY_WRITES warmup=$WARMUP etcd_conns=$ETCD_CONNS"
for side in $SIDES; do
  "${side}_run" throughput "$INFLIGHT" "$THROUGHPUT_WRITES" >"$work/$side.throughput"
  echo "$side throughput: $(cat "$work/$side.throughput")"
  "${side}_run" latency 1 "$LATENCY_WRITES" >"$work/$side.latency"
  echo "$side latency:    $(cat "$work/$side.latency")"
done
[ "$SIDES" = "smalti etcd" ] || exit 0
st=$(cat "$work/smalti.throughput") sl=$(cat "$work/smalti.latency")
et=$(cat "$work/etcd.throughput") el=$(cat "$work/etcd.latency")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
printf '%-34s %12s %12s %8s\n' "" smalti etcd ratio
printf '%-34s %12s %12s %8s\n' "writes/s, $INFLIGHT in flight" "$(field per_second "$st")" \
  "$(field per_second "$et")" "$(ratio "$(field per_second "$st")" "$(field per_second "$et")")"
for p in p50 p99; do
  printf '%-34s %12s %12s %8s\n' "$p us, $INFLIGHT in flight" "$(field ${p}_us "$st")" \
    "$(field ${p}_us "$et")" "$(ratio "$(field ${p}_us "$st")" "$(field ${p}_us "$et")")"
done
for p in p50 p99; do
  printf '%-34s %12s %12s %8s\n' "$p us, one client, 1 in flight" "$(field ${p}_us "$sl")" \
    "$(field ${p}_us "$el")" "$(ratio "$(field ${p}_us "$sl")" "$(field ${p}_us "$el")")"
done
printf '%-34s %12s %12s\n' "syncs per write, $INFLIGHT in flight" \
  "$(per_write "$(field syncs "$st")" "$(field writes "$st")")" \
  "$(per_write "$(field syncs "$et")" "$(field writes "$et")")"
printf '%-34s %12s %12s\n' "syncs per write, one client" \
  "$(per_write "$(field syncs "$sl")" "$(field writes "$sl")")" \
  "$(per_write "$(field syncs "$el")" "$(field writes "$el")")"
