# shellcheck shell=bash
# Shared helpers for the runnable examples (sourced by examples/*/run.sh).
#
# Every example runs entirely inside network namespaces it creates (named
# cnix-<example>-*), keeps its state in one temp dir, and tears everything
# down on exit, also after a failure or Ctrl-C. It never touches the root
# namespace's links, addresses, routes or firewall, nor /etc/cni, /opt/cni or
# /var/lib/cni.
#
# Settings (environment):
#   CNI_PLUGIN_DIR  plugin binaries (default <repo>/target/release when it
#                   holds `bridge`, else <repo>/target/debug)
#   CNITOOL         cnitool binary (default <repo>/target/{release,debug}/cnitool,
#                   built with `cargo build -p cnitool` when neither exists)
#   CNIX_VERBOSE=1  print the commands' output on success too

set -euo pipefail

CNIX_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CNIX_FAILS=0
CNIX_CHECKS=0
CNIX_NAMESPACES=()
CNIX_PIDS=()
CNIX_WORK=""
CNIX_NAME=""
CNIX_START=$(date +%s)
# Set by an example: a function run first on exit (e.g. DEL of the pods).
CNIX_TEARDOWN=""

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}

# check DESCRIPTION COMMAND...: run the command, print ok/FAIL with the
# description; a failure is counted (the example exits non-zero at the end)
# and the command's output is shown.
check() {
    local desc=$1 out rc
    shift
    CNIX_CHECKS=$((CNIX_CHECKS + 1))
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        printf '  ok    %s\n' "$desc"
        [ "${CNIX_VERBOSE:-}" = 1 ] && [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/        | /'
        return 0
    fi
    CNIX_FAILS=$((CNIX_FAILS + 1))
    printf '  FAIL  %s (exit %s)\n' "$desc" "$rc"
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/        | /'
    return 0
}

# expect DESCRIPTION EXPECTED COMMAND...: the command's trimmed stdout must
# equal EXPECTED; prints what was seen either way.
expect() {
    local desc=$1 want=$2 got rc
    shift 2
    CNIX_CHECKS=$((CNIX_CHECKS + 1))
    set +e
    got=$("$@" 2>"$CNIX_WORK/expect.err")
    rc=$?
    set -e
    got=$(printf '%s' "$got" | tr -d '\r' | sed -e 's/[[:space:]]*$//')
    if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then
        printf '  ok    %s: %s\n' "$desc" "${got:-(none)}"
        return 0
    fi
    CNIX_FAILS=$((CNIX_FAILS + 1))
    printf '  FAIL  %s: expected "%s", got "%s" (exit %s)\n' "$desc" "$want" "$got" "$rc"
    sed 's/^/        | /' "$CNIX_WORK/expect.err" || true
    return 0
}

# Stop at this point when a check failed: later steps would only pile up
# confusing follow-on failures. Teardown still runs (EXIT trap).
checkpoint() {
    if [ "$CNIX_FAILS" -gt 0 ]; then
        printf '\n%s check(s) failed; stopping here (cleaning up).\n' "$CNIX_FAILS" >&2
        exit 1
    fi
}

# The plugin directory under test, validated: every named plugin must exist.
resolve_plugin_dir() {
    if [ -z "${CNI_PLUGIN_DIR:-}" ]; then
        if [ -x "$CNIX_REPO/target/release/bridge" ]; then
            CNI_PLUGIN_DIR=$CNIX_REPO/target/release
        else
            CNI_PLUGIN_DIR=$CNIX_REPO/target/debug
        fi
    fi
    CNI_PLUGIN_DIR=$(cd "$CNI_PLUGIN_DIR" 2>/dev/null && pwd) ||
        die "CNI_PLUGIN_DIR=${CNI_PLUGIN_DIR} does not exist (build with 'cargo build --release', or point CNI_PLUGIN_DIR at a plugin directory such as /usr/lib/cni)"
    local p
    for p in "$@"; do
        [ -x "$CNI_PLUGIN_DIR/$p" ] ||
            die "plugin '$p' not found in $CNI_PLUGIN_DIR (build with 'cargo build --release', or set CNI_PLUGIN_DIR)"
    done
    export CNI_PLUGIN_DIR
}

# True when the plugin dir holds the Debian reference plugins (used only to
# tolerate their known bugs, e.g. portmap CHECK on v4-only pods, plugins#819).
is_reference_dir() {
    [ "$CNI_PLUGIN_DIR" = /usr/lib/cni ] || [ "${CNIX_REFERENCE_PLUGINS:-}" = 1 ]
}

resolve_cnitool() {
    if [ -n "${CNITOOL:-}" ]; then
        [ -x "$CNITOOL" ] || die "CNITOOL=$CNITOOL is not executable"
    elif [ -x "$CNIX_REPO/target/release/cnitool" ]; then
        CNITOOL=$CNIX_REPO/target/release/cnitool
    elif [ -x "$CNIX_REPO/target/debug/cnitool" ]; then
        CNITOOL=$CNIX_REPO/target/debug/cnitool
    else
        say "cnitool not built yet: cargo build -p cnitool"
        (cd "$CNIX_REPO" && cargo build -q -p cnitool) || die "building cnitool failed"
        CNITOOL=$CNIX_REPO/target/debug/cnitool
    fi
    export CNITOOL
}

# Debian packages the example needs, installed when missing.
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" = 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$CNIX_WORK/apt.log" 2>&1; then
        apt-get update -q >>"$CNIX_WORK/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >>"$CNIX_WORK/apt.log" 2>&1 || {
            tail -20 "$CNIX_WORK/apt.log" >&2
            die "could not install ${missing[*]}"
        }
    fi
}

# Kill every process still running in a namespace we made (by pid), then
# delete the namespace.
kill_ns_pids() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -z "$pids" ] && return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
}

del_ns() {
    local ns=$1
    [ -e "/run/netns/$ns" ] || return 0
    kill_ns_pids "$ns"
    ip netns del "$ns" 2>/dev/null || true
}

# mk_ns NAME: a fresh namespace with lo up, removed on exit. A namespace of
# the same name left by a killed earlier run is removed first.
mk_ns() {
    local ns=$1
    del_ns "$ns"
    ip netns add "$ns"
    CNIX_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
}

# mk_underlay UL OUT OUT_IP NODE...: the multi-node examples' wiring. UL is
# the underlay "switch" (bridge ul0), OUT the "outside" at OUT_IP/24 on it,
# and each NODE namespace (made here) gets an eth0 on ul0, not yet
# addressed; the host-side port of node N is named nN after its position.
mk_underlay() {
    local ul=$1 out=$2 out_ip=$3 node i=0
    shift 3
    mk_ns "$ul"
    ip -n "$ul" link add ul0 type bridge
    ip -n "$ul" link set ul0 up
    mk_ns "$out"
    ip -n "$ul" link add out type veth peer name eth0 netns "$out"
    ip -n "$ul" link set out master ul0 up
    ip -n "$out" addr add "$out_ip/24" dev eth0
    ip -n "$out" link set eth0 up
    for node in "$@"; do
        i=$((i + 1))
        mk_ns "$node"
        ip -n "$ul" link add "n$i" type veth peer name eth0 netns "$node"
        ip -n "$ul" link set "n$i" master ul0 up
    done
}

# in_ns NS COMMAND...: run a command in a namespace.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# bg_in_ns NS COMMAND...: start a background process in a namespace; it is
# killed on exit.
bg_in_ns() {
    local ns=$1
    shift
    # fd 9 is the example's lock: a leftover process must not hold it.
    ip netns exec "$ns" "$@" </dev/null >>"$CNIX_WORK/bg.log" 2>&1 9>&- &
    CNIX_PIDS+=($!)
}

# wait_tcp_listen NS PORT: wait until something listens on PORT in NS (the
# kernel is asked; gives up after ~5 s).
wait_tcp_listen() {
    local ns=$1 port=$2 i
    for i in $(seq 1 50); do
        in_ns "$ns" ss -Htln "sport = :$port" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# ex_init NAME: lock, temp dir, traps. Must be called by every example.
ex_init() {
    CNIX_NAME=$1
    [ "$(id -u)" = 0 ] || die "run as root (the example creates network namespaces)"
    # Lock the example's own script: one run at a time, and no lock file to
    # leave behind.
    exec 9<"${BASH_SOURCE[1]}"
    flock -n 9 || die "another run of the $CNIX_NAME example is in progress"
    # Temp dirs of earlier runs that were killed before their trap ran.
    rm -rf "/tmp/cnix-$CNIX_NAME."* 2>/dev/null || true
    CNIX_WORK=$(mktemp -d "/tmp/cnix-$CNIX_NAME.XXXXXX")
    trap ex_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

ex_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$CNIX_TEARDOWN" ]; then
        "$CNIX_TEARDOWN" >>"$CNIX_WORK/teardown.log" 2>&1
    fi
    local pid ns
    for pid in "${CNIX_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${CNIX_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for ((i = ${#CNIX_NAMESPACES[@]} - 1; i >= 0; i--)); do
        del_ns "${CNIX_NAMESPACES[$i]}"
    done
    if [ "$rc" != 0 ] && [ -n "$CNIX_WORK" ] && [ -s "$CNIX_WORK/bg.log" ] && [ "${CNIX_VERBOSE:-}" = 1 ]; then
        say "--- background processes' output:"
        sed 's/^/  | /' "$CNIX_WORK/bg.log"
    fi
    [ -n "$CNIX_WORK" ] && [ -z "${CNIX_KEEP:-}" ] && rm -rf "$CNIX_WORK"
    local secs=$(($(date +%s) - CNIX_START))
    if [ "$rc" = 0 ] && [ "$CNIX_FAILS" = 0 ]; then
        printf '\n%s: all %s checks passed (%ss)\n' "$CNIX_NAME" "$CNIX_CHECKS" "$secs"
        exit 0
    fi
    printf '\n%s: FAILED (%s of %s checks failed, exit %s, %ss)\n' "$CNIX_NAME" "$CNIX_FAILS" "$CNIX_CHECKS" "$rc" "$secs" >&2
    [ "$rc" = 0 ] && rc=1
    exit "$rc"
}

# whoami_server NS PORT LABEL: a TCP server in NS that answers every
# connection with "LABEL <client address as seen by the server>", which shows
# whether (and how) the traffic was NATed on its way.
whoami_server() {
    local ns=$1 port=$2 label=$3
    bg_in_ns "$ns" socat "TCP-LISTEN:$port,fork,reuseaddr" "SYSTEM:echo $label \$SOCAT_PEERADDR"
    wait_tcp_listen "$ns" "$port" || die "the test server in $ns did not start on port $port"
}

# tcp_ask NS HOST PORT: connect from NS and print what the server answered.
tcp_ask() {
    timeout 10 ip netns exec "$1" socat -T5 -u "TCP:$2:$3,connect-timeout=5" -
}

# ping_ok NS ADDRESS: one echo round trip.
ping_ok() {
    ip netns exec "$1" ping -c1 -W3 -q "$2" >/dev/null
}

# pod_ip NS [IFNAME]: the IPv4 address of the pod's interface, without prefix.
pod_ip() {
    ip -n "$1" -4 -o addr show dev "${2:-eth0}" scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

# default_route NS: "via <gateway> dev <ifname>" of the namespace's default route.
default_route() {
    ip -n "$1" -4 route show default | awk '{print $2, $3, $4, $5; exit}'
}
