# shellcheck shell=bash
# A three-node flannel cluster made of network namespaces (sourced by
# examples/flannel-*/run.sh after common.sh and privmount.sh).
#
#   PFX-pod1a  PFX-pod1b    PFX-pod2a          PFX-pod3a        pods: eth0 10.244.N.x
#        \       /              |                  |
#        PFX-node1          PFX-node2          PFX-node3        nodes: cni0 10.244.N.1/24
#        172.30.0.11        172.30.0.12        172.30.0.13      eth0 on the underlay
#             \__________________|__________________/
#                        PFX-ul (bridge ul0)                    the underlay "switch"
#                                |
#                        PFX-out 172.30.0.254                   "outside": the nodes' default
#                                                               gateway, no route to 10.244/16
#
# What both backends share lives here, once:
# - the namespaces, and one private mount namespace per node (/run and /var
#   are overlays on the example's temp dir, /run/flannel and /var/lib/cni
#   empty directories of the temp dir bound on them), so that every node has
#   its own /run/flannel/subnet.env and /var/lib/cni while the machine's are
#   never touched nor seen;
# - the kube-flannel conflist (lib/flannel.conflist), the same file on every
#   node, as kube-flannel's install-cni container copies it;
# - the backend-independent part of flanneld: subnet.env, the FORWARD accept
#   rules and the masquerade rules (--ip-masq);
# - the pods (cnitool ADD and DEL inside the node's namespaces), the checks
#   and the teardown.
# Each run.sh adds its backend's part of flanneld (routes, VXLAN device).

FL_NET=cbr0
FL_CLUSTER=10.244.0.0/16
FL_NODES=(1 2 3)
# Pod N<letter> runs on node N.
FL_PODS=(1a 1b 2a 3a)
FL_OUT_IP=172.30.0.254
# The pod published on a host port (portmap), and the port.
FL_HP_POD=2a
FL_HP_PORT=8080
FL_PREFIX=""
declare -A FL_HOLDER=() FL_IP=()
FL_ADDED=()
FL_HOST_BEFORE=""

fl_node_ip() { echo "172.30.0.1$1"; }
fl_subnet() { echo "10.244.$1.0/24"; }
fl_node_ns() { echo "$FL_PREFIX-node$1"; }
fl_pod_ns() { echo "$FL_PREFIX-pod$1"; }
fl_pod_node() { echo "${1%?}"; }

# in_node N COMMAND...: run in node N's network namespace and its private
# mount namespace (where /run/flannel and /var/lib/cni are the node's own).
in_node() {
    local n=$1
    shift
    nsenter --mount="/proc/${FL_HOLDER[$n]}/ns/mnt" --net="/run/netns/$(fl_node_ns "$n")" "$@"
}

# What the machine has at /run/flannel and /var/lib/cni (normally nothing):
# compared at the end.
fl_host_state() {
    local d
    for d in /run/flannel /var/lib/cni; do
        if [ -e "$d" ]; then
            find "$d" -printf '%p %s %T@\n' 2>/dev/null | sort
        else
            echo "$d absent"
        fi
    done | paste -sd ';' | sed 's/;/; /g'
}

# fl_init PREFIX: names, the machine's state before, the teardown.
fl_init() {
    FL_PREFIX=$1
    FL_HOST_BEFORE=$(fl_host_state)
    # shellcheck disable=SC2034 # run by ex_exit (common.sh)
    CNIX_TEARDOWN=fl_teardown
}

fl_teardown() {
    local p
    for p in "${FL_ADDED[@]}"; do
        fl_cnitool "$p" del
    done
}

# fl_cnitool POD add|del: what the kubelet's runtime does for the pod, with
# cnitool, in the pod's node. NETCONFPATH holds the kube-flannel conflist;
# the cache and every plugin's state go to the node's private /var/lib/cni.
# The pod FL_HP_POD asks for a host port (capability portMappings).
fl_cnitool() {
    local p=$1 verb=$2 n caps=()
    n=$(fl_pod_node "$p")
    [ "$p" = "$FL_HP_POD" ] &&
        caps=("CAP_ARGS={\"portMappings\":[{\"hostPort\":$FL_HP_PORT,\"containerPort\":80,\"protocol\":\"tcp\"}]}")
    in_node "$n" env NETCONFPATH="$CNIX_WORK/node$n/net.d" CNI_PATH="$CNI_PLUGIN_DIR" "${caps[@]}" \
        "$CNITOOL" --container-id "cnix-pod$p" "$verb" "$FL_NET" "/run/netns/$(fl_pod_ns "$p")"
}

# The underlay, the outside, the nodes, the pods' namespaces, each node's
# private mounts and conflist.
fl_make_cluster() {
    local ul=$FL_PREFIX-ul out=$FL_PREFIX-out n p node
    step "underlay, outside, three nodes and the pods' namespaces"
    local nodes=()
    for n in "${FL_NODES[@]}"; do
        nodes+=("$(fl_node_ns "$n")")
    done
    mk_underlay "$ul" "$out" "$FL_OUT_IP" "${nodes[@]}"
    for n in "${FL_NODES[@]}"; do
        node=$(fl_node_ns "$n")
        ip -n "$node" addr add "$(fl_node_ip "$n")/24" dev eth0
        ip -n "$node" link set eth0 up
        ip -n "$node" route add default via "$FL_OUT_IP"
        say "  $node: eth0 $(fl_node_ip "$n")"
    done
    # Before the nodes' mount namespaces: each copies /run/netns as it is
    # when it is made.
    for p in "${FL_PODS[@]}"; do
        mk_ns "$(fl_pod_ns "$p")"
    done
    say "  pods' namespaces: $(for p in "${FL_PODS[@]}"; do printf '%s ' "$(fl_pod_ns "$p")"; done)"

    step "a private /run and /var on every node; the kube-flannel conflist"
    for n in "${FL_NODES[@]}"; do
        private_mount_ns "$CNIX_WORK/node$n" keep-netns
        FL_HOLDER[$n]=$CNIX_MNT_NEW
        # Empty directories of the node's own on /run/flannel and
        # /var/lib/cni, whatever the machine has there: the mount points
        # are made in the overlays, the machine never sees them.
        mkdir -p "$CNIX_WORK/node$n/run-flannel" "$CNIX_WORK/node$n/var-lib-cni"
        nsenter --mount="/proc/${FL_HOLDER[$n]}/ns/mnt" sh -ec "
            mkdir -p /run/flannel /var/lib/cni
            mount --bind $CNIX_WORK/node$n/run-flannel /run/flannel
            mount --bind $CNIX_WORK/node$n/var-lib-cni /var/lib/cni" ||
            die "could not mount node$n's /run/flannel and /var/lib/cni"
        mkdir -p "$CNIX_WORK/node$n/net.d"
        cp "$CNIX_REPO/examples/lib/flannel.conflist" "$CNIX_WORK/node$n/net.d/10-flannel.conflist"
        say "  node$n: mount namespace held by pid ${FL_HOLDER[$n]}; /run/flannel is $CNIX_WORK/node$n/run-flannel, /var/lib/cni is $CNIX_WORK/node$n/var-lib-cni"
    done
    say "  every node's $CNIX_WORK/nodeN/net.d/10-flannel.conflist (kube-flannel's cni-conf.json):"
    sed 's/^/  | /' "$CNIX_REPO/examples/lib/flannel.conflist"
    check "node1 sees a /run/netns/ path of a pod (kept through its private /run)" \
        in_node 1 test -e "/run/netns/$(fl_pod_ns 1a)"
    expect "node1's /run/flannel and /var/lib/cni are empty" "" in_node 1 find /run/flannel /var/lib/cni -mindepth 1
    checkpoint
}

# What Docker (or a hardened distro) leaves on a node: forwarded traffic is
# dropped unless a rule accepts it. Done before any pod exists.
fl_forward_drop() {
    local n
    for n in "${FL_NODES[@]}"; do
        in_ns "$(fl_node_ns "$n")" iptables -P FORWARD DROP
    done
    expect "node1's FORWARD policy is DROP" "-P FORWARD DROP" \
        sh -c "ip netns exec $(fl_node_ns 1) iptables -S FORWARD | head -n 1"
}

# A pod that comes before flanneld: the kubelet may start pods before
# flanneld has written subnet.env. ADD must fail naming the file, and leave
# nothing behind (cnitool then runs DEL, which finds no saved delegate).
fl_check_add_before_flanneld() {
    step "ADD before flanneld wrote subnet.env"
    check "ADD of pod1a on node1 fails, naming /run/flannel/subnet.env" fl_add_fails_naming_env 1a
    expect "node1: no saved delegate, no lease, no veth" "" fl_pod_traces 1
}

# fl_add_fails_naming_env POD
fl_add_fails_naming_env() {
    local out
    if out=$(fl_cnitool "$1" add 2>&1); then
        printf '%s\n' "$out"
        return 1
    fi
    printf '%s\n' "$out"
    grep -q /run/flannel/subnet.env <<<"$out"
}

# fl_pod_traces N: what pods leave on node N: saved delegates, leases,
# cached results, veths.
fl_pod_traces() {
    in_node "$1" find /var/lib/cni -type f ! -name lock ! -name 'last_reserved_ip*'
    ip -n "$(fl_node_ns "$1")" -o link show type veth | grep -v ' eth0@' || true
}

# --- playing flanneld's part (the backend-independent half) ---------------
#
# fl_flanneld N MTU: what flanneld does on node N once it holds the lease
# for 10.244.N.0/24, apart from its backend's routes (run.sh):
# 1. write /run/flannel/subnet.env, which the flannel plugin reads on every
#    ADD (atomically: a temp file, then a rename);
# 2. accept forwarded traffic from and to the cluster network (FLANNEL-FWD,
#    jumped to from FORWARD), so pods work under FORWARD DROP;
# 3. --ip-masq: masquerade in FLANNEL-POSTRTG, first in nat POSTROUTING:
#    nothing between pods; pods to anything else (not multicast) as the
#    node; nothing from outside to this node's own pods; anything else to
#    the cluster network as the node.
# kube-flannel runs flanneld with --ip-masq, so FLANNEL_IPMASQ=true and the
# plugin gives the bridge ipMasq false: flanneld's rules do it instead.
fl_flanneld() {
    local n=$1 mtu=$2 node rnd=() ipt
    node=$(fl_node_ns "$n")
    in_node "$n" sh -ec "mkdir -p /run/flannel
cat >/run/flannel/subnet.env.tmp <<EOF
FLANNEL_NETWORK=$FL_CLUSTER
FLANNEL_SUBNET=10.244.$n.1/24
FLANNEL_MTU=$mtu
FLANNEL_IPMASQ=true
EOF
mv /run/flannel/subnet.env.tmp /run/flannel/subnet.env"
    ipt=(ip netns exec "$node" iptables -w)
    "${ipt[@]}" -N FLANNEL-FWD
    "${ipt[@]}" -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
    "${ipt[@]}" -A FLANNEL-FWD -s "$FL_CLUSTER" -m comment --comment "flanneld forward" -j ACCEPT
    "${ipt[@]}" -A FLANNEL-FWD -d "$FL_CLUSTER" -m comment --comment "flanneld forward" -j ACCEPT
    # flanneld adds --random-fully when iptables knows it.
    in_ns "$node" iptables -j MASQUERADE --help 2>/dev/null | grep -q -- --random-fully && rnd=(--random-fully)
    "${ipt[@]}" -t nat -N FLANNEL-POSTRTG
    "${ipt[@]}" -t nat -I POSTROUTING 1 -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
    "${ipt[@]}" -t nat -A FLANNEL-POSTRTG -s "$FL_CLUSTER" -d "$FL_CLUSTER" -m comment --comment "flanneld masq" -j RETURN
    "${ipt[@]}" -t nat -A FLANNEL-POSTRTG -s "$FL_CLUSTER" ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE "${rnd[@]}"
    "${ipt[@]}" -t nat -A FLANNEL-POSTRTG ! -s "$FL_CLUSTER" -d "$(fl_subnet "$n")" -m comment --comment "flanneld masq" -j RETURN
    "${ipt[@]}" -t nat -A FLANNEL-POSTRTG ! -s "$FL_CLUSTER" -d "$FL_CLUSTER" -m comment --comment "flanneld masq" -j MASQUERADE "${rnd[@]}"
}

# fl_flanneld_checks MTU: what fl_flanneld left, seen from node1.
fl_flanneld_checks() {
    local mtu=$1
    expect "node1's /run/flannel/subnet.env" \
        "FLANNEL_NETWORK=$FL_CLUSTER FLANNEL_SUBNET=10.244.1.1/24 FLANNEL_MTU=$mtu FLANNEL_IPMASQ=true" \
        sh -c "nsenter --mount=/proc/${FL_HOLDER[1]}/ns/mnt cat /run/flannel/subnet.env | xargs"
    expect "node1's FORWARD jumps to FLANNEL-FWD" "1" \
        sh -c "ip netns exec $(fl_node_ns 1) iptables -S FORWARD | grep -c -- '-j FLANNEL-FWD'"
    expect "node1's nat POSTROUTING starts with FLANNEL-POSTRTG" "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG" \
        sh -c "ip netns exec $(fl_node_ns 1) iptables -t nat -S POSTROUTING | sed -n 2p"
}
# --- end of flanneld's part -------------------------------------------------

# ADD every pod, as the kubelet's runtime would (through cnitool).
fl_add_pods() {
    local p n
    step "ADD the pods: cnitool in each node's namespaces, the kube-flannel conflist"
    for p in "${FL_PODS[@]}"; do
        n=$(fl_pod_node "$p")
        if ! fl_cnitool "$p" add >"$CNIX_WORK/pod$p.result" 2>"$CNIX_WORK/pod$p.err"; then
            sed 's/^/  | /' "$CNIX_WORK/pod$p.err"
            die "cnitool add of pod$p on node$n failed"
        fi
        FL_ADDED+=("$p")
        FL_IP[$p]=$(pod_ip "$(fl_pod_ns "$p")")
        say "  pod$p on node$n: eth0 ${FL_IP[$p]:-<none>}"
    done
}

# fl_saved_delegate POD: the delegate config the flannel plugin saved for
# the pod in its node's /var/lib/cni/flannel, keys sorted, compact.
fl_saved_delegate() {
    local p=$1
    in_node "$(fl_pod_node "$p")" cat "/var/lib/cni/flannel/cnix-pod$p" |
        python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":")))'
}

# fl_link_mtu NS IFNAME
fl_link_mtu() {
    ip -n "$1" -o link show dev "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'
}

# fl_check_plugin MTU: what the flannel plugin (and its bridge delegate) did.
fl_check_plugin() {
    local mtu=$1 p n ns
    step "what the flannel plugin did: the delegate it saved, addresses, routes, MTU"
    for p in "${FL_PODS[@]}"; do
        n=$(fl_pod_node "$p")
        ns=$(fl_pod_ns "$p")
        check "pod$p has an address from node$n's subnet $(fl_subnet "$n") (${FL_IP[$p]:-none})" \
            grep -q "^10\.244\.$n\." <<<"${FL_IP[$p]:-}"
        expect "pod$p: default route (isDefaultGateway)" "via 10.244.$n.1 dev eth0" default_route "$ns"
        expect "pod$p: a route to the cluster network (FLANNEL_NETWORK)" "$FL_CLUSTER via 10.244.$n.1 dev eth0" \
            sh -c "ip -n $ns -4 route show $FL_CLUSTER | awk '{print \$1, \$2, \$3, \$4, \$5; exit}'"
        expect "pod$p: eth0 MTU is FLANNEL_MTU" "$mtu" fl_link_mtu "$ns" eth0
    done
    for n in "${FL_NODES[@]}"; do
        expect "node$n: bridge cni0 MTU is FLANNEL_MTU" "$mtu" fl_link_mtu "$(fl_node_ns "$n")" cni0
        expect "node$n: cni0 is the pods' gateway" "10.244.$n.1/24" \
            sh -c "ip -n $(fl_node_ns "$n") -4 -o addr show dev cni0 | awk '{print \$4}'"
    done
    expect "cnitool's result for pod1a is in the conflist's version" "0.3.1" \
        python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cniVersion"])' "$CNIX_WORK/pod1a.result"
    for p in 1a 2a; do
        n=$(fl_pod_node "$p")
        expect "the delegate saved in node$n's /var/lib/cni/flannel/cnix-pod$p" \
            "{\"cniVersion\":\"0.3.1\",\"hairpinMode\":true,\"ipMasq\":false,\"ipam\":{\"ranges\":[[{\"subnet\":\"$(fl_subnet "$n")\"}]],\"routes\":[{\"dst\":\"$FL_CLUSTER\"}],\"type\":\"host-local\"},\"isDefaultGateway\":true,\"isGateway\":true,\"mtu\":$mtu,\"name\":\"$FL_NET\",\"type\":\"bridge\"}" \
            fl_saved_delegate "$p"
    done
    # shellcheck disable=SC2016 # expanded by the node's shell
    expect "node1: /var/lib/cni/flannel is 0700, the saved file 0600" "700 600" \
        in_node 1 sh -c 'printf "%s %s\n" "$(stat -c %a /var/lib/cni/flannel)" "$(stat -c %a /var/lib/cni/flannel/cnix-pod1a)"'
    expect "node1: host-local's leases are in /var/lib/cni/networks/$FL_NET (the node's own)" "${FL_IP[1a]:-} ${FL_IP[1b]:-}" \
        in_node 1 sh -c "ls /var/lib/cni/networks/$FL_NET | grep -v -e '^last_reserved_ip' -e '^lock$' | sort -V | xargs"
    checkpoint
}

# fl_check_traffic: pods, nodes, the outside, the host port.
fl_check_traffic() {
    local p n out=$FL_PREFIX-out hp_ns
    step "pod -> pod: across nodes and on one node, not NATed"
    for p in "${FL_PODS[@]}"; do
        whoami_server "$(fl_pod_ns "$p")" 80 "pod$p"
    done
    check "ping pod1a (node1) -> pod3a (node3)" ping_ok "$(fl_pod_ns 1a)" "${FL_IP[3a]}"
    expect "TCP pod1a -> pod3a:80, pod3a sees pod1a's real address" "pod3a ${FL_IP[1a]}" \
        tcp_ask "$(fl_pod_ns 1a)" "${FL_IP[3a]}" 80
    expect "TCP pod3a -> pod1b:80, pod1b sees pod3a's real address" "pod1b ${FL_IP[3a]}" \
        tcp_ask "$(fl_pod_ns 3a)" "${FL_IP[1b]}" 80
    expect "TCP pod2a -> pod1a:80, pod1a sees pod2a's real address" "pod1a ${FL_IP[2a]}" \
        tcp_ask "$(fl_pod_ns 2a)" "${FL_IP[1a]}" 80
    expect "TCP pod1b -> pod1a:80 (same node), pod1a sees pod1b's real address" "pod1a ${FL_IP[1b]}" \
        tcp_ask "$(fl_pod_ns 1b)" "${FL_IP[1a]}" 80

    step "node -> its own pods"
    for p in "${FL_PODS[@]}"; do
        n=$(fl_pod_node "$p")
        check "ping node$n -> pod$p" ping_ok "$(fl_node_ns "$n")" "${FL_IP[$p]}"
    done
    expect "TCP node1 -> pod1a:80, pod1a sees cni0's address" "pod1a 10.244.1.1" \
        tcp_ask "$(fl_node_ns 1)" "${FL_IP[1a]}" 80
    checkpoint

    step "pod -> outside: masqueraded by flanneld's rules to the node's underlay address"
    whoami_server "$out" 9000 outside
    for p in "${FL_PODS[@]}"; do
        n=$(fl_pod_node "$p")
        expect "TCP pod$p -> outside, outside sees node$n" "outside $(fl_node_ip "$n")" \
            tcp_ask "$(fl_pod_ns "$p")" "$FL_OUT_IP" 9000
    done

    step "portmap after flannel: node2's host port $FL_HP_PORT -> pod$FL_HP_POD:80"
    hp_ns=$(fl_node_ns "$(fl_pod_node "$FL_HP_POD")")
    expect "TCP node1 -> node2:$FL_HP_PORT reaches pod$FL_HP_POD, which sees node1's address" \
        "pod$FL_HP_POD $(fl_node_ip 1)" tcp_ask "$(fl_node_ns 1)" "$(fl_node_ip 2)" "$FL_HP_PORT"
    expect "TCP outside -> node2:$FL_HP_PORT reaches pod$FL_HP_POD, which sees the outside's address" \
        "pod$FL_HP_POD $FL_OUT_IP" tcp_ask "$out" "$(fl_node_ip 2)" "$FL_HP_PORT"
    expect "TCP pod1a -> node2:$FL_HP_PORT reaches pod$FL_HP_POD as node1 (masqueraded leaving node1)" \
        "pod$FL_HP_POD $(fl_node_ip 1)" tcp_ask "$(fl_pod_ns 1a)" "$(fl_node_ip 2)" "$FL_HP_PORT"
    check "node2's CNI-HOSTPORT-DNAT sends port $FL_HP_PORT to pod$FL_HP_POD's chain" \
        sh -c "ip netns exec $hp_ns iptables-save -t nat | grep -E -- '-A CNI-DN-[0-9a-f]+ .*--dport $FL_HP_PORT .*--to-destination ${FL_IP[$FL_HP_POD]}:80'"
    checkpoint
}

# fl_del_and_check: DEL every pod, then nothing of theirs may be left.
fl_del_and_check() {
    local p n node leftover chains
    step "DEL every pod"
    # node3 as after a reboot before flanneld is back: no subnet.env. DEL
    # needs only the delegate flannel saved at ADD.
    in_node 3 mv /run/flannel/subnet.env /run/flannel/subnet.env.away
    for p in "${FL_PODS[@]}"; do
        n=$(fl_pod_node "$p")
        if [ "$n" = 3 ]; then
            check "cnitool del pod$p on node$n, whose subnet.env is gone" fl_cnitool "$p" del
        else
            check "cnitool del pod$p on node$n" fl_cnitool "$p" del
        fi
    done
    in_node 3 mv /run/flannel/subnet.env.away /run/flannel/subnet.env
    FL_ADDED=()
    check "a second DEL of pod1a succeeds (flannel finds no saved delegate)" fl_cnitool 1a del

    step "nothing left behind on the nodes"
    for n in "${FL_NODES[@]}"; do
        node=$(fl_node_ns "$n")
        expect "node$n: no pod veth left" "" sh -c "ip -n $node -o link show type veth | grep -v ' eth0@' || true"
        expect "node$n: no host-local leases in /var/lib/cni/networks/$FL_NET" "" \
            in_node "$n" sh -c "find /var/lib/cni/networks -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null || true"
        expect "node$n: no saved delegates in /var/lib/cni/flannel" "" \
            in_node "$n" sh -c "find /var/lib/cni/flannel -type f 2>/dev/null || true"
        expect "node$n: no cnitool cache entries in /var/lib/cni/results" "" \
            in_node "$n" sh -c "find /var/lib/cni/results -type f 2>/dev/null || true"
        expect "node$n: no per-pod CNI-* chain" "" \
            sh -c "ip netns exec $node iptables-save 2>/dev/null | grep -E '^:CNI-(DN-)?[0-9a-f]{16,}' || true"
        leftover=""
        for p in "${FL_PODS[@]}"; do
            [ "$(fl_pod_node "$p")" = "$n" ] && leftover="$leftover|${FL_IP[$p]//./\\.}([^0-9]|$)"
        done
        expect "node$n: no iptables or nftables rule names one of its pods" "" \
            sh -c "{ ip netns exec $node iptables-save; ip netns exec $node nft list ruleset; } 2>/dev/null | grep -E '${leftover#|}' || true"
        expect "node$n: CNI-HOSTPORT-DNAT (portmap's shared chain) holds no rule" "" \
            sh -c "ip netns exec $node iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -v '^-N' || true"
        chains=$(ip netns exec "$node" iptables-save 2>/dev/null | sed -n 's/^:\(CNI-[^ ]*\).*/\1/p' | xargs)
        say "  node$n keeps, as the reference plugins do: cni0${chains:+ and the shared portmap chains $chains}"
    done
}

# The machine's /run/flannel and /var/lib/cni are as they were.
fl_check_host() {
    step "the machine itself"
    expect "the machine's /run/flannel and /var/lib/cni did not change" "$FL_HOST_BEFORE" fl_host_state
}
