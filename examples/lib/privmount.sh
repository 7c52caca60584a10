# shellcheck shell=bash
# Private mount namespaces for a container runtime or a fake node (sourced
# after common.sh).
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
# command in it (and in the node's network namespace). The flannel examples
# make one such namespace per node (lib/flannel.sh), so that every node has
# a /run/flannel and a /var/lib/cni of its own.

CNIX_MNT_HOLDER=""
# The holder started by the last private_mount_ns call.
CNIX_MNT_NEW=""

# private_mount_ns DIR [keep-netns]: a new private mount namespace, held open
# by a `sleep` (killed on exit), whose /var and /run are overlays with their
# upper layers in DIR/var and DIR/run. Its pid is left in CNIX_MNT_NEW (not
# printed: the holder must be a child of the example's shell).
#
# With keep-netns, the machine's /run/netns (the bind mounts of the network
# namespaces that exist now) is moved back on top of the overlay, so a tool
# inside can be given /run/netns/NAME paths; namespaces created after this
# call do not appear in it (the mounts are private).
private_mount_ns() {
    local top=$1 keep=${2:-} dir pid mnt
    for dir in var run; do
        mkdir -p "$top/$dir/upper" "$top/$dir/work"
    done
    unshare --mount --propagation private sleep infinity </dev/null >/dev/null 2>&1 9>&- &
    pid=$!
    CNIX_PIDS+=("$pid")
    for _ in $(seq 1 50); do
        [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
        sleep 0.05
    done
    [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
        die "could not create a private mount namespace (unshare --mount)"
    mnt=(nsenter --mount="/proc/$pid/ns/mnt")
    if [ "$keep" = keep-netns ]; then
        mkdir -p "$top/netns"
        "${mnt[@]}" mount --rbind /run/netns "$top/netns" ||
            die "could not keep /run/netns in the private mount namespace"
    fi
    for dir in var run; do
        "${mnt[@]}" mount -t overlay "cnix-$dir" \
            -o "lowerdir=/$dir,upperdir=$top/$dir/upper,workdir=$top/$dir/work" "/$dir" ||
            die "could not mount an overlay on /$dir in the private mount namespace"
    done
    if [ "$keep" = keep-netns ]; then
        "${mnt[@]}" mkdir -p /run/netns
        "${mnt[@]}" mount --move "$top/netns" /run/netns ||
            die "could not put /run/netns back in the private mount namespace"
    fi
    CNIX_MNT_NEW=$pid
}

# The container runtime's mount namespace, upper layers in $CNIX_WORK/overlay.
start_private_mounts() {
    private_mount_ns "$CNIX_WORK/overlay"
    CNIX_MNT_HOLDER=$CNIX_MNT_NEW
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
