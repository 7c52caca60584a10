#!/bin/sh
# Attach a network namespace to a CNI network with cnitool, check it, and
# take it down again: the way an operator scripts upstream cnitool
# (containernetworking/cni 1.1.2). Only what upstream cnitool understands is
# used: NETCONFPATH, CNI_PATH, CNI_ARGS, CAP_ARGS, CNI_IFNAME and
# `cnitool add|check|del <net> <netns>`.
#
# usage: upstream-style.sh <net> <netns-path>
#
#   CNITOOL       the cnitool binary (default: cnitool from PATH)
#   NETCONFPATH   where <net>'s conf list is (cnitool's default: /etc/cni/net.d)
#   CNI_PATH      plugin directories
#   CNI_IFNAME    interface name in the namespace (cnitool's default: eth0)
#   HOST_PORT     host port forwarded to port 80 of the namespace (default 8080)
#   AFTER_ADD     optional shell command run after add, before check (to
#                 look at the attached namespace)
#
# stdout: the result that `cnitool add` printed (one JSON document).
# stderr: one line per step. Exit status: 0 when every step succeeded;
# del runs in any case so that nothing stays behind.
set -u

net=${1:?usage: $0 <net> <netns-path>}
netns=${2:?usage: $0 <net> <netns-path>}
cnitool=${CNITOOL:-cnitool}

export NETCONFPATH CNI_PATH
export CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"
export CAP_ARGS="{\"portMappings\":[{\"hostPort\":${HOST_PORT:-8080},\"containerPort\":80,\"protocol\":\"tcp\"}]}"

failed=0
step() {
    # step <name> <command...>: run, report on stderr, remember a failure
    name=$1
    shift
    if "$@"; then
        echo "$name: ok" >&2
    else
        echo "$name: failed (exit $?)" >&2
        failed=1
    fi
}

# cnitool prints the result without a trailing newline.
if "$cnitool" add "$net" "$netns"; then
    echo
    echo "add: ok" >&2
    if [ -n "${AFTER_ADD:-}" ]; then
        step after-add sh -c "$AFTER_ADD"
    fi
    step check "$cnitool" check "$net" "$netns"
else
    echo "add: failed (exit $?)" >&2
    failed=1
fi
step del "$cnitool" del "$net" "$netns"
# DEL must be idempotent: a second one (a runtime retrying) succeeds too.
step del-again "$cnitool" del "$net" "$netns"
exit "$failed"
