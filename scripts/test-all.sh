#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs root (tests create network
# namespaces; they never touch the machine's root namespace).
#
# 1. installs what the tests need (Debian packages), 2. checks formatting
# and lints, 3. builds every binary, 4. runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "test-all.sh: must run as root (tests create network namespaces)" >&2
    exit 1
fi

# Debian packages the tests use: kernel tools, firewall front-ends, the
# reference plugins as a differential oracle (/usr/lib/cni).
packages=(iproute2 iptables nftables conntrack containernetworking-plugins)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build"
cargo build --workspace --bins
echo "== cargo test"
cargo test --workspace -- --test-threads="${TEST_THREADS:-4}"
echo "== all tests passed"
