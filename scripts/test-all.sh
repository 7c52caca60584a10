#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs root (tests create network
# namespaces; they never touch the machine's root namespace).
#
# 1. installs what the tests need (Debian packages), 2. checks formatting
# and lints, 3. builds every binary (debug for the tests, release as
# shipped) and checks the release binaries' VERSION replies, 4. runs every
# Rust test, 5. runs the conformance suite against our release build and
# against the reference plugins (whose expected failures are listed in
# conformance/expected/), 6. runs the examples, including podman and
# containerd, against our release build, 7. builds the static release
# tarball (scripts/dist.sh) and checks it (scripts/test-dist.sh).
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
          iputils-ping python3-venv binutils)
# A real firewalld on a private D-Bus (cni_sandbox::firewalld): firewalld,
# the bus daemon, and dbus-send.
packages+=(firewalld dbus-daemon dbus-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# On a systemd host the firewalld package enables and starts the service,
# which then owns the machine's firewall. The tests start their own
# firewalld inside a namespace; one this script just installed goes again.
if [[ " ${missing[*]} " == *" firewalld "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now firewalld.service || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build (debug for the tests, release as shipped)"
cargo build --workspace --bins
cargo build --release --workspace --bins
rel="$PWD/target/release"
echo "== VERSION and the about line of the release binaries"
plugins=(bridge host-local portmap loopback ptp firewall tuning bandwidth flannel)
for b in "${plugins[@]}"; do
    got=$(CNI_COMMAND=VERSION "$rel/$b" </dev/null)
    want='"supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
    # bandwidth only exists chained, so it claims what the reference's
    # v1.9.1 claims: 0.3.0 (the first spec with prevResult) to 1.1.0.
    [ "$b" = bandwidth ] &&
        want='"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
    # firewall claims what the reference v1.9.1 claims: 0.4.0 on.
    [ "$b" = firewall ] && want='"supportedVersions":["0.4.0","1.0.0","1.1.0"]'
    case "$got" in
        *"$want"*) echo "$b: $got" ;;
        *) echo "$b: unexpected VERSION reply: $got" >&2; exit 1 ;;
    esac
    # With an empty environment: the about line on stderr, exit 0 (what
    # nerdctl and Nomad read to learn a plugin's version).
    about=$(env -i "$rel/$b" 2>&1 >/dev/null </dev/null | head -n 1)
    case "$about" in
        "CNI $b plugin v"[0-9]*) echo "$b: $about" ;;
        *) echo "$b: unexpected about line: $about" >&2; exit 1 ;;
    esac
done
echo "== cargo test"
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"

echo "== conformance: our release build (every case must pass)"
target/release/cni-conformance --plugins "$rel"
echo "== conformance: reference plugins in /usr/lib/cni (failures must match the expected list)"
target/release/cni-conformance --plugins /usr/lib/cni \
    --expect-failures conformance/expected/reference-1.1.1.txt

echo "== examples (our release build)"
CNI_PLUGIN_DIR="$rel" CNITOOL="$rel/cnitool" scripts/test-examples.sh

echo "== release tarball: static binaries, checksums, chroot, conformance (make dist)"
scripts/dist.sh
scripts/test-dist.sh

echo "== all tests passed"
