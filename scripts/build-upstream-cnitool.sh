#!/usr/bin/env bash
# Build upstream cnitool for the differential tests of our cnitool and
# libcni runtime (libcni/cnitool/tests). Idempotent: prints the binary's
# path and exits at once when it is already built.
#
# What is built: the cnitool of containernetworking/cni as Debian 12 ships it
# (source package golang-github-appc-cni, 1.1.2), against Debian's packaged
# libcni (golang-github-appc-cni-dev), offline, in GOPATH mode, with
# Debian's Go. Nothing is committed; everything lands under
# <target>/upstream-cnitool/ (default target dir: ./target).
#
# The only change from upstream: libcni's default cache directory
# (/var/lib/cni) is set at link time to <out>/default-cache, so the binary
# can never touch the machine's real cache. Tests bind-mount a temp dir over
# that path inside a private mount namespace to give each run its own cache.
#
# Needs root only to install the Debian packages when they are missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-${CARGO_TARGET_DIR:-$root/target}}"
out="$target/upstream-cnitool"
bin="$out/cnitool"
mkdir -p "$out/default-cache"

# Concurrent test binaries may call this at the same time.
exec 9>"$out/.lock"
flock 9

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

log() { echo "build-upstream-cnitool: $*" >&2; }

packages=(golang-go golang-github-appc-cni-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

gopath="$out/gopath"
main="$gopath/src/cnitool-upstream"
if [ ! -f "$main/cnitool.go" ]; then
    # The -dev package holds libcni but not cnitool's main package: fetch
    # Debian's source package with apt, using a private copy of the
    # machine's Debian sources turned into deb-src entries (the system's apt
    # configuration is not changed).
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/src"
    : >"$tmp/sources.list"
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb \(.*debian.*\)$/deb-src \1/p' /etc/apt/sources.list >"$tmp/sources.list"
    fi
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        grep -qi '^URIs:.*debian' "$f" || continue
        sed 's/^Types:.*/Types: deb-src/' "$f" >"$tmp/parts/$(basename "$f")"
    done
    apt_opts=(
        -o "Dir::Etc::SourceList=$tmp/sources.list"
        -o "Dir::Etc::SourceParts=$tmp/parts"
        -o "Dir::State::Lists=$tmp/lists"
        -o "Dir::Cache::Archives=$tmp/archives"
        -o "APT::Sandbox::User=root"
    )
    log "fetching the golang-github-appc-cni source package"
    # A third-party repository without sources makes update complain; the
    # source download below is what must succeed.
    apt-get "${apt_opts[@]}" update -q >&2 || true
    version="$(dpkg-query -W -f='${Version}' golang-github-appc-cni-dev)"
    (cd "$tmp/src" && apt-get "${apt_opts[@]}" source --download-only "golang-github-appc-cni=$version" >&2)
    orig="$(ls "$tmp"/src/golang-github-appc-cni_*.orig.tar.* | head -n1)"
    tar -xf "$orig" -C "$tmp/src" --wildcards '*/cnitool/*.go'
    mkdir -p "$main"
    find "$tmp/src" -path '*/cnitool/*.go' ! -name '*_test.go' -exec cp {} "$main/" \;
    [ -f "$main/cnitool.go" ] || { log "cnitool.go not found in $orig"; exit 1; }
fi

log "building upstream cnitool"
# GOENV=off: CI may run without $HOME; GOPROXY=off: GOPATH mode never
# needs the network, and must not try.
GO111MODULE=off GOFLAGS= GOENV=off GOPROXY=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$out/gocache" \
    go build \
    -ldflags "-X github.com/containernetworking/cni/libcni.CacheDir=$out/default-cache" \
    -o "$bin.tmp" cnitool-upstream
mv "$bin.tmp" "$bin"
echo "$bin"
