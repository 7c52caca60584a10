//! One real-traffic check per backend: with masquerade set up, a pod's TCP
//! connection to an outside host arrives from the host's address; after
//! teardown the outside host (which has no route back to the pod subnet)
//! sees the pod address or nothing at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use cni_sandbox::{Sandbox, TcpServer, tcp_probe};
use netfilter::{Backend, MasqInstance};

#[test]
fn masquerade_rewrites_pod_source_on_both_backends() {
    for backend in [Backend::Iptables, Backend::Nftables] {
        let sb = Sandbox::new();
        let pod = sb.pod();
        let outside = sb.extra("out");
        let host = sb.host.name();
        pod.sh_ok(&format!(
            "ip link add eth0 type veth peer name vpod netns {host} && \
             ip addr add 10.99.0.2/24 dev eth0 && ip link set eth0 up && \
             ip route add default via 10.99.0.1"
        ));
        outside.sh_ok(&format!(
            "ip link add eth0 type veth peer name vout netns {host} && \
             ip addr add 192.168.50.2/24 dev eth0 && ip link set eth0 up"
        ));
        sb.host.sh_ok(
            "ip addr add 10.99.0.1/24 dev vpod && ip link set vpod up && \
             ip addr add 192.168.50.1/24 dev vout && ip link set vout up && \
             sysctl -qw net.ipv4.ip_forward=1",
        );
        let server = TcpServer::start(&outside, "192.168.50.2:0".parse().unwrap());
        let i = MasqInstance::new("n", "abc", "eth0").unwrap();
        let addrs = vec!["10.99.0.2/24".parse().unwrap()];
        sb.host.run(|| i.setup(Some(backend), &addrs)).unwrap();
        let seen = tcp_probe(&pod, server.addr, Duration::from_secs(3)).unwrap();
        let host_ip: SocketAddr = "192.168.50.1:0".parse().unwrap();
        assert_eq!(seen.seen_peer.ip(), host_ip.ip(), "{backend}");

        sb.host.run(|| i.teardown(None)).unwrap();
        // Without masquerade the SYN arrives from 10.99.0.2 and the reply
        // has no route back: the probe fails.
        let after = tcp_probe(&pod, server.addr, Duration::from_millis(500));
        assert!(
            after.is_err(),
            "{backend}: still reachable after teardown: {after:?}"
        );
    }
}
