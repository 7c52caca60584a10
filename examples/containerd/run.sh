#!/usr/bin/env bash
# containerd's CRI plugin (the kubelet's path) on a fake node: two pod
# sandboxes on our conflist (bridge + host-local + portmap, plus the loopback
# network containerd always adds), a host port, pod <-> pod and outside
# traffic, and both DELs containerd sends (StopPodSandbox with the netns,
# then RemovePodSandbox without), with a clean teardown.
#
#   pod cnix-a (httpd, hostPort 8081)   pod cnix-b (client)
#                 \                       /
#                  cnix-ct-node                containerd runs here (nsenter), bridge cnix2
#                   | uplink 198.51.100.10
#                   | eth0 198.51.100.1
#                  cnix-ct-out                 "outside"
#
# containerd's config, root, state and socket are private (temp dir); it runs
# in a private mount namespace (lib/privmount.sh). The CRI calls come from a
# small Python client (cri.py) using the PyPI package
# container-runtime-interface-api in a venv under target/.
# See README.md. Exits non-zero when any check fails or containerd cannot run.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/privmount.sh
source "$(dirname "$0")/../lib/privmount.sh"

ex_init containerd
resolve_plugin_dir loopback bridge host-local portmap
need_packages containerd runc busybox-static python3 python3-venv iproute2 iptables nftables

HERE=$(cd "$(dirname "$0")" && pwd)
NET=cnix-containerd
NODE=cnix-ct-node
OUT=cnix-ct-out
NODE_IP=198.51.100.10
OUT_IP=198.51.100.1
GW=10.24.0.1
IMAGE=localhost/cnix-busybox:latest
CGROUP=cnix-containerd
CTRD=$CNIX_WORK/containerd
VENV=${CNIX_CRI_VENV:-$CNIX_REPO/target/cnix-cri-venv}
CRI_PKGS=(container-runtime-interface-api==2.0.1 grpcio==1.85.1 protobuf==6.33.6)
CTRD_PID=""
export CRI_SOCK=$CTRD/containerd.sock CRI_STATE=$CNIX_WORK/cri CRI_CGROUP_PARENT=/$CGROUP

say "plugins:    $CNI_PLUGIN_DIR"
say "containerd: $(containerd --version)"
say "state:      $CNIX_WORK (config, root, state, socket, net.d, IPAM dataDir)"

cri() { "$VENV/bin/python" "$HERE/cri.py" "$@"; }
ctr_() { ctr --address "$CRI_SOCK" --namespace k8s.io "$@"; }

stop_containerd() {
    [ -n "$CTRD_PID" ] || return 0
    kill "$CTRD_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$CTRD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$CTRD_PID" 2>/dev/null || true
    wait "$CTRD_PID" 2>/dev/null || true
    CTRD_PID=""
}

teardown() {
    # Every sandbox: a NOTREADY one still holds its netns, veth, lease and
    # DNAT rules until it is stopped and removed.
    [ -n "$CTRD_PID" ] && cri cleanup
    stop_containerd
    local pids
    pids=$(private_mount_pids)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -9 $pids
    remove_cgroup "$CGROUP"
    return 0
}
CNIX_TEARDOWN=teardown

step "CRI client (venv with ${CRI_PKGS[*]})"
if ! "$VENV/bin/python" -c 'import cri_api.v1.api_pb2_grpc' 2>/dev/null; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV" || die "could not create a Python venv in $VENV (python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${CRI_PKGS[@]}" >"$CNIX_WORK/pip.log" 2>&1 || {
        tail -20 "$CNIX_WORK/pip.log" >&2
        rm -rf "$VENV"
        die "pip could not install ${CRI_PKGS[*]} (needs PyPI)"
    }
fi
say "  $VENV"

step "fake node and outside namespaces"
mk_ns "$NODE"
mk_ns "$OUT"
ip -n "$NODE" link add uplink type veth peer name eth0 netns "$OUT"
ip -n "$NODE" addr add "$NODE_IP/24" dev uplink
ip -n "$NODE" link set uplink up
ip -n "$OUT" addr add "$OUT_IP/24" dev eth0
ip -n "$OUT" link set eth0 up
ip -n "$NODE" route add default via "$OUT_IP"
start_private_mounts
say "  node $NODE_IP, outside $OUT_IP; containerd's mount namespace held by pid $CNIX_MNT_HOLDER"

step "containerd with a private configuration"
mkdir -p "$CTRD" "$CRI_STATE" "$CNIX_WORK/net.d" "$CNIX_WORK/ipam"
sed "s|\"type\": \"host-local\",|\"type\": \"host-local\",\n        \"dataDir\": \"$CNIX_WORK/ipam\",|" \
    "$HERE/10-cnix-containerd.conflist" >"$CNIX_WORK/net.d/10-cnix-containerd.conflist"
cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"

[grpc]
  address = "$CRI_SOCK"

[ttrpc]
  address = "$CRI_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE"
  # No CAP_SYS_RESOURCE on this kind of machine: keep the OOM score at or
  # above containerd's own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_PLUGIN_DIR"
    conf_dir = "$CNIX_WORK/net.d"
    max_conf_num = 1
EOF
# Not through a shell function: $! must be containerd itself (nsenter execs it).
nsenter --mount="/proc/$CNIX_MNT_HOLDER/ns/mnt" --net="/run/netns/$NODE" \
    containerd --config "$CTRD/config.toml" </dev/null >"$CTRD/containerd.log" 2>&1 9>&- &
CTRD_PID=$!
for _ in $(seq 1 100); do
    ctr_ version >/dev/null 2>&1 && break
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.1
done
if ! ctr_ version >/dev/null 2>&1; then
    tail -20 "$CTRD/containerd.log" | sed 's/^/  | /'
    die "containerd did not start (log above)"
fi
check "containerd's CRI plugin loaded" sh -c "ctr --address $CRI_SOCK plugins ls | grep -E 'io.containerd.grpc.v1 +cri +.* ok'"
checkpoint

step "busybox image (docker-archive of a busybox-static rootfs, ctr import)"
rootfs=$CNIX_WORK/rootfs
mkdir -p "$rootfs/bin" "$rootfs/www/cgi-bin" "$rootfs/tmp" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
cat >"$rootfs/www/cgi-bin/whoami" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n%s %s\n' "$(hostname)" "$REMOTE_ADDR"
EOF
chmod +x "$rootfs/www/cgi-bin/whoami"
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
tar -C "$rootfs" -cf "$CNIX_WORK/layer.tar" .
# The image's default command keeps the pod sandbox ("pause") alive.
/usr/bin/python3 "$HERE/../lib/mkimage.py" "$CNIX_WORK/layer.tar" "$CNIX_WORK/image.tar" "$IMAGE" \
    sleep 2147483647 || die "could not build the image archive"
check "ctr images import" ctr_ images import "$CNIX_WORK/image.tar"
checkpoint

step "two pod sandboxes (RunPodSandbox: containerd runs CNI ADD)"
for spec in "a 8081" "b -"; do
    # shellcheck disable=SC2086 # "name hostport"
    set -- $spec
    if ! cri run-pod "cnix-$1" "$2" >"$CNIX_WORK/pod.out" 2>&1; then
        sed 's/^/  | /' "$CNIX_WORK/pod.out"
        tail -5 "$CTRD/containerd.log" | sed 's/^/  | /'
        die "RunPodSandbox cnix-$1 failed (containerd could not set up the pod)"
    fi
done
A_CTR=$(cri start cnix-a web "$IMAGE" httpd -f -p 0.0.0.0:80 -h /www) || die "starting the web container in cnix-a failed"
B_CTR=$(cri start cnix-b client "$IMAGE" sleep 2147483647) || die "starting the client container in cnix-b failed"
declare -A IP=()
for p in a b; do
    IP[$p]=$(cri pod-ip "cnix-$p")
    say "  cnix-$p: ${IP[$p]:-<no address>}"
done

check "containerd's CNI result cache is in the private /var/lib overlay" \
    sh -c "ls $CNIX_WORK/overlay/var/upper/lib/cni/results | grep -q '^$NET-'"

step "addresses and routes"
for p in a b; do
    check "cnix-$p has an address in 10.24.0.0/24 (${IP[$p]:-none})" grep -q '^10\.24\.0\.' <<<"${IP[$p]:-}"
done
expect "cnix-a: eth0 inside the pod has that address" "${IP[a]:-none}/24" \
    sh -c "'$VENV/bin/python' '$HERE/cri.py' exec $A_CTR ip -4 -o addr show dev eth0 | awk '{print \$4}'"
expect "cnix-b: default route" "default via $GW dev eth0" \
    sh -c "'$VENV/bin/python' '$HERE/cri.py' exec $B_CTR ip -4 route show default | awk '{print \$1, \$2, \$3, \$4, \$5}'"
expect "cnix-a: loopback is up (containerd's loopback network)" "cnix-a 127.0.0.1" \
    cri exec "$A_CTR" timeout 5 wget -q -O- http://127.0.0.1/cgi-bin/whoami
checkpoint

step "traffic"
mkdir -p "$CNIX_WORK/www-out/cgi-bin"
# shellcheck disable=SC2016 # $REMOTE_ADDR belongs to the generated CGI script
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\noutside %%s\\n" "$REMOTE_ADDR"\n' \
    >"$CNIX_WORK/www-out/cgi-bin/whoami"
chmod +x "$CNIX_WORK/www-out/cgi-bin/whoami"
bg_in_ns "$OUT" busybox httpd -f -p "$OUT_IP:9000" -h "$CNIX_WORK/www-out"
wait_tcp_listen "$OUT" 9000 || die "the outside web server did not start"
expect "HTTP cnix-b -> cnix-a:80, a sees b's address" "cnix-a ${IP[b]}" \
    cri exec "$B_CTR" timeout 5 wget -q -O- "http://${IP[a]}/cgi-bin/whoami"
expect "HTTP outside -> node:8081 (hostPort) reaches a, which sees the real client" "cnix-a $OUT_IP" \
    in_ns "$OUT" timeout 10 busybox wget -q -O- "http://$NODE_IP:8081/cgi-bin/whoami"
expect "HTTP cnix-b -> node:8081 reaches a (masqueraded to the bridge address)" "cnix-a $GW" \
    cri exec "$B_CTR" timeout 5 wget -q -O- "http://$NODE_IP:8081/cgi-bin/whoami"
expect "HTTP cnix-b -> outside, masqueraded to the node's address" "outside $NODE_IP" \
    cri exec "$B_CTR" timeout 5 wget -q -O- "http://$OUT_IP:9000/cgi-bin/whoami"
checkpoint

leftovers() {
    # what the attachment of pod $1 (address $2) would leave on the node
    ip -n "$NODE" -o link show type veth | grep -v ' uplink@'
    { ip netns exec "$NODE" iptables-save; ip netns exec "$NODE" nft list ruleset; } 2>/dev/null | grep -F "$2"
    find "$CNIX_WORK/ipam" -type f -name "$2"
    return 0
}
count_leftovers() { leftovers "$@" | wc -l; }

step "StopPodSandbox (containerd runs CNI DEL with the pod's netns)"
check "StopPodSandbox cnix-a" cri stop-pod cnix-a
expect "cnix-a is NOTREADY" SANDBOX_NOTREADY cri pod-state cnix-a
expect "cnix-a's veth, DNAT rules and lease are gone; cnix-b's veth remains" "1" \
    count_leftovers a "${IP[a]}"
check "StopPodSandbox cnix-b" cri stop-pod cnix-b
expect "nothing of cnix-b left after its stop" "" leftovers b "${IP[b]}"

step "RemovePodSandbox (containerd runs CNI DEL again, without a netns)"
check "RemovePodSandbox cnix-a" cri remove-pod cnix-a
check "RemovePodSandbox cnix-b" cri remove-pod cnix-b
expect "no pod sandboxes left" "" cri pods

step "nothing left behind"
expect "no pod veth left on the node" "" \
    sh -c "ip -n $NODE -o link show type veth | grep -v ' uplink@' || true"
expect "no iptables/nftables rule names a pod" "" \
    sh -c "{ ip netns exec $NODE iptables-save; ip netns exec $NODE nft list ruleset; } 2>/dev/null | grep -E '${IP[a]}|${IP[b]}' || true"
expect "no per-pod iptables chains" "" \
    sh -c "ip netns exec $NODE iptables-save -t nat 2>/dev/null | grep -E '^:CNI-(DN-)?[0-9a-f]{16,}' || true"
expect "no IPAM lease files" "" \
    sh -c "find $CNIX_WORK/ipam -type f ! -name 'last_reserved_ip*' ! -name lock"
expect "no CNI cache entries (containerd's /var/lib/cni/results)" "" \
    sh -c "find $CNIX_WORK/overlay/var/upper/lib/cni/results -type f 2>/dev/null || true"
expect "no pod netns mounts left" "" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt sh -c 'grep -E \" nsfs \" /proc/self/mounts | grep -E \"$CTRD|/run/netns/cni-\" || true'"
stop_containerd
expect "no containerd, shim or container process left" "" private_mount_pids
expect "no process left in our cgroups" "" \
    sh -c "for d in \$(ls -d /sys/fs/cgroup/*/$CGROUP 2>/dev/null); do find \$d -name cgroup.procs -exec cat {} +; done"
remove_cgroup "$CGROUP"
expect "no cgroups of ours left (/sys/fs/cgroup/*/$CGROUP)" "" cgroup_dirs "$CGROUP"
