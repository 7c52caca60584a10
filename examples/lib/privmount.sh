# shellcheck shell=bash
# A private mount namespace for a container runtime (sourced after common.sh).
#
# Runtimes write outside their configured directories: the CNI result cache
# goes to /var/lib/cni (libcni's default; neither podman 4.3 nor containerd
# 1.6 lets the cache dir be configured), runc keeps state in /run/runc,
# containerd's shims put sockets in /run/containerd, and each pod's network
# namespace is bind-mounted under /run/netns. To keep the machine clean, the
# runtime runs in a mount namespace of its own where /var and /run are
# overlays whose upper layers are in the example's temp dir, and where every
# mount (netns bind mounts, container rootfs overlays) is private: when the
# last process of that namespace exits, all of it is gone. (Mounts below /run
# such as /run/netns/* are hidden by the overlay in that namespace; nsenter
# opens the node's netns path before it enters the mount namespace.)
#
# The namespace is held open by a `sleep` started here; in_runtime_ns runs a
# command in it (and in the node's network namespace).

CNIX_MNT_HOLDER=""

start_private_mounts() {
    local dir
    for dir in var run; do
        mkdir -p "$CNIX_WORK/overlay/$dir/upper" "$CNIX_WORK/overlay/$dir/work"
    done
    unshare --mount --propagation private sleep infinity </dev/null >/dev/null 2>&1 9>&- &
    CNIX_MNT_HOLDER=$!
    CNIX_PIDS+=("$CNIX_MNT_HOLDER")
    for _ in $(seq 1 50); do
        [ "$(readlink "/proc/$CNIX_MNT_HOLDER/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
        sleep 0.05
    done
    [ "$(readlink "/proc/$CNIX_MNT_HOLDER/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
        die "could not create a private mount namespace (unshare --mount)"
    for dir in var run; do
        nsenter --mount="/proc/$CNIX_MNT_HOLDER/ns/mnt" mount -t overlay "cnix-$dir" \
            -o "lowerdir=/$dir,upperdir=$CNIX_WORK/overlay/$dir/upper,workdir=$CNIX_WORK/overlay/$dir/work" "/$dir" ||
            die "could not mount an overlay on /$dir in the private mount namespace"
    done
}

# in_runtime_ns NETNS COMMAND...: run in the private mount namespace and the
# given network namespace (nsenter, not `ip netns exec`: that remounts /sys
# and runc then finds no cgroup mount).
in_runtime_ns() {
    local netns=$1
    shift
    nsenter --mount="/proc/$CNIX_MNT_HOLDER/ns/mnt" --net="/run/netns/$netns" "$@"
}

# Processes other than the holder that still live in the private mount
# namespace (a runtime daemon, shims, conmon, cleanup processes).
private_mount_pids() {
    local want p
    want=$(readlink "/proc/$CNIX_MNT_HOLDER/ns/mnt" 2>/dev/null) || return 0
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$CNIX_MNT_HOLDER" ] && continue
        [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$want" ] && echo "$p"
    done
    return 0
}

# The directories of cgroup NAME (a child of the root) in every mounted
# hierarchy, v1 and v2.
cgroup_dirs() {
    local d
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        [ -d "$d" ] && echo "$d"
    done
    return 0
}

# remove_cgroup NAME: kill (by pid) whatever still runs in the runtime's
# cgroup parent NAME, then remove its directories, deepest first.
remove_cgroup() {
    local d pids
    for d in $(cgroup_dirs "$1"); do
        pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | xargs)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    done
    for d in $(cgroup_dirs "$1"); do
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    return 0
}
