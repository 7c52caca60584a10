//! The sandbox itself: namespaces are isolated, traffic helpers work, and
//! everything is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cni_sandbox::{Sandbox, TcpServer, UdpServer, tcp_probe, udp_probe};

fn veth(sb: &Sandbox, a: &cni_sandbox::Netns, b: &cni_sandbox::Netns) {
    sb.host.sh_ok(&format!(
        "ip link add va type veth peer name vb && ip link set va netns {} && ip link set vb netns {}",
        a.name(),
        b.name()
    ));
    a.sh_ok("ip addr add 10.250.0.1/24 dev va && ip link set va up");
    b.sh_ok("ip addr add 10.250.0.2/24 dev vb && ip link set vb up");
}

#[test]
fn namespaces_start_with_only_lo_up() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    assert_eq!(pod.link_names(), ["lo"]);
    let lo = pod.link("lo").unwrap();
    assert!(
        lo["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{lo}"
    );
    assert!(pod.path().exists());
    assert_ne!(pod.name(), sb.host.name());
}

#[test]
fn dropped_namespaces_are_removed() {
    let sb = Sandbox::new();
    let path = {
        let pod = sb.pod();
        pod.path().to_path_buf()
    };
    assert!(!path.exists());
    let host = sb.host.path().to_path_buf();
    drop(sb);
    assert!(!host.exists());
}

#[test]
fn tcp_and_udp_between_namespaces() {
    let sb = Sandbox::new();
    let a = sb.pod();
    let b = sb.pod();
    veth(&sb, &a, &b);
    let tcp = TcpServer::start(&b, "10.250.0.2:0".parse().unwrap());
    let p = tcp_probe(&a, tcp.addr, Duration::from_secs(2)).unwrap();
    assert_eq!(p.seen_peer.ip().to_string(), "10.250.0.1");
    let udp = UdpServer::start(&b, "10.250.0.2:0".parse().unwrap());
    let p = udp_probe(&a, udp.addr, Duration::from_secs(2)).unwrap();
    assert_eq!(p.seen_peer.ip().to_string(), "10.250.0.1");
}

#[test]
fn probe_fails_without_a_path() {
    let sb = Sandbox::new();
    let a = sb.pod();
    let r = tcp_probe(
        &a,
        "10.250.9.9:80".parse().unwrap(),
        Duration::from_millis(300),
    );
    assert!(r.is_err());
}

#[test]
fn plugin_runs_inside_the_host_netns_with_only_the_given_env() {
    let sb = Sandbox::new();
    let script = sb.dir().join("fake-plugin");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$CNI_COMMAND $(ip -o link show | wc -l) ${HOME:-nohome} $(cat)\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = cni_sandbox::Call::new("ADD").run(&sb.host, &script, "stdin-text");
    assert!(run.ok(), "{run:?}");
    // Only the fake host's lo is visible, the caller's HOME is not passed.
    assert_eq!(run.stdout.trim(), "ADD 1 nohome stdin-text");
}

#[test]
fn a_hung_plugin_is_killed_after_the_timeout() {
    let sb = Sandbox::new();
    let script = sb.dir().join("hung-plugin");
    std::fs::write(&script, "#!/bin/sh\necho started\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = cni_sandbox::Call::new("ADD").run_timeout(
        &sb.host,
        &script,
        "",
        Duration::from_millis(300),
    );
    assert_eq!(run.code, -1, "{run:?}");
    assert_eq!(run.stdout, "started\n");
    assert!(run.stderr.contains("timed out"), "{run:?}");
    let ok = cni_sandbox::Call::new("VERSION").run_timeout(
        &sb.host,
        std::path::Path::new("/bin/true"),
        "",
        Duration::from_secs(5),
    );
    assert_eq!(ok.code, 0, "{ok:?}");
}
