#!/usr/bin/env bash
# Installs what `make bench` needs beyond scripts/deps.sh, only when some are missing: etcd 3.4
# (Debian's etcd-server and etcd-client) and gRPC's C++ library and code generator for the etcd
# comparison's load generator (scripts/etcd_compare.sh, bench/etcd/). CI's `make test` does not
# need them. Idempotent and quick.
set -euo pipefail
packages=(
  etcd-server etcd-client
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  linux-perf
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "bench deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
# etcd-server's package enables an etcd service on port 2379; the comparison runs its own members.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl stop etcd || true
fi
