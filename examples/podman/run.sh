#!/usr/bin/env bash
# podman (CNI backend) on a fake node: two containers on our conflist
# (bridge + host-local + portmap), a `-p` host port, container <-> container
# traffic, masquerade to the outside, and a clean teardown.
#
#   cnix-c1 (httpd, -p 8080:80)   cnix-c2 (sleep)      containers (podman netns)
#                \                 /
#                 cnix-pm-node              podman runs here (nsenter), bridge cnix1
#                  | uplink 198.51.100.10
#                  | eth0 198.51.100.1
#                 cnix-pm-out               "outside"
#
# podman's configuration is private (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
# in the temp dir); podman runs in a private mount namespace (lib/privmount.sh)
# so its CNI cache and netns mounts never reach the machine.
# See README.md. Exits non-zero when any check fails or podman cannot run.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/privmount.sh
source "$(dirname "$0")/../lib/privmount.sh"
# shellcheck source=SCRIPTDIR/../lib/podman.sh
source "$(dirname "$0")/../lib/podman.sh"

ex_init podman
resolve_plugin_dir bridge host-local portmap
need_packages podman conmon runc catatonit busybox-static iproute2 iptables nftables

NET=cnix-podman
NODE=cnix-pm-node
OUT=cnix-pm-out
NODE_IP=198.51.100.10
OUT_IP=198.51.100.1
GW=10.23.0.1
IMAGE=localhost/cnix-busybox:latest
STARTED=0
# The cgroup parent of the containers and conmon (cgroupfs manager); removed
# at the end so no empty cgroups stay behind.
CGROUP=cnix-podman

say "plugins: $CNI_PLUGIN_DIR"
say "podman:  $(podman --version)"
say "state:   $CNIX_WORK (containers.conf, storage, net.d, IPAM dataDir)"

export CONTAINERS_CONF=$CNIX_WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$CNIX_WORK/storage.conf
export CONTAINERS_REGISTRIES_CONF=$CNIX_WORK/registries.conf

pm() {
    in_runtime_ns "$NODE" podman "$@"
}

teardown() {
    if [ "$STARTED" = 1 ]; then
        pm rm -f -t 0 cnix-c1 cnix-c2
    fi
    # Anything podman left running in its mount namespace (conmon, cleanup).
    local pids
    pids=$(private_mount_pids)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -9 $pids
    remove_cgroup "$CGROUP"
    return 0
}
CNIX_TEARDOWN=teardown

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
say "  node $NODE_IP, outside $OUT_IP; podman's mount namespace held by pid $CNIX_MNT_HOLDER"

step "private podman configuration"
podman_private_config
sed "s|\"type\": \"host-local\",|\"type\": \"host-local\",\n        \"dataDir\": \"$CNIX_WORK/ipam\",|" \
    "$(dirname "$0")/10-cnix-podman.conflist" >"$CNIX_WORK/net.d/10-cnix-podman.conflist"
check "podman sees the CNI backend and our network" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman network ls --format '{{.Name}} {{.Driver}}' | grep -x '$NET bridge'"
checkpoint

step "busybox image (podman import of a busybox-static rootfs)"
podman_busybox_image "$IMAGE"
checkpoint

step "two containers: cnix-c1 (httpd, -p 8080:80) and cnix-c2"
STARTED=1
pm_run c1 --network "$NET" -p 8080:80 "$IMAGE" httpd -f -p 0.0.0.0:80 -h /www
pm_run c2 --network "$NET" --cap-add NET_RAW "$IMAGE" sleep 600
declare -A IP=() NS=()
pm_addresses c1 c2

check "podman's CNI result cache is in the private /var/lib overlay" \
    sh -c "ls $CNIX_WORK/overlay/var/upper/lib/cni/results | grep -q '^$NET-'"

step "addresses and routes"
for c in c1 c2; do
    check "cnix-$c has an address in 10.23.0.0/24 (${IP[$c]:-none})" grep -q '^10\.23\.0\.' <<<"${IP[$c]:-}"
    expect "cnix-$c: eth0 inside the container has that address" "${IP[$c]:-none}/24" \
        sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman exec cnix-$c ip -4 -o addr show dev eth0 | awk '{print \$4}'"
    expect "cnix-$c: default route" "default via $GW dev eth0" \
        sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman exec cnix-$c ip -4 route show default | awk '{print \$1, \$2, \$3, \$4, \$5}'"
done
checkpoint

step "traffic"
whoami_http_out() {
    # the outside's web server: answers "outside <client address>"
    mkdir -p "$CNIX_WORK/www-out/cgi-bin"
    # shellcheck disable=SC2016 # $REMOTE_ADDR belongs to the generated CGI script
    printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\noutside %%s\\n" "$REMOTE_ADDR"\n' \
        >"$CNIX_WORK/www-out/cgi-bin/whoami"
    chmod +x "$CNIX_WORK/www-out/cgi-bin/whoami"
    bg_in_ns "$OUT" busybox httpd -f -p "$OUT_IP:9000" -h "$CNIX_WORK/www-out"
    wait_tcp_listen "$OUT" 9000 || die "the outside web server did not start"
}
whoami_http_out
expect "loopback is up in cnix-c1 (podman brings lo up itself)" "c1 127.0.0.1" \
    pm exec cnix-c1 timeout 5 wget -q -O- http://127.0.0.1/cgi-bin/whoami
check "ping cnix-c2 -> cnix-c1" pm exec cnix-c2 ping -c1 -W3 "${IP[c1]}"
expect "HTTP cnix-c2 -> cnix-c1:80, c1 sees c2's address" "c1 ${IP[c2]}" \
    pm exec cnix-c2 timeout 5 wget -q -O- "http://${IP[c1]}/cgi-bin/whoami"
expect "HTTP outside -> node:8080 (-p 8080:80) reaches c1, which sees the real client" "c1 $OUT_IP" \
    in_ns "$OUT" timeout 10 busybox wget -q -O- "http://$NODE_IP:8080/cgi-bin/whoami"
expect "HTTP cnix-c2 -> node:8080 reaches c1 (hairpin through the host port)" "c1 $GW" \
    pm exec cnix-c2 timeout 5 wget -q -O- "http://$NODE_IP:8080/cgi-bin/whoami"
expect "HTTP cnix-c2 -> outside, masqueraded to the node's address" "outside $NODE_IP" \
    pm exec cnix-c2 timeout 5 wget -q -O- "http://$OUT_IP:9000/cgi-bin/whoami"
checkpoint

step "teardown: podman rm (podman runs DEL on every plugin)"
check "podman rm -f cnix-c1 cnix-c2" pm rm -f -t 0 cnix-c1 cnix-c2
STARTED=0
expect "no containers left" "" pm ps -a -q
expect "no container veth left on the node" "" \
    sh -c "ip -n $NODE -o link show type veth | grep -v ' uplink@' || true"
expect "no iptables/nftables rule names a container" "" \
    sh -c "{ ip netns exec $NODE iptables-save; ip netns exec $NODE nft list ruleset; } 2>/dev/null | grep -E '${IP[c1]}|${IP[c2]}' || true"
expect "no per-container iptables chains" "" \
    sh -c "ip netns exec $NODE iptables-save -t nat 2>/dev/null | grep -E '^:CNI-(DN-)?[0-9a-f]{16,}' || true"
expect "no IPAM lease files" "" \
    sh -c "find $CNIX_WORK/ipam -type f ! -name 'last_reserved_ip*' ! -name lock"
expect "no CNI cache entries (podman's /var/lib/cni/results)" "" \
    sh -c "find $CNIX_WORK/overlay/var/upper/lib/cni/results -type f 2>/dev/null || true"
expect "the containers' network namespaces are unmounted" "" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt sh -c 'for n in ${NS[c1]:-x} ${NS[c2]:-x}; do mountpoint -q \$n && echo \$n; done; true'"
expect "no conmon or other podman process left" "" private_mount_pids
expect "no process left in our cgroups" "" \
    sh -c "for d in \$(ls -d /sys/fs/cgroup/*/$CGROUP 2>/dev/null); do find \$d -name cgroup.procs -exec cat {} +; done"
remove_cgroup "$CGROUP"
expect "no cgroups of ours left (/sys/fs/cgroup/*/$CGROUP)" "" cgroup_dirs "$CGROUP"
