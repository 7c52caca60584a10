#!/usr/bin/env bash
# Check the release tarball scripts/dist.sh made, as a node without Rust
# would use it:
#   1. the checksums verify (sha256sum -c, sha512sum -c);
#   2. it extracts into an empty directory with exactly the expected files;
#   3. every binary is fully static (no dynamic section) and answers inside
#      a chroot that holds nothing but that binary: no libc, no loader, no
#      /proc, as on a musl or distroless system;
#   4. the conformance suite passes against the extracted directory;
#   5. the firewall plugin talks D-Bus to a real firewalld from its static
#      build (libdbus is linked in).
# Needs root (chroot, network namespaces) and target/release/cni-conformance.
set -euo pipefail
cd "$(dirname "$0")/.."

BINARIES=(bridge host-local portmap loopback ptp firewall tuning bandwidth flannel cnitool)
dist=target/dist
tgz=$(ls "$dist"/cni-plugins-linux-*-v*.tgz 2>/dev/null | head -n 1)
[ -n "$tgz" ] || { echo "test-dist.sh: no tarball in $dist: run scripts/dist.sh" >&2; exit 1; }
name=$(basename "$tgz")

work=$(mktemp -d /tmp/cni-dist-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== checksums of $name"
(cd "$dist" && sha256sum -c "$name.sha256" && sha512sum -c "$name.sha512")

echo "== extract into an empty directory"
mkdir "$work/bin"
tar -C "$work/bin" -xzf "$tgz"
want=$(printf '%s\n' "${BINARIES[@]}" LICENSE-APACHE LICENSE-MIT README.md | sort | xargs)
got=$(ls -A "$work/bin" | sort | xargs)
if [ "$got" != "$want" ]; then
    echo "test-dist.sh: the tarball holds [$got], expected [$want]" >&2
    exit 1
fi
echo "$got"

echo "== each binary alone in a chroot"
chroot=$(command -v chroot)
for b in "${BINARIES[@]}"; do
    readelf -d "$work/bin/$b" | grep -q "There is no dynamic section" ||
        { echo "test-dist.sh: $b has a dynamic section" >&2; exit 1; }
    root="$work/root-$b"
    mkdir "$root"
    cp "$work/bin/$b" "$root/$b"
    if [ "$b" = cnitool ]; then
        out=$(env -i "$chroot" "$root" "/$b" --version 2>&1)
        case "$out" in
            "cnitool "[0-9]*) ;;
            *) echo "test-dist.sh: cnitool --version in a chroot: $out" >&2; exit 1 ;;
        esac
    else
        out=$(echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION "$chroot" "$root" "/$b" 2>&1)
        case "$out" in
            *'"supportedVersions":['*'"1.0.0"'*) ;;
            *) echo "test-dist.sh: $b VERSION in a chroot: $out" >&2; exit 1 ;;
        esac
    fi
    echo "$b: $out"
done

echo "== conformance against the extracted binaries"
target/release/cni-conformance --plugins "$work/bin"

echo "== the static firewall against a real firewalld"
CNI_TEST_PLUGIN_DIR="$work/bin" cargo test -q -p cni-firewall --test firewalld -- --test-threads=1

echo "== test-dist: $name is good"
