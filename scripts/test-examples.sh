#!/usr/bin/env bash
# Run the runnable examples against one plugin directory, in sequence, and
# report each: examples/single-node, multi-node, flannel-host-gw,
# flannel-vxlan, podman, podman-network, containerd.
#
#   scripts/test-examples.sh [EXAMPLE...]      (as root; default: all seven)
#
# CNI_PLUGIN_DIR picks the plugins (default <repo>/target/release when it
# holds `bridge`, else <repo>/target/debug; /usr/lib/cni runs the Debian
# reference plugins). CNITOOL picks cnitool (default: the repo's build).
# The flannel examples need a plugin directory that holds `flannel` (cni-rs
# builds it; the Debian reference plugins have none since 1.0.0).
# The podman and containerd examples install their Debian packages when
# missing; the containerd one also creates a Python venv under target/.
# Each example cleans up after itself; afterwards this script checks that no
# example namespace (cnix-*) is left. Exits non-zero if any example failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "$(id -u)" != 0 ]; then
    echo "test-examples.sh: must run as root (the examples create network namespaces)" >&2
    exit 1
fi

if [ -z "${CNI_PLUGIN_DIR:-}" ]; then
    if [ -x target/release/bridge ]; then
        CNI_PLUGIN_DIR=$PWD/target/release
    else
        CNI_PLUGIN_DIR=$PWD/target/debug
    fi
fi
export CNI_PLUGIN_DIR

examples=("$@")
[ "${#examples[@]}" = 0 ] && examples=(single-node multi-node flannel-host-gw flannel-vxlan podman podman-network containerd)

echo "== examples against $CNI_PLUGIN_DIR"
failed=()
summary=()
for ex in "${examples[@]}"; do
    script=examples/$ex/run.sh
    if [ ! -x "$script" ]; then
        echo "test-examples.sh: no example '$ex' ($script)" >&2
        failed+=("$ex")
        continue
    fi
    echo
    echo "==== example $ex"
    start=$(date +%s%N)
    "$script"
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    secs=$((ms / 1000)).$((ms % 1000 / 100))
    if [ "$rc" = 0 ]; then
        summary+=("  ok    $ex (${secs}s)")
    else
        summary+=("  FAIL  $ex (exit $rc, ${secs}s)")
        failed+=("$ex")
    fi
done

left=$(ip netns list 2>/dev/null | awk '$1 ~ /^cnix-/ {print $1}' | xargs)
if [ -n "$left" ]; then
    summary+=("  FAIL  namespaces left behind: $left")
    failed+=(leftovers)
fi

echo
echo "== examples summary ($CNI_PLUGIN_DIR)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "test-examples: FAILED: ${failed[*]}"
    exit 1
fi
echo "test-examples: all ${#examples[@]} examples passed"
