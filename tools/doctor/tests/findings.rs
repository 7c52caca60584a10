//! One fake node per finding, broken in exactly that way: the doctor
//! reports that finding alone, with the evidence that shows it and a fix;
//! the fix, run in the node as printed, leaves a node the doctor finds
//! healthy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Node, evidence, fix, stub_plugin};
use serde_json::json;

/// A node with network `pods` (bridge `cnid0`, 10.88.0.0/24, portmap) and
/// one pod.
fn one_pod() -> (Node, cni_sandbox::Netns) {
    let node = Node::new();
    node.simple("pods", "cnid0", "10.88.0.0/24");
    let pod = node.sb.pod();
    node.add("pods", "pod-a", &pod, None);
    node.doctor(&[]).assert_healthy();
    (node, pod)
}

/// Apply the finding's fix; the node is healthy afterwards.
fn fixed_by(node: &Node, f: &serde_json::Value) {
    node.apply(&fix(f));
    node.doctor(&[]).assert_healthy();
}

#[test]
fn forward_drop_on_iptables() {
    let (node, _pod) = one_pod();
    node.sb.host.sh_ok("iptables -P FORWARD DROP");
    let f = node.doctor(&[]).only("forward-drop");
    assert_eq!(f["severity"], "error");
    let ev = evidence(&f);
    assert!(
        ev.contains("iptables-nft-save: filter FORWARD policy DROP"),
        "{ev}"
    );
    assert!(ev.contains("10.88.0.0/24"), "{ev}");
    assert!(ev.contains("chains no firewall plugin"), "{ev}");
    let cmd = fix(&f);
    assert!(
        cmd.contains("iptables-nft -I FORWARD -s 10.88.0.0/24 -j ACCEPT"),
        "{cmd}"
    );
    assert!(
        f["note"]
            .as_str()
            .unwrap()
            .contains("\"type\": \"firewall\"")
    );
    fixed_by(&node, &f);
}

#[test]
fn forward_drop_is_fine_with_the_firewall_plugin() {
    let node = Node::new();
    node.pods(&[
        json!({"type": "firewall", "backend": "iptables", "dataDir": node.sb.subdir("fw")}),
    ]);
    node.sb.host.sh_ok("iptables -P FORWARD DROP");
    let pod = node.sb.pod();
    node.add("pods", "pod-a", &pod, None);
    node.doctor(&[]).assert_healthy();
}

#[test]
fn forward_drop_on_nftables() {
    let (node, _pod) = one_pod();
    node.sb.host.sh_ok(
        "nft add table inet filter && \
         nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }'",
    );
    let f = node.doctor(&[]).only("forward-drop");
    let ev = evidence(&f);
    assert!(
        ev.contains("nft list chain inet filter forward: type filter hook forward policy drop"),
        "{ev}"
    );
    assert!(fix(&f).contains("nft insert rule inet filter forward ip saddr 10.88.0.0/24 accept"));
    fixed_by(&node, &f);
}

#[test]
fn forwarding_off_for_both_families() {
    let node = Node::new();
    let list = node.bridge_list(
        "dual",
        "cnid0",
        json!([[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]),
        &[],
    );
    node.write_conf("10-dual.conflist", &list);
    node.sb
        .host
        .sh_ok("sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0");
    let d = node.doctor(&[]);
    assert_eq!(
        d.ids(),
        ["ip-forward-off", "ip-forward-off"],
        "{:#}",
        d.json
    );
    let fs = d.with_id("ip-forward-off");
    assert!(evidence(&fs[0]).contains("net.ipv4.ip_forward = 0"));
    assert!(evidence(&fs[1]).contains("net.ipv6.conf.all.forwarding = 0"));
    assert_eq!(fix(&fs[0]), "sysctl -w net.ipv4.ip_forward=1");
    assert_eq!(fix(&fs[1]), "sysctl -w net.ipv6.conf.all.forwarding=1");
    node.apply(&fix(&fs[0]));
    fixed_by(&node, &fs[1]);
}

#[test]
fn bridge_nf_call_iptables_off() {
    let (node, _pod) = one_pod();
    node.sb
        .host
        .sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=0");
    let f = node.doctor(&[]).only("bridge-nf-call-off");
    assert_eq!(f["severity"], "warning");
    assert!(evidence(&f).contains("net.bridge.bridge-nf-call-iptables = 0"));
    assert_eq!(fix(&f), "sysctl -w net.bridge.bridge-nf-call-iptables=1");
    fixed_by(&node, &f);
}

/// br_netfilter cannot be unloaded here (and must not be): the doctor
/// reads sysctls from a fake /proc/sys without `net/bridge`, in the same
/// node, through the library.
#[test]
fn br_netfilter_absent_through_a_fake_sysctl_root() {
    let (node, _pod) = one_pod();
    let root = node.sb.subdir("fake-proc-sys");
    std::fs::create_dir_all(root.join("net/ipv4")).unwrap();
    std::fs::write(root.join("net/ipv4/ip_forward"), "1\n").unwrap();
    let mut opts = cni_doctor::Options::node_defaults();
    opts.conf_dirs = vec![node.conf.clone()];
    opts.bin_dirs = vec![node.bin.clone()];
    opts.cache_dir = node.cache.clone();
    opts.sysctl_root = Some(root.clone());
    let report = node.sb.host.run(|| cni_doctor::inspect(&opts));
    let ids: Vec<&str> = report.findings.iter().map(|f| f.id).collect();
    assert_eq!(ids, ["br-netfilter-missing"], "{}", report.render(false));
    let f = &report.findings[0];
    assert_eq!(
        f.fix.as_deref(),
        Some("modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1")
    );
    assert!(f.evidence[0].contains("does not exist"), "{:?}", f.evidence);
    // With the key present (what the fix makes), nothing is reported.
    std::fs::create_dir_all(root.join("net/bridge")).unwrap();
    std::fs::write(root.join("net/bridge/bridge-nf-call-iptables"), "1\n").unwrap();
    let report = node.sb.host.run(|| cni_doctor::inspect(&opts));
    assert!(report.findings.is_empty(), "{}", report.render(false));
}

#[test]
fn rules_in_both_iptables_variants() {
    let (node, _pod) = one_pod();
    node.sb
        .host
        .sh_ok("iptables-legacy -A FORWARD -s 192.0.2.0/24 -j ACCEPT");
    let f = node.doctor(&[]).only("iptables-split");
    let ev = evidence(&f);
    assert!(ev.contains("iptables-legacy-save IPv4: 1 rules"), "{ev}");
    assert!(ev.contains("iptables-nft-save IPv4:"), "{ev}");
    assert!(ev.contains("runs iptables-nft"), "{ev}");
    let cmd = fix(&f);
    assert!(
        cmd.starts_with("iptables-legacy-save > iptables-legacy-v4.rules"),
        "{cmd}"
    );
    fixed_by(&node, &f);
    let saved = std::fs::read_to_string(node.sb.dir().join("iptables-legacy-v4.rules")).unwrap();
    assert!(
        saved.contains("-A FORWARD -s 192.0.2.0/24 -j ACCEPT"),
        "{saved}"
    );
}

#[test]
fn bridge_mtu_above_a_vxlan_device() {
    let (node, _pod) = one_pod();
    node.sb.host.sh_ok(
        "ip link add flannel.1 type vxlan id 1 dstport 8472 && ip link set flannel.1 mtu 1450",
    );
    let f = node.doctor(&[]).only("mtu-mismatch");
    let ev = evidence(&f);
    assert!(ev.contains("cnid0 (bridge) MTU 1500"), "{ev}");
    assert!(ev.contains("flannel.1 (vxlan) MTU 1450"), "{ev}");
    assert_eq!(fix(&f), "ip link set dev cnid0 mtu 1450");
    fixed_by(&node, &f);
}

#[test]
fn several_networks_in_the_conf_dir() {
    let node = Node::new();
    node.simple("pods", "cnid0", "10.88.0.0/24");
    // A stray file that sorts first.
    node.simple("astray", "cnid9", "10.99.0.0/24");
    std::fs::rename(
        node.conf.join("10-astray.conflist"),
        node.conf.join("05-astray.conflist"),
    )
    .unwrap();
    let f = node.doctor(&[]).only("several-networks");
    let ev = evidence(&f);
    assert!(
        ev.contains("used: ") && ev.contains("05-astray.conflist (network \"astray\")"),
        "{ev}"
    );
    assert!(
        ev.contains("ignored: ") && ev.contains("10-pods.conflist (network \"pods\")"),
        "{ev}"
    );
    fixed_by(&node, &f);
    assert!(node.conf.join("05-astray.conflist").exists());
    assert!(
        node.sb
            .dir()
            .join("net.d.disabled/10-pods.conflist")
            .exists()
    );
}

#[test]
fn a_plugin_missing_from_every_bin_dir() {
    let node = Node::new();
    node.pods(&[json!({"type": "tuning", "dataDir": node.sb.subdir("tuning")})]);
    std::fs::remove_file(node.bin.join("tuning")).unwrap();
    let f = node.doctor(&[]).only("plugin-missing");
    assert!(f["summary"].as_str().unwrap().contains("\"tuning\""));
    let ev = evidence(&f);
    assert!(ev.contains("not found in CNI_PATH"), "{ev}");
    assert!(ev.contains("used by network \"pods\""), "{ev}");
    // Our build sits next to cnitool: the fix installs it from there.
    let cmd = fix(&f);
    assert!(
        cmd.starts_with("install -m 0755 ") && cmd.ends_with("/bin/tuning"),
        "{cmd}"
    );
    fixed_by(&node, &f);
}

#[test]
fn a_plugin_too_old_for_the_config_version_is_replaced() {
    let node = Node::new();
    node.pods(&[json!({"type": "firewall"})]);
    // podman's classic: a firewall plugin that stops at 0.4.0.
    std::fs::remove_file(node.bin.join("firewall")).unwrap();
    stub_plugin(&node.bin.join("firewall"), &["0.3.0", "0.3.1", "0.4.0"]);
    let f = node.doctor(&[]).only("plugin-version");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("does not support config version \"1.1.0\""),
        "{f:#}"
    );
    assert!(evidence(&f).contains("supports 0.3.0, 0.3.1, 0.4.0"));
    assert!(fix(&f).starts_with("install -m 0755 "));
    fixed_by(&node, &f);
}

#[test]
fn a_plugin_too_old_with_no_replacement_lowers_the_version() {
    let node = Node::new();
    node.pods(&[json!({"type": "oldplug"})]);
    stub_plugin(&node.bin.join("oldplug"), &["0.3.0", "0.3.1"]);
    let f = node.doctor(&[]).only("plugin-version");
    let cmd = fix(&f);
    assert!(cmd.starts_with("sed -i -E"), "{cmd}");
    fixed_by(&node, &f);
    let text = std::fs::read_to_string(node.conf.join("10-pods.conflist")).unwrap();
    assert!(text.contains("\"cniVersion\": \"0.3.1\""), "{text}");
}

#[test]
fn a_pod_subnet_routed_elsewhere() {
    let (node, _pod) = one_pod();
    node.sb.host.sh_ok(
        "ip link add ov0 type veth peer name ov1 && ip link set ov0 up && ip link set ov1 up && \
         ip route add 10.88.0.0/16 dev ov0",
    );
    let f = node.doctor(&[]).only("subnet-overlap");
    let ev = evidence(&f);
    assert!(ev.contains("ip route: 10.88.0.0/16 dev ov0"), "{ev}");
    assert_eq!(fix(&f), "ip route del 10.88.0.0/16 dev ov0");
    fixed_by(&node, &f);
}
