#!/usr/bin/env bash
# Install the plugins and cnitool on a node (what `make install` runs).
#
#   scripts/install.sh bin     binaries from target/release into $DESTDIR$BINDIR
#   scripts/install.sh conf    the example conflist into $DESTDIR$CONFDIR
#
# Settings (environment): DESTDIR (staging root, default none), PREFIX
# (default /opt/cni), BINDIR (default $PREFIX/bin, the directory a runtime's
# bin_dir / cni_plugin_dirs points at), CONFDIR (default /etc/cni/net.d),
# TARGET_DIR (default <repo>/target/release), FORCE=1 to replace an existing
# conflist.
#
# Each binary is copied next to its destination and renamed over it, so a
# plugin that a runtime is executing at that moment keeps running the old
# file and the next call gets the new one: binaries can be switched on a node
# with pods running.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/cni}
BINDIR=${BINDIR:-$PREFIX/bin}
CONFDIR=${CONFDIR:-/etc/cni/net.d}
TARGET_DIR=${TARGET_DIR:-$repo/target/release}
DESTDIR=${DESTDIR:-}
BINARIES=(bridge host-local portmap loopback ptp firewall tuning bandwidth flannel cnitool)
CONFLIST=$repo/examples/conf/10-cni-rs.conflist

die() {
    echo "install.sh: $*" >&2
    exit 1
}

# atomic_install SRC DEST MODE: copy to a temp file in DEST's directory, then
# rename over DEST.
atomic_install() {
    local src=$1 dest=$2 mode=$3 dir tmp
    dir=$(dirname "$dest")
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$(basename "$dest").XXXXXX")
    if ! { cp "$src" "$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$dest"; }; then
        rm -f "$tmp"
        die "could not install $dest"
    fi
    echo "installed $dest"
}

case "${1:-}" in
bin)
    for b in "${BINARIES[@]}"; do
        [ -x "$TARGET_DIR/$b" ] ||
            die "$TARGET_DIR/$b not found: build first ('cargo build --release --workspace --bins' or 'make release')"
    done
    for b in "${BINARIES[@]}"; do
        atomic_install "$TARGET_DIR/$b" "$DESTDIR$BINDIR/$b" 0755
    done
    ;;
conf)
    dest=$DESTDIR$CONFDIR/$(basename "$CONFLIST")
    if [ -e "$dest" ] && [ "${FORCE:-}" != 1 ]; then
        die "$dest exists; not replacing it (FORCE=1 to replace)"
    fi
    atomic_install "$CONFLIST" "$dest" 0644
    echo "note: a runtime uses the first conflist of $CONFDIR in name order (containerd: max_conf_num)"
    ;;
*)
    echo "usage: $0 bin|conf   (see the comment at the top of this script)" >&2
    exit 2
    ;;
esac
