#!/usr/bin/env bash
# A three-node flannel cluster, host-gw backend: the kube-flannel conflist
# (flannel delegating to bridge + host-local, then portmap) on every node,
# with the flannel plugin reading the node's /run/flannel/subnet.env.
#
#   cnix-fhg-pod1a cnix-fhg-pod1b  cnix-fhg-pod2a  cnix-fhg-pod3a   pods, eth0 10.244.N.x
#            \      /                   |               |
#         cnix-fhg-node1         cnix-fhg-node2   cnix-fhg-node3    cni0 10.244.N.1/24
#         172.30.0.11            172.30.0.12      172.30.0.13       eth0 on the underlay
#                 \_____________________|_______________/
#                            cnix-fhg-ul (bridge ul0)
#                                       |
#                            cnix-fhg-out 172.30.0.254              "outside"
#
# host-gw: a node reaches another node's pods through a plain route,
# 10.244.M.0/24 via that node's underlay address (the nodes share one L2
# segment). The script plays flanneld's part by hand (subnet.env, routes,
# FORWARD and masquerade rules); every node's FORWARD policy is DROP.
# Each node runs cnitool in a mount namespace of its own, so /run/flannel
# and /var/lib/cni are the node's, never the machine's.
# See README.md and ../README.md ("The flannel clusters, step by step").
# Exits non-zero when any check fails.
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/privmount.sh
source "$(dirname "$0")/../lib/privmount.sh"
# shellcheck source=SCRIPTDIR/../lib/flannel.sh
source "$(dirname "$0")/../lib/flannel.sh"

ex_init flannel-host-gw
resolve_plugin_dir flannel bridge host-local portmap
resolve_cnitool
need_packages iproute2 iptables nftables socat iputils-ping util-linux python3

MTU=1500

say "plugins: $CNI_PLUGIN_DIR"
say "cnitool: $CNITOOL"
say "state:   $CNIX_WORK (per node: net.d, and the upper layers of its /run and /var)"

fl_init cnix-fhg
fl_make_cluster

step "every node's FORWARD policy: DROP (before any pod)"
fl_forward_drop
fl_check_add_before_flanneld

step "playing flanneld's part (host-gw): subnet.env, routes, FORWARD and masquerade rules"
for n in "${FL_NODES[@]}"; do
    fl_flanneld "$n" "$MTU"
    # host-gw: every other node's pod subnet via that node's underlay address.
    for m in "${FL_NODES[@]}"; do
        [ "$m" = "$n" ] && continue
        ip -n "$(fl_node_ns "$n")" route add "$(fl_subnet "$m")" via "$(fl_node_ip "$m")" dev eth0
    done
done
fl_flanneld_checks "$MTU"
expect "node1's routes to the other nodes' pods" \
    "10.244.2.0/24 via 172.30.0.12 dev eth0 10.244.3.0/24 via 172.30.0.13 dev eth0" \
    sh -c "ip -n $(fl_node_ns 1) -4 route show | grep '^10\.244\.[23]\.' | xargs"
checkpoint

fl_add_pods
fl_check_plugin "$MTU"
fl_check_traffic
expect "node1 routes pod3a's address via node3's underlay address" "via $(fl_node_ip 3) dev eth0" \
    sh -c "ip -n $(fl_node_ns 1) route get ${FL_IP[3a]} | grep -o 'via [0-9.]* dev [a-z0-9]*'"
checkpoint

fl_del_and_check
fl_check_host
