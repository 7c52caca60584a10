#!/usr/bin/env bash
# A three-node flannel cluster, VXLAN backend: the kube-flannel conflist
# (flannel delegating to bridge + host-local, then portmap) on every node,
# with the flannel plugin reading the node's /run/flannel/subnet.env.
#
#   cnix-fvx-pod1a cnix-fvx-pod1b  cnix-fvx-pod2a  cnix-fvx-pod3a   pods, eth0 10.244.N.x, MTU 1450
#            \      /                   |               |
#         cnix-fvx-node1         cnix-fvx-node2   cnix-fvx-node3    cni0 10.244.N.1/24, MTU 1450
#         flannel.1 10.244.1.0   flannel.1 .2.0   flannel.1 .3.0    VXLAN VNI 1, UDP 8472
#         172.30.0.11            172.30.0.12      172.30.0.13       eth0 on the underlay, MTU 1500
#                 \_____________________|_______________/
#                            cnix-fvx-ul (bridge ul0)
#                                       |
#                            cnix-fvx-out 172.30.0.254              "outside"
#
# VXLAN: pod traffic between nodes travels inside UDP between the nodes'
# underlay addresses, so the underlay never sees a pod address and the pods'
# MTU is 50 bytes smaller (FLANNEL_MTU=1450). The script plays flanneld's
# part by hand (subnet.env, flannel.1 with its routes, neighbours and FDB
# entries, FORWARD and masquerade rules); every node's FORWARD policy is
# DROP. Each node runs cnitool in a mount namespace of its own, so
# /run/flannel and /var/lib/cni are the node's, never the machine's.
# See README.md and ../README.md ("The flannel clusters, step by step").
# Exits non-zero when any check fails.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/privmount.sh
source "$(dirname "$0")/../lib/privmount.sh"
# shellcheck source=SCRIPTDIR/../lib/flannel.sh
source "$(dirname "$0")/../lib/flannel.sh"

ex_init flannel-vxlan
resolve_plugin_dir flannel bridge host-local portmap
resolve_cnitool
need_packages iproute2 iptables nftables socat iputils-ping util-linux python3

MTU=1450
declare -A VTEP_MAC=()

# df_ping_refused NS ADDRESS SIZE: a don't-fragment ping of SIZE bytes of
# data must fail because it does not fit the MTU on its way.
df_ping_refused() {
    local out
    if out=$(in_ns "$1" ping -c1 -W1 -M "do" -s "$3" "$2" 2>&1); then
        printf '%s\n' "$out"
        return 1
    fi
    printf '%s\n' "$out"
    grep -q "mtu=$MTU" <<<"$out"
}

say "plugins: $CNI_PLUGIN_DIR"
say "cnitool: $CNITOOL"
say "state:   $CNIX_WORK (per node: net.d, its /run/flannel and /var/lib/cni)"

fl_init cnix-fvx
fl_make_cluster

step "every node's FORWARD policy: DROP (before any pod)"
fl_forward_drop
fl_check_add_before_flanneld

step "playing flanneld's part (VXLAN): subnet.env, flannel.1, routes, neighbours, FDB, FORWARD and masquerade rules"
for n in "${FL_NODES[@]}"; do
    node=$(fl_node_ns "$n")
    fl_flanneld "$n" "$MTU"
    # The node's VXLAN endpoint: VNI 1 on UDP 8472 from the underlay
    # address, no learning (flanneld writes every entry itself), MTU 1450
    # = 1500 minus the 50 bytes of outer IPv4, UDP and VXLAN headers.
    ip -n "$node" link add flannel.1 type vxlan id 1 local "$(fl_node_ip "$n")" dev eth0 dstport 8472 nolearning
    ip -n "$node" link set flannel.1 mtu "$MTU"
    ip -n "$node" addr add "10.244.$n.0/32" dev flannel.1
    ip -n "$node" link set flannel.1 up
    VTEP_MAC[$n]=$(ip -n "$node" -o link show dev flannel.1 | sed -n 's|.*link/ether \([0-9a-f:]*\) .*|\1|p')
    say "  node$n: flannel.1 10.244.$n.0, MAC ${VTEP_MAC[$n]}"
done
for n in "${FL_NODES[@]}"; do
    node=$(fl_node_ns "$n")
    for m in "${FL_NODES[@]}"; do
        [ "$m" = "$n" ] && continue
        # Node m's pods via node m's flannel.1 address (onlink: a /32 has no
        # subnet to find it in), that address's MAC, and where that MAC
        # lives on the underlay.
        ip -n "$node" route add "$(fl_subnet "$m")" via "10.244.$m.0" dev flannel.1 onlink
        ip -n "$node" neigh add "10.244.$m.0" lladdr "${VTEP_MAC[$m]}" dev flannel.1 nud permanent
        bridge -n "$node" fdb add "${VTEP_MAC[$m]}" dev flannel.1 dst "$(fl_node_ip "$m")" self permanent
    done
done
fl_flanneld_checks "$MTU"
check "node1's flannel.1: VXLAN id 1, local $(fl_node_ip 1), dstport 8472, nolearning, mtu $MTU" \
    sh -c "ip -n $(fl_node_ns 1) -d link show flannel.1 | tr '\n' ' ' | grep -E 'mtu $MTU .*vxlan id 1 local $(fl_node_ip 1) dev eth0 .*dstport 8472 nolearning'"
expect "node1's routes to the other nodes' pods" \
    "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink" \
    sh -c "ip -n $(fl_node_ns 1) -4 route show | grep '^10\.244\.[23]\.' | xargs"
expect "node1's neighbour entry for node3's flannel.1" "10.244.3.0 lladdr ${VTEP_MAC[3]} PERMANENT" \
    sh -c "ip -n $(fl_node_ns 1) neigh show 10.244.3.0 dev flannel.1 | xargs"
expect "node1's FDB entry: node3's flannel.1 MAC lives at node3's underlay address" "${VTEP_MAC[3]} dst $(fl_node_ip 3) self permanent" \
    sh -c "bridge -n $(fl_node_ns 1) fdb show dev flannel.1 | grep '^${VTEP_MAC[3]} ' | xargs"
checkpoint

fl_add_pods
fl_check_plugin "$MTU"
fl_check_traffic

step "VXLAN: the path between nodes and its MTU"
expect "node1 routes pod3a's address through flannel.1" "via 10.244.3.0 dev flannel.1" \
    sh -c "ip -n $(fl_node_ns 1) route get ${FL_IP[3a]} | grep -o 'via [0-9.]* dev [a-z0-9.]*'"
check "node1's flannel.1 carried the pods' packets (TX counter)" \
    sh -c "[ \$(ip netns exec $(fl_node_ns 1) cat /sys/class/net/flannel.1/statistics/tx_packets) -gt 0 ]"
check "ping pod1a -> pod3a with 1422 bytes of data, don't fragment (1450-byte packets)" \
    in_ns "$(fl_pod_ns 1a)" ping -c1 -W3 -q -M "do" -s 1422 "${FL_IP[3a]}"
check "ping pod1a -> pod3a with 1423 bytes, don't fragment, does not pass (mtu=$MTU)" \
    df_ping_refused "$(fl_pod_ns 1a)" "${FL_IP[3a]}" 1423
checkpoint

fl_del_and_check
fl_check_host
