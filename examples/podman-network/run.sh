#!/usr/bin/env bash
# podman (CNI backend) with the network `podman network create` writes:
# bridge + host-local, portmap, firewall and tuning, exactly as podman 4
# generates them, on a fake node whose FORWARD policy is DROP (what Docker
# or a hardened distro leaves). Checks: the conflist podman wrote, a
# container with `--mac-address` (tuning applies it), `-p 8080:80`,
# container <-> container, the outside through masquerade (only possible
# because firewall opens FORWARD for the containers), and that `podman rm`
# and `podman network rm` leave nothing behind.
#
#   cnix-n1 (httpd, -p 8080:80,      cnix-n2 (sleep)     containers
#            --mac-address)         /
#                 cnix-pn-node               podman runs here (nsenter), FORWARD DROP
#                  | uplink 198.51.100.20
#                  | eth0 198.51.100.1
#                 cnix-pn-out                "outside"
#
# podman's configuration is private (CONTAINERS_CONF in the temp dir) and it
# runs in a private mount namespace (lib/privmount.sh) whose /var and /run
# are overlays in the temp dir: the IPAM store (/var/lib/cni/networks), the
# result cache and tuning's backups never reach the machine.
# See README.md. Exits non-zero when any check fails or podman cannot run.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/privmount.sh
source "$(dirname "$0")/../lib/privmount.sh"
# shellcheck source=SCRIPTDIR/../lib/podman.sh
source "$(dirname "$0")/../lib/podman.sh"

ex_init podman-network
resolve_plugin_dir bridge host-local portmap firewall tuning
need_packages podman conmon runc catatonit busybox-static iproute2 iptables nftables

NET=cnix-pmnet
NODE=cnix-pn-node
OUT=cnix-pn-out
NODE_IP=198.51.100.20
OUT_IP=198.51.100.1
SUBNET=10.24.0.0/24
GW=10.24.0.1
MAC=02:42:0a:18:00:99
IMAGE=localhost/cnix-busybox-net:latest
STARTED=0
# The cgroup parent of the containers and conmon (cgroupfs manager); removed
# at the end so no empty cgroups stay behind.
CGROUP=cnix-podman-network
NETWORK_MADE=0

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
        pm rm -f -t 0 cnix-n1 cnix-n2
    fi
    if [ "$NETWORK_MADE" = 1 ]; then
        pm network rm -f "$NET"
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
# What Docker leaves on a node: forwarded traffic is dropped unless a rule
# accepts it. Only the firewall plugin's rules let the containers out.
ip netns exec "$NODE" iptables -P FORWARD DROP
ip netns exec "$NODE" ip6tables -P FORWARD DROP
expect "the node's FORWARD policy is DROP" "-P FORWARD DROP" \
    sh -c "ip netns exec $NODE iptables -S FORWARD | head -n 1"
start_private_mounts
say "  node $NODE_IP, outside $OUT_IP; podman's mount namespace held by pid $CNIX_MNT_HOLDER"

step "private podman configuration"
podman_private_config
check "podman network create --subnet $SUBNET $NET" pm network create --subnet "$SUBNET" "$NET"
NETWORK_MADE=1
CONFLIST=$CNIX_WORK/net.d/$NET.conflist
say "  podman wrote $CONFLIST:"
sed 's/^/  | /' "$CONFLIST"
echo
expect "the plugins podman chains" "bridge portmap firewall tuning" \
    sh -c "python3 -c 'import json,sys; print(*[p[\"type\"] for p in json.load(open(sys.argv[1]))[\"plugins\"]])' $CONFLIST"
check "podman sees the CNI backend and the network" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman network ls --format '{{.Name}} {{.Driver}}' | grep -x '$NET bridge'"
checkpoint

step "busybox image (podman import of a busybox-static rootfs)"
podman_busybox_image "$IMAGE"
checkpoint

step "two containers: cnix-n1 (httpd, -p 8080:80, --mac-address $MAC) and cnix-n2"
STARTED=1
pm_run n1 --network "$NET" -p 8080:80 --mac-address "$MAC" "$IMAGE" httpd -f -p 0.0.0.0:80 -h /www
pm_run n2 --network "$NET" --cap-add NET_RAW "$IMAGE" sleep 600
declare -A IP=() NS=()
pm_addresses n1 n2

check "podman's CNI result cache is in the private /var/lib overlay" \
    sh -c "ls $CNIX_WORK/overlay/var/upper/lib/cni/results | grep -q '^$NET-'"

step "addresses and routes"
for c in n1 n2; do
    check "cnix-$c has an address in $SUBNET (${IP[$c]:-none})" grep -q '^10\.24\.0\.' <<<"${IP[$c]:-}"
    expect "cnix-$c: eth0 inside the container has that address" "${IP[$c]:-none}/24" \
        sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman exec cnix-$c ip -4 -o addr show dev eth0 | awk '{print \$4}'"
    expect "cnix-$c: default route" "default via $GW dev eth0" \
        sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman exec cnix-$c ip -4 route show default | awk '{print \$1, \$2, \$3, \$4, \$5}'"
done
expect "cnix-n1: eth0 has the MAC asked for with --mac-address (tuning)" "$MAC" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt --net=/run/netns/$NODE podman exec cnix-n1 cat /sys/class/net/eth0/address"
check "tuning keeps cnix-n1's original MAC in a backup for DEL" \
    sh -c "find $CNIX_WORK/overlay/run/upper/cni/tuning -name '*_eth0.json' 2>/dev/null | grep -q ."
check "the node's FORWARD chain jumps to CNI-FORWARD (firewall)" \
    sh -c "ip netns exec $NODE iptables -S FORWARD | grep -q -- '-j CNI-FORWARD'"
for c in n1 n2; do
    check "CNI-FORWARD accepts cnix-$c's traffic (${IP[$c]:-none})" \
        sh -c "ip netns exec $NODE iptables -S CNI-FORWARD | grep -q -- '-s ${IP[$c]:-none}/32 -j ACCEPT'"
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
expect "loopback is up in cnix-n1 (podman brings lo up itself)" "n1 127.0.0.1" \
    pm exec cnix-n1 timeout 5 wget -q -O- http://127.0.0.1/cgi-bin/whoami
check "ping cnix-n2 -> cnix-n1" pm exec cnix-n2 ping -c1 -W3 "${IP[n1]}"
expect "HTTP cnix-n2 -> cnix-n1:80, n1 sees n2's address" "n1 ${IP[n2]}" \
    pm exec cnix-n2 timeout 5 wget -q -O- "http://${IP[n1]}/cgi-bin/whoami"
# firewall opens FORWARD for traffic from a container and for replies to
# it (conntrack RELATED,ESTABLISHED), as the reference does. A connection
# from outside to a host port is new traffic towards the container after
# portmap's DNAT, so FORWARD DROP still stops it: the operator opens it in
# the admin chain, which firewall creates, jumps to first, and never
# touches.
check "HTTP outside -> node:8080 is dropped by FORWARD DROP (firewall does not open host ports)" \
    sh -c "! ip netns exec $OUT timeout 3 busybox wget -q -O- http://$NODE_IP:8080/cgi-bin/whoami"
check "the operator accepts DNAT'd connections in the admin chain CNI-ADMIN" \
    ip netns exec "$NODE" iptables -A CNI-ADMIN -m conntrack --ctstate DNAT -j ACCEPT
expect "HTTP outside -> node:8080 (-p 8080:80) reaches n1, which sees the real client" "n1 $OUT_IP" \
    in_ns "$OUT" timeout 10 busybox wget -q -O- "http://$NODE_IP:8080/cgi-bin/whoami"
expect "HTTP cnix-n2 -> node:8080 reaches n1 (hairpin through the host port)" "n1 $GW" \
    pm exec cnix-n2 timeout 5 wget -q -O- "http://$NODE_IP:8080/cgi-bin/whoami"
expect "HTTP cnix-n2 -> outside through FORWARD DROP, masqueraded to the node's address" "outside $NODE_IP" \
    pm exec cnix-n2 timeout 5 wget -q -O- "http://$OUT_IP:9000/cgi-bin/whoami"
checkpoint

step "teardown: podman rm (podman runs DEL on every plugin), podman network rm"
check "podman rm -f cnix-n1 cnix-n2" pm rm -f -t 0 cnix-n1 cnix-n2
STARTED=0
check "podman network rm $NET" pm network rm "$NET"
NETWORK_MADE=0
expect "no containers left" "" pm ps -a -q
expect "CNI-FORWARD accepts nobody any more (firewall DEL)" "" \
    sh -c "ip netns exec $NODE iptables -S CNI-FORWARD 2>/dev/null | grep -E -- '-[sd] 10\\.24\\.' || true"
expect "no tuning backup files (tuning DEL)" "" \
    sh -c "find $CNIX_WORK/overlay/run/upper/cni/tuning $CNIX_WORK/overlay/var/upper/run/cni/tuning -type f 2>/dev/null || true"
expect "no container veth left on the node" "" \
    sh -c "ip -n $NODE -o link show type veth | grep -v ' uplink@' || true"
expect "no iptables/nftables rule names a container" "" \
    sh -c "{ ip netns exec $NODE iptables-save; ip netns exec $NODE nft list ruleset; } 2>/dev/null | grep -E '${IP[n1]}|${IP[n2]}' || true"
expect "no per-container iptables chains" "" \
    sh -c "ip netns exec $NODE iptables-save -t nat 2>/dev/null | grep -E '^:CNI-(DN-)?[0-9a-f]{16,}' || true"
expect "no IPAM lease files (host-local's default store, in the /var overlay)" "" \
    sh -c "find $CNIX_WORK/overlay/var/upper/lib/cni/networks -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null || true"
expect "no CNI cache entries (podman's /var/lib/cni/results)" "" \
    sh -c "find $CNIX_WORK/overlay/var/upper/lib/cni/results -type f 2>/dev/null || true"
expect "the containers' network namespaces are unmounted" "" \
    sh -c "nsenter --mount=/proc/$CNIX_MNT_HOLDER/ns/mnt sh -c 'for n in ${NS[n1]:-x} ${NS[n2]:-x}; do mountpoint -q \$n && echo \$n; done; true'"
expect "no conmon or other podman process left" "" private_mount_pids
expect "no process left in our cgroups" "" \
    sh -c "for d in \$(ls -d /sys/fs/cgroup/*/$CGROUP 2>/dev/null); do find \$d -name cgroup.procs -exec cat {} +; done"
remove_cgroup "$CGROUP"
expect "no cgroups of ours left (/sys/fs/cgroup/*/$CGROUP)" "" cgroup_dirs "$CGROUP"
