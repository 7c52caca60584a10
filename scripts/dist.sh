#!/usr/bin/env bash
# Build the release tarball: every plugin and cnitool, fully static, in the
# reference's layout, with its checksums.
#
#   scripts/dist.sh            (or `make dist`)
#
# Output in target/dist/:
#   cni-plugins-linux-<arch>-v<version>.tgz          ./bridge ./host-local ... ./cnitool
#                                                    ./LICENSE-APACHE ./LICENSE-MIT ./README.md
#   cni-plugins-linux-<arch>-v<version>.tgz.sha256   "<hash>  <file name>" (sha256sum -c)
#   cni-plugins-linux-<arch>-v<version>.tgz.sha512
#
# Why static: a dynamically linked build needs the glibc it was built
# against (2.34 or newer here), so it does not start on Debian 11, Ubuntu
# 20.04, RHEL 8, Amazon Linux 2 or a musl system such as the Alpine images
# CNI installers run in. `+crt-static` links glibc into each binary, and
# `relocation-model=static` makes a plain static executable (no dynamic
# section, no interpreter), as the reference's Go binaries are. The price
# is that the executable image itself is not randomised (ASLR still moves
# the stack, heap and mappings), the same as the reference's.
#
# The build goes to target/<triple>/release: with an explicit --target,
# RUSTFLAGS apply to the shipped binaries only, not to build scripts and
# proc macros (which cannot be linked statically).
set -euo pipefail
cd "$(dirname "$0")/.."

BINARIES=(bridge host-local portmap loopback ptp firewall tuning bandwidth flannel cnitool)

triple=$(rustc -vV | sed -n 's/^host: //p')
case "$triple" in
    x86_64-unknown-linux-gnu) arch=amd64 ;;
    aarch64-unknown-linux-gnu) arch=arm64 ;;
    *) echo "dist.sh: no release mapping for host $triple" >&2; exit 1 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "dist.sh: no workspace version in Cargo.toml" >&2; exit 1; }

echo "== static release build ($triple)"
packages=()
for b in "${BINARIES[@]}"; do
    case "$b" in
        cnitool) packages+=(-p cnitool) ;;
        host-local) packages+=(-p host-local) ;;
        *) packages+=(-p "cni-$b") ;;
    esac
done
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release --locked --target "$triple" "${packages[@]}"
built="target/$triple/release"

echo "== every binary is fully static"
for b in "${BINARIES[@]}"; do
    # A static executable has no dynamic section: no interpreter, no
    # shared library it could fail to find.
    if ! readelf -d "$built/$b" | grep -q "There is no dynamic section"; then
        echo "dist.sh: $b is not fully static:" >&2
        readelf -d "$built/$b" >&2
        exit 1
    fi
    echo "$b: static"
done

dist=target/dist
name="cni-plugins-linux-$arch-v$version.tgz"
stage="$dist/stage"
rm -rf "$stage"
mkdir -p "$stage"
for b in "${BINARIES[@]}"; do
    install -m 0755 "$built/$b" "$stage/$b"
done
install -m 0644 LICENSE-APACHE LICENSE-MIT README.md "$stage/"
# Entries as the reference's tarball has them (./bridge, ...), owned by
# root, in a fixed order with a fixed time: the same tree gives the same
# tarball.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$stage" -cf - . | gzip -n -9 >"$dist/$name"
rm -rf "$stage"
(
    cd "$dist"
    sha256sum "$name" >"$name.sha256"
    sha512sum "$name" >"$name.sha512"
)
echo "== $dist/$name"
ls -l "$dist/$name" "$dist/$name.sha256" "$dist/$name.sha512"
