#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs root (tests create network
# namespaces; they never touch the machine's root namespace).
#
# 1. installs what the tests need (Debian packages), 2. checks formatting
# and lints, 3. builds every binary, 4. runs every Rust test, 5. runs the
# conformance suite against our build and against the reference plugins
# (whose expected failures are listed in conformance/expected/), 6. runs the
# examples, including podman and containerd, against our build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "test-all.sh: must run as root (tests create network namespaces)" >&2
    exit 1
fi

# Debian packages the tests use: kernel tools, firewall front-ends, the
# reference plugins as a differential oracle (/usr/lib/cni), and the
# container runtimes the examples drive.
packages=(iproute2 iptables nftables conntrack containernetworking-plugins
          podman conmon runc catatonit busybox-static containerd socat
          iputils-ping python3-venv)
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
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"

echo "== conformance: our plugins (every case must pass)"
target/debug/cni-conformance --plugins "$PWD/target/debug"
echo "== conformance: reference plugins in /usr/lib/cni (failures must match the expected list)"
target/debug/cni-conformance --plugins /usr/lib/cni \
    --expect-failures conformance/expected/reference-1.1.1.txt

echo "== examples (our plugins)"
CNI_PLUGIN_DIR="$PWD/target/debug" CNITOOL="$PWD/target/debug/cnitool" scripts/test-examples.sh

echo "== all tests passed"
