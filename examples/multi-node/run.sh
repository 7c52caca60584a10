#!/usr/bin/env bash
# Three nodes on a shared underlay, one pod per node, host-gw routing.
#
#   cnix-mn-pod1      cnix-mn-pod2      cnix-mn-pod3      pods
#   10.244.1.x        10.244.2.x        10.244.3.x
#        |                 |                 |
#   cnix-mn-node1     cnix-mn-node2     cnix-mn-node3     nodes: bridge cnix0 10.244.N.1
#   172.30.0.11       172.30.0.12       172.30.0.13       eth0 on the underlay
#        \________________ | ________________/
#                   cnix-mn-ul (bridge ul0)               the underlay "switch"
#                          |
#                   cnix-mn-out 172.30.0.254              "outside": the nodes' default
#                                                         gateway, no route to 10.244/16
#
# Each node: the bridge plugin with ipMasq OFF, host-local with the node's pod
# CIDR, a route to every other node's pod CIDR via that node's underlay
# address (host-gw), FORWARD accepting pod traffic, and one masquerade rule
# for traffic from its pods to anything outside the cluster CIDR 10.244.0.0/16.
# So pods see each other's real addresses, while the outside sees the node.
# See README.md. Exits non-zero when any check fails.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

ex_init multi-node
resolve_plugin_dir bridge host-local
resolve_cnitool
need_packages iproute2 iptables nftables socat iputils-ping

NET=cnix-cluster
CLUSTER_CIDR=10.244.0.0/16
UL=cnix-mn-ul
OUT=cnix-mn-out
OUT_IP=172.30.0.254
NODES=(1 2 3)
declare -A IP=()
ADDED=()

say "plugins: $CNI_PLUGIN_DIR"
say "cnitool: $CNITOOL"
say "state:   $CNIX_WORK (per node: conf, IPAM dataDir, cnitool cache)"

node_ip() { echo "172.30.0.1$1"; }

# cnitool_pod N COMMAND: cnitool add|del of the pod on node N, run in node N.
cnitool_pod() {
    in_ns "cnix-mn-node$1" env NETCONFPATH="$CNIX_WORK/node$1/net.d" CNI_PATH="$CNI_PLUGIN_DIR" \
        "$CNITOOL" --cache-dir "$CNIX_WORK/node$1/cache" --container-id "cnix-pod$1" \
        "$2" "$NET" "/run/netns/cnix-mn-pod$1"
}

teardown() {
    local n
    for n in "${ADDED[@]}"; do
        cnitool_pod "$n" del
    done
}
CNIX_TEARDOWN=teardown

step "underlay, outside and three nodes"
mk_underlay "$UL" "$OUT" "$OUT_IP" cnix-mn-node1 cnix-mn-node2 cnix-mn-node3
for n in "${NODES[@]}"; do
    node=cnix-mn-node$n
    ip -n "$node" addr add "$(node_ip "$n")/24" dev eth0
    ip -n "$node" link set eth0 up
    ip -n "$node" route add default via "$OUT_IP"
    # host-gw: every other node's pod CIDR via that node's underlay address.
    for m in "${NODES[@]}"; do
        [ "$m" = "$n" ] && continue
        ip -n "$node" route add "10.244.$m.0/24" via "$(node_ip "$m")"
    done
    # The node's firewall (what a cluster's network agent would install):
    # forward pod traffic even when the FORWARD policy is DROP, and
    # masquerade only traffic leaving the cluster CIDR.
    in_ns "$node" iptables -P FORWARD DROP
    in_ns "$node" iptables -A FORWARD -s "$CLUSTER_CIDR" -j ACCEPT
    in_ns "$node" iptables -A FORWARD -d "$CLUSTER_CIDR" -j ACCEPT
    in_ns "$node" iptables -t nat -A POSTROUTING -s "10.244.$n.0/24" ! -d "$CLUSTER_CIDR" \
        -m comment --comment "cnix: pods to outside the cluster" -j MASQUERADE
    mkdir -p "$CNIX_WORK/node$n/net.d" "$CNIX_WORK/node$n/cache" "$CNIX_WORK/node$n/ipam"
    sed -e "s|@POD_CIDR@|10.244.$n.0/24|" -e "s|@DATA_DIR@|$CNIX_WORK/node$n/ipam|" \
        "$(dirname "$0")/node.conflist.in" >"$CNIX_WORK/node$n/net.d/10-cnix-cluster.conflist"
    mk_ns "cnix-mn-pod$n"
    say "  node$n: underlay $(node_ip "$n"), pod CIDR 10.244.$n.0/24, routes: $(ip -n "$node" -4 route show | grep -c 'via 172.30.0.1') to other nodes"
done

step "ADD one pod on each node"
for n in "${NODES[@]}"; do
    if ! cnitool_pod "$n" add >"$CNIX_WORK/pod$n.result" 2>"$CNIX_WORK/pod$n.err"; then
        sed 's/^/  | /' "$CNIX_WORK/pod$n.err"
        die "cnitool add on node$n failed"
    fi
    ADDED+=("$n")
    IP[$n]=$(pod_ip "cnix-mn-pod$n")
    say "  pod$n on node$n: eth0 ${IP[$n]:-<none>}"
done

step "pod addresses and routes"
for n in "${NODES[@]}"; do
    check "pod$n has an address from node$n's CIDR 10.244.$n.0/24 (${IP[$n]:-none})" \
        grep -q "^10\.244\.$n\." <<<"${IP[$n]:-}"
    expect "pod$n: default route" "via 10.244.$n.1 dev eth0" default_route "cnix-mn-pod$n"
done
checkpoint

step "pod -> pod across nodes: routed, not NATed"
for n in "${NODES[@]}"; do
    whoami_server "cnix-mn-pod$n" 80 "pod$n"
done
check "ping pod1 (node1) -> pod3 (node3)" ping_ok cnix-mn-pod1 "${IP[3]}"
check "ping pod3 (node3) -> pod1 (node1)" ping_ok cnix-mn-pod3 "${IP[1]}"
check "ping pod2 (node2) -> pod3 (node3)" ping_ok cnix-mn-pod2 "${IP[3]}"
expect "TCP pod1 -> pod3:80, pod3 sees pod1's real address" "pod3 ${IP[1]}" \
    tcp_ask cnix-mn-pod1 "${IP[3]}" 80
expect "TCP pod3 -> pod2:80, pod2 sees pod3's real address" "pod2 ${IP[3]}" \
    tcp_ask cnix-mn-pod3 "${IP[2]}" 80
expect "TCP pod2 -> pod1:80, pod1 sees pod2's real address" "pod1 ${IP[2]}" \
    tcp_ask cnix-mn-pod2 "${IP[1]}" 80
expect "node1 routes pod3's address via node3's underlay address" "via $(node_ip 3) dev eth0" \
    sh -c "ip -n cnix-mn-node1 route get ${IP[3]} | grep -o 'via [0-9.]* dev [a-z0-9]*'"

step "pod -> outside: masqueraded to the node's underlay address"
whoami_server "$OUT" 9000 outside
for n in "${NODES[@]}"; do
    expect "TCP pod$n -> outside, outside sees node$n" "outside $(node_ip "$n")" \
        tcp_ask "cnix-mn-pod$n" "$OUT_IP" 9000
done
checkpoint

step "DEL every pod"
for n in "${NODES[@]}"; do
    check "cnitool del pod$n on node$n" cnitool_pod "$n" del
done
ADDED=()

step "nothing left behind"
for n in "${NODES[@]}"; do
    expect "node$n: no pod veth left" "" sh -c "ip -n cnix-mn-node$n -o link show type veth | grep -v ' eth0@' || true"
    expect "node$n: no IPAM lease files" "" \
        sh -c "find $CNIX_WORK/node$n/ipam -type f ! -name 'last_reserved_ip*' ! -name lock"
    expect "node$n: no cnitool cache entries" "" sh -c "find $CNIX_WORK/node$n/cache -type f"
    expect "node$n: no firewall rule names the pod" "" \
        sh -c "ip netns exec cnix-mn-node$n nft list ruleset 2>/dev/null | grep -E '${IP[$n]}|cnix-pod$n' || true"
done
