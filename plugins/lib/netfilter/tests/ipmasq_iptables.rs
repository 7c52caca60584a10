//! ipmasq on the iptables backend, in sandbox namespaces, against the
//! reference bridge 1.1.1 as oracle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use common::{nat, nets, reference_bridge};
use libcni::spec::Attachment;
use netfilter::tools::exec_count;
use netfilter::{Backend, MasqInstance, ipmasq};

const IPT: Option<Backend> = Some(Backend::Iptables);

fn inst(net: &str, cid: &str) -> MasqInstance {
    MasqInstance::new(net, cid, "eth0").unwrap()
}

#[test]
fn setup_matches_reference_bridge_exactly() {
    // Reference: bridge 1.1.1 with ipMasq, dual stack.
    let refsb = Sandbox::new();
    let pod = refsb.pod();
    let addrs = reference_bridge(&refsb, &pod, "ADD", "n", "abc", true);
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    let (ref4, ref6) = (nat(&refsb.host, false), nat(&refsb.host, true));
    assert!(
        ref4.iter()
            .any(|l| l.contains("CNI-5a1527d2fe74c1a342e29c75")),
        "reference made no chain: {ref4:#?}"
    );

    // Ours, same network / container / addresses, in a fresh host.
    let sb = Sandbox::new();
    let used = sb.host.run(|| inst("n", "abc").setup(IPT, &addrs)).unwrap();
    assert_eq!(used, Backend::Iptables);
    assert_eq!(nat(&sb.host, false), ref4);
    assert_eq!(nat(&sb.host, true), ref6);
}

/// Something else on the node already uses nat POSTROUTING (iptables-nft
/// creates base chains only when a rule needs them).
const OTHER_NAT: &str = "iptables -t nat -A POSTROUTING -s 192.0.2.99/32 -j RETURN; \
     ip6tables -t nat -A POSTROUTING -s 2001:db8::99/128 -j RETURN";

/// Once nat POSTROUTING exists (any earlier pod made it), setup writes the
/// chain, its rules and the POSTROUTING jumps over nfnetlink: no process,
/// and the same rules as the reference's bridge, which reference tools
/// then find and remove.
#[test]
fn setup_on_a_node_with_nat_starts_no_process_and_matches_reference() {
    let refsb = Sandbox::new();
    refsb.host.sh_ok(OTHER_NAT);
    let pod = refsb.pod();
    let addrs = reference_bridge(&refsb, &pod, "ADD", "n", "abc", true);
    let (ref4, ref6) = (nat(&refsb.host, false), nat(&refsb.host, true));

    let sb = Sandbox::new();
    sb.host.sh_ok(OTHER_NAT);
    let execs = sb.host.run(|| {
        let before = exec_count();
        inst("n", "abc").setup(IPT, &addrs).unwrap();
        exec_count() - before
    });
    assert_eq!(execs, 0);
    assert_eq!(nat(&sb.host, false), ref4);
    assert_eq!(nat(&sb.host, true), ref6);
    // The reference's DEL removes what we wrote.
    reference_bridge(&sb, &pod, "DEL", "n", "abc", true);
    let left: Vec<String> = nat(&sb.host, false)
        .into_iter()
        .chain(nat(&sb.host, true))
        .filter(|l| l.contains("CNI-5a1527d2fe74c1a342e29c75"))
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}

/// On iptables-nft, DEL finds the jumps by their target and deletes them
/// with the chains of both families in one nfnetlink transaction: no
/// process, whether or not the addresses are known.
#[test]
fn teardown_starts_no_process_and_leaves_nothing() {
    let sb = Sandbox::new();
    let empty = (nat(&sb.host, false), nat(&sb.host, true));
    let addrs = nets(&["10.99.0.2/24", "fd99::2/64"]);
    let (a, b) = (inst("n", "abc"), inst("n", "def"));
    let execs = sb.host.run(|| {
        a.setup(IPT, &addrs).unwrap();
        b.setup(IPT, &nets(&["10.99.0.3/24", "fd99::3/64"]))
            .unwrap();
        let before = exec_count();
        a.teardown(Some(&addrs)).unwrap();
        b.teardown(None).unwrap();
        exec_count() - before
    });
    assert_eq!((nat(&sb.host, false), nat(&sb.host, true)), empty);
    assert_eq!(execs, 0);
}

#[test]
fn teardown_without_ips_leaves_nothing_on_both_families() {
    let sb = Sandbox::new();
    let (e4, e6) = (nat(&sb.host, false), nat(&sb.host, true));
    let i = inst("n", "abc");
    sb.host.run(|| {
        i.setup(IPT, &nets(&["10.99.0.2/24", "fd99::2/64"]))
            .unwrap();
        i.teardown(None).unwrap();
    });
    assert_eq!(nat(&sb.host, false), e4);
    assert_eq!(nat(&sb.host, true), e6);
}

#[test]
fn teardown_when_nothing_exists_succeeds_without_exec() {
    let sb = Sandbox::new();
    let execs = sb.host.run(|| {
        let before = exec_count();
        inst("n", "abc").teardown(None).unwrap();
        inst("n", "abc")
            .teardown(Some(&nets(&["10.99.0.2/24"])))
            .unwrap();
        exec_count() - before
    });
    assert_eq!(execs, 0, "nfnetlink probes should answer 'nothing there'");
}

#[test]
fn teardown_removes_reference_made_state() {
    for known in [false, true] {
        let sb = Sandbox::new();
        let (e4, e6) = (nat(&sb.host, false), nat(&sb.host, true));
        let pod = sb.pod();
        let addrs = reference_bridge(&sb, &pod, "ADD", "n", "abc", true);
        assert_ne!(nat(&sb.host, false), e4);
        let arg = known.then_some(addrs.as_slice());
        sb.host.run(|| inst("n", "abc").teardown(arg)).unwrap();
        assert_eq!(nat(&sb.host, false), e4, "known ips: {known}");
        assert_eq!(nat(&sb.host, true), e6, "known ips: {known}");
    }
}

#[test]
fn reference_del_removes_our_state() {
    let sb = Sandbox::new();
    let empty = nat(&sb.host, false);
    let pod = sb.pod();
    // Let the reference make the pod (so its DEL finds the link and IPs),
    // then replace its masquerade state with ours.
    let addrs = reference_bridge(&sb, &pod, "ADD", "n", "abc", false);
    let i = inst("n", "abc");
    sb.host.run(|| {
        i.teardown(Some(&addrs)).unwrap();
        i.setup(IPT, &addrs).unwrap();
    });
    assert_ne!(nat(&sb.host, false), empty);
    reference_bridge_del(&sb, &pod);
    assert_eq!(nat(&sb.host, false), empty);
}

fn reference_bridge_del(sb: &Sandbox, pod: &cni_sandbox::Netns) {
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "n", "type": "bridge", "bridge": "cnibr0",
        "isGateway": true, "ipMasq": true,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": sb.subdir("ipam")},
    });
    cni_sandbox::Call::attach(
        "DEL",
        "abc",
        pod.path_str(),
        "eth0",
        &cni_sandbox::reference_dir(),
    )
    .run(
        &sb.host,
        &cni_sandbox::reference_plugin("bridge"),
        &conf.to_string(),
    )
    .expect_ok();
}

#[test]
fn teardown_keeps_other_containers() {
    let sb = Sandbox::new();
    let (a, b) = (inst("n", "a"), inst("n", "b"));
    sb.host.run(|| {
        a.setup(IPT, &nets(&["10.99.0.2/24"])).unwrap();
        b.setup(IPT, &nets(&["10.99.0.3/24"])).unwrap();
    });
    let only_b = {
        let sb2 = Sandbox::new();
        sb2.host
            .run(|| b.setup(IPT, &nets(&["10.99.0.3/24"])))
            .unwrap();
        nat(&sb2.host, false)
    };
    sb.host.run(|| a.teardown(None)).unwrap();
    assert_eq!(nat(&sb.host, false), only_b);
    sb.host
        .run(|| b.check(IPT, &nets(&["10.99.0.3/24"])))
        .unwrap();
}

#[test]
fn repeated_setup_does_not_duplicate() {
    let sb = Sandbox::new();
    let addrs = nets(&["10.99.0.2/24", "fd99::2/64"]);
    let i = inst("n", "abc");
    sb.host.run(|| i.setup(IPT, &addrs)).unwrap();
    let once = (nat(&sb.host, false), nat(&sb.host, true));
    sb.host.run(|| i.setup(IPT, &addrs)).unwrap();
    assert_eq!((nat(&sb.host, false), nat(&sb.host, true)), once);
}

#[test]
fn teardown_handles_legacy_prefix_form_and_duplicates() {
    // Older plugins wrote `-s <ip>/<prefix>`; a crash may leave duplicates.
    let sb = Sandbox::new();
    let empty = nat(&sb.host, false);
    let c = "CNI-5a1527d2fe74c1a342e29c75";
    let cm = r#""name: \"n\" id: \"abc\"""#;
    sb.host.sh_ok(&format!(
        "printf '%s\\n' '*nat' ':{c} - [0:0]' '-A {c} -d 10.99.0.0/24 -m comment --comment {cm} -j ACCEPT' \
         '-A POSTROUTING -s 10.99.0.0/24 -m comment --comment {cm} -j {c}' \
         '-A POSTROUTING -s 10.99.0.2/32 -m comment --comment {cm} -j {c}' \
         '-A POSTROUTING -s 10.99.0.2/32 -m comment --comment {cm} -j {c}' COMMIT | iptables-restore --noflush"
    ));
    sb.host
        .run(|| inst("n", "abc").teardown(Some(&nets(&["10.99.0.2/24"]))))
        .unwrap();
    assert_eq!(nat(&sb.host, false), empty);
}

#[test]
fn check_detects_missing_rules() {
    let sb = Sandbox::new();
    let addrs = nets(&["10.99.0.2/24", "fd99::2/64"]);
    let i = inst("n", "abc");
    sb.host.run(|| i.setup(IPT, &addrs)).unwrap();
    sb.host.run(|| i.check(IPT, &addrs)).unwrap();
    // Another address was never set up.
    let err = sb
        .host
        .run(|| i.check(IPT, &nets(&["10.99.0.9/24"])))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("POSTROUTING") && err.contains("10.99.0.9/32"),
        "{err}"
    );
    // Remove the v6 MASQUERADE rule by hand.
    sb.host
        .sh_ok(&format!("ip6tables -t nat -D {} 2", i.chain().as_str()));
    let err = sb
        .host
        .run(|| i.check(IPT, &addrs))
        .unwrap_err()
        .to_string();
    assert!(err.contains("IPv6") && err.contains("MASQUERADE"), "{err}");
    sb.host.run(|| i.teardown(None)).unwrap();
    let err = sb
        .host
        .run(|| i.check(IPT, &addrs))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn gc_removes_only_stale_containers_of_the_network() {
    let sb = Sandbox::new();
    sb.host.run(|| {
        inst("n", "keep")
            .setup(IPT, &nets(&["10.99.0.2/24", "fd99::2/64"]))
            .unwrap();
        inst("n", "stale1")
            .setup(IPT, &nets(&["10.99.0.3/24", "fd99::3/64"]))
            .unwrap();
        inst("n", "stale2")
            .setup(IPT, &nets(&["10.99.0.4/24"]))
            .unwrap();
        inst("other", "stale1")
            .setup(IPT, &nets(&["10.98.0.3/24"]))
            .unwrap();
    });
    let expected = {
        let sb2 = Sandbox::new();
        sb2.host.run(|| {
            inst("n", "keep")
                .setup(IPT, &nets(&["10.99.0.2/24", "fd99::2/64"]))
                .unwrap();
            inst("other", "stale1")
                .setup(IPT, &nets(&["10.98.0.3/24"]))
                .unwrap();
        });
        (nat(&sb2.host, false), nat(&sb2.host, true))
    };
    let valid = vec![Attachment {
        container_id: "keep".into(),
        ifname: "eth1".into(), // iptables state is per container, not per interface
    }];
    sb.host.run(|| ipmasq::gc("n", &valid)).unwrap();
    assert_eq!((nat(&sb.host, false), nat(&sb.host, true)), expected);
    // Nothing stale left: a second GC changes nothing and succeeds.
    sb.host.run(|| ipmasq::gc("n", &valid)).unwrap();
    assert_eq!((nat(&sb.host, false), nat(&sb.host, true)), expected);
}

#[test]
fn invalid_identities_are_rejected_before_any_exec() {
    for (net, cid, ifname) in [
        ("n\" -j ACCEPT", "abc", "eth0"),
        ("n", "abc def", "eth0"),
        ("n", "abc", "eth0\""),
        ("", "abc", "eth0"),
        ("n", "abc", "waytoolonginterfacename"),
    ] {
        let err = MasqInstance::new(net, cid, ifname).unwrap_err();
        let cni: libcni::Error = err.into();
        assert!(cni.code == 4 || cni.code == 7, "{cni:?}");
    }
    assert!(ipmasq::gc("bad name", &[]).is_err());
}
