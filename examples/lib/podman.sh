# shellcheck shell=bash
# podman with its CNI backend, privately configured (sourced after
# common.sh and privmount.sh, with CONTAINERS_CONF, CONTAINERS_STORAGE_CONF
# and CONTAINERS_REGISTRIES_CONF set and a function `pm` that runs podman
# in the runtime's namespaces).

# podman_private_config: containers.conf (CNI backend, our plugin dir,
# network configs in $CNIX_WORK/net.d, runc and cgroupfs), storage.conf and
# registries.conf, all in the example's temp dir.
podman_private_config() {
    mkdir -p "$CNIX_WORK/net.d" "$CNIX_WORK/ipam" "$CNIX_WORK/storage" "$CNIX_WORK/libpod-tmp" "$CNIX_WORK/image-tmp"
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
    [ "$nofile" = unlimited ] && nofile=1048576
    cat >"$CONTAINERS_CONF" <<EOF
[containers]
# The hard limits we have: podman's defaults need CAP_SYS_RESOURCE to raise.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_PLUGIN_DIR"]
network_config_dir = "$CNIX_WORK/net.d"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CNIX_WORK/events.log"
tmp_dir = "$CNIX_WORK/libpod-tmp"
image_copy_tmp_dir = "$CNIX_WORK/image-tmp"
EOF
    cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
runroot = "$CNIX_WORK/storage/run"
graphroot = "$CNIX_WORK/storage/root"
EOF
    printf 'unqualified-search-registries = []\n' >"$CONTAINERS_REGISTRIES_CONF"
}

# podman_busybox_image IMAGE: a busybox-static rootfs with a CGI that
# answers "<hostname> <client address>", imported as IMAGE.
podman_busybox_image() {
    local image=$1 rootfs=$CNIX_WORK/rootfs applet
    mkdir -p "$rootfs/bin" "$rootfs/www/cgi-bin" "$rootfs/tmp" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    # A CGI that answers with the container's name and the client address it sees.
    cat >"$rootfs/www/cgi-bin/whoami" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n%s %s\n' "$(hostname)" "$REMOTE_ADDR"
EOF
    chmod +x "$rootfs/www/cgi-bin/whoami"
    echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
    tar -C "$rootfs" -cf "$CNIX_WORK/rootfs.tar" .
    check "podman import" pm import --quiet "$CNIX_WORK/rootfs.tar" "$image"
}

# pm_run NAME PODMAN-RUN-ARGS...: start container cnix-NAME (detached, in
# $CGROUP, stopped with KILL) or die showing podman's output.
pm_run() {
    local name=$1
    shift
    if ! pm run -d --name "cnix-$name" --hostname "$name" --cgroup-parent "/$CGROUP" \
        --init --stop-signal KILL "$@" >"$CNIX_WORK/run.out" 2>&1; then
        sed 's/^/  | /' "$CNIX_WORK/run.out"
        die "podman run cnix-$name failed: the runtime could not start the container (output above)"
    fi
}

# pm_addresses NAME...: fill IP[NAME] and NS[NAME] (the container's address
# on $NET and its network namespace) from podman inspect. IP and NS are the
# caller's associative arrays (declare -A).
# shellcheck disable=SC2004
pm_addresses() {
    local c
    for c in "$@"; do
        IP[$c]=$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "cnix-$c")
        NS[$c]=$(pm inspect -f '{{.NetworkSettings.SandboxKey}}' "cnix-$c")
        say "  cnix-$c: ${IP[$c]:-<no address>} (netns ${NS[$c]:-?})"
    done
}
