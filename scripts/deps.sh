#!/usr/bin/env bash
# Installs the Debian packages smalti needs, only when some are missing. Idempotent and quick.
set -euo pipefail
packages=(
  cmake ninja-build pkg-config g++ clang-14 libclang-rt-14-dev clang-format clang-tidy-14 ccache
  libssl-dev libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  libboost-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libsqlite3-dev
  ngtcp2-client ngtcp2-server openssl
  b3sum
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
