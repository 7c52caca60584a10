//! Links: lookup, bridges, veth pairs across namespaces, per-link
//! settings, and large dumps, each checked with `ip -j -d link`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use common::{flags, link, nl};
use hostnet::netlink::{OperState, VethSpec};
use hostnet::{MacAddr, random};

#[test]
fn lookup_by_name_and_index_and_not_found() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    let lo = nl.link_by_name("lo").unwrap();
    assert_eq!(lo.index, 1);
    assert!(lo.up);
    assert_eq!(lo.mac, Some(MacAddr([0; 6])));
    assert_eq!(lo.kind, None);
    assert_eq!(nl.link_by_index(1).unwrap(), lo);
    let e = nl.link_by_name("nosuch0").unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("get link \"nosuch0\""), "{e}");
    assert!(e.to_string().contains("ENODEV"), "{e}");
    let e = nl.link_by_index(9999).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn create_bridge_with_mtu_and_exists_error() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    nl.create_bridge("cni0", Some(1400), false).unwrap();
    let info = nl.link_by_name("cni0").unwrap();
    assert!(info.is_bridge());
    assert_eq!(info.mtu, 1400);
    assert_eq!(info.vlan_filtering, Some(false));
    let j = link(&sb.host, "cni0");
    assert_eq!(j["linkinfo"]["info_kind"], "bridge");
    assert_eq!(j["mtu"], 1400);
    assert_eq!(j["linkinfo"]["info_data"]["vlan_filtering"], 0);
    let e = nl.create_bridge("cni0", None, false).unwrap_err();
    assert!(e.is_exists(), "{e}");
    // A name taken by something that is not a bridge is EEXIST too; the
    // caller tells them apart with link_by_name().is_bridge().
    sb.host
        .sh_ok("ip link add notbr0 type veth peer name notbr1");
    assert!(
        nl.create_bridge("notbr0", None, false)
            .unwrap_err()
            .is_exists()
    );
    assert!(!nl.link_by_name("notbr0").unwrap().is_bridge());
}

#[test]
fn create_bridge_with_vlan_filtering() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    let r = nl.create_bridge("vbr0", None, true);
    if cni_sandbox::kernel_has_vlan_filtering(&sb.host) {
        r.unwrap();
        assert_eq!(nl.link_by_name("vbr0").unwrap().vlan_filtering, Some(true));
        let j = link(&sb.host, "vbr0");
        assert_eq!(j["linkinfo"]["info_data"]["vlan_filtering"], 1);
    } else {
        // This kernel lacks CONFIG_BRIDGE_VLAN_FILTERING: iproute2 gets
        // EOPNOTSUPP too. The error must say what failed and why, and
        // nothing may be left behind.
        let e = r.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP), "{e}");
        assert!(e.to_string().contains("create bridge \"vbr0\""), "{e}");
        assert!(sb.host.link("vbr0").is_none());
    }
}

#[test]
fn veth_pair_created_directly_across_namespaces() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let host_ns = common::netns(&sb.host);
    let pod_nl = nl(&pod);
    let host_nl = nl(&sb.host);
    let mac: MacAddr = "0a:58:0a:f4:00:07".parse().unwrap();
    let peer = random::veth_name().unwrap();
    let local = pod_nl
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: &peer,
            peer_netns: Some(&host_ns),
            mac: Some(mac),
            peer_mac: None,
            mtu: Some(1450),
        })
        .unwrap();
    assert_eq!(local.name, "eth0");
    assert!(local.is_veth());
    assert_eq!(local.mac, Some(mac));
    assert_eq!(local.mtu, 1450);
    assert!(
        local.link_netnsid.is_some(),
        "peer lives in another namespace"
    );
    // Pod side, as iproute2 sees it.
    let j = link(&pod, "eth0");
    assert_eq!(j["address"], "0a:58:0a:f4:00:07");
    assert_eq!(j["mtu"], 1450);
    assert_eq!(j["linkinfo"]["info_kind"], "veth");
    assert!(
        pod.link(&peer).is_none(),
        "the peer never appears in the pod"
    );
    // Host side: the peer exists there, with the MTU, pointing back.
    let hj = link(&sb.host, &peer);
    assert_eq!(hj["mtu"], 1450);
    assert_eq!(hj["linkinfo"]["info_kind"], "veth");
    let host_peer = host_nl.link_by_name(&peer).unwrap();
    assert_eq!(
        Some(host_peer.index),
        local.link,
        "IFLA_LINK is the peer's index"
    );
    assert_eq!(host_peer.link, Some(local.index));
    assert!(sb.host.link("eth0").is_none());
    // Same names again: EEXIST, and the pod keeps exactly one eth0.
    let e = pod_nl
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: &random::veth_name().unwrap(),
            peer_netns: Some(&host_ns),
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    // A peer name taken in the host namespace: EEXIST, nothing half-made.
    let e = pod_nl
        .create_veth(&VethSpec {
            name: "eth1",
            peer_name: &peer,
            peer_netns: Some(&host_ns),
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert!(pod.link("eth1").is_none());
    // Deleting one end removes both.
    pod_nl.delete_link(local.index).unwrap();
    assert!(sb.host.link(&peer).is_none());
    assert!(pod_nl.delete_link(local.index).unwrap_err().is_not_found());
}

#[test]
fn veth_pair_in_one_namespace_with_peer_mac() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    let pm: MacAddr = "02:00:00:00:00:09".parse().unwrap();
    let a = nl
        .create_veth(&VethSpec {
            name: "va0",
            peer_name: "vb0",
            peer_netns: None,
            mac: None,
            peer_mac: Some(pm),
            mtu: None,
        })
        .unwrap();
    let b = nl.link_by_name("vb0").unwrap();
    assert_eq!(b.mac, Some(pm));
    assert_eq!(a.link, Some(b.index));
    assert_eq!(a.link_netnsid, None);
}

#[test]
fn up_down_master_promisc_mtu_mac_rename() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    nl.create_bridge("br0", None, false).unwrap();
    let br = nl.link_by_name("br0").unwrap();
    let v = nl
        .create_veth(&VethSpec {
            name: "hv0",
            peer_name: "cv0",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    nl.set_master(v.index, br.index).unwrap();
    nl.set_up(br.index).unwrap();
    nl.set_up(v.index).unwrap();
    nl.set_promisc(br.index, true).unwrap();
    let j = link(&sb.host, "hv0");
    assert_eq!(j["master"], "br0");
    assert!(flags(&j).contains(&"UP".to_string()), "{j}");
    let bj = link(&sb.host, "br0");
    assert!(flags(&bj).contains(&"PROMISC".to_string()), "{bj}");
    let info = nl.link_by_index(v.index).unwrap();
    assert_eq!(info.master, Some(br.index));
    assert!(info.up);
    assert!(nl.link_by_index(br.index).unwrap().promisc);

    nl.set_promisc(br.index, false).unwrap();
    assert!(!flags(&link(&sb.host, "br0")).contains(&"PROMISC".to_string()));
    nl.set_nomaster(v.index).unwrap();
    assert!(link(&sb.host, "hv0").get("master").is_none());
    nl.set_down(v.index).unwrap();
    assert!(!flags(&link(&sb.host, "hv0")).contains(&"UP".to_string()));

    nl.set_mtu(v.index, 1300).unwrap();
    let mac: MacAddr = "0a:00:00:00:00:42".parse().unwrap();
    nl.set_mac(v.index, mac).unwrap();
    nl.rename_link(v.index, "renamed0").unwrap();
    let j = link(&sb.host, "renamed0");
    assert_eq!(j["mtu"], 1300);
    assert_eq!(j["address"], "0a:00:00:00:00:42");
    assert!(sb.host.link("hv0").is_none());
    let e = nl.set_mtu(v.index, 10).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    assert!(e.to_string().contains("mtu 10"), "{e}");
}

#[test]
fn operstate_is_reported() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    let a = nl
        .create_veth(&VethSpec {
            name: "os0",
            peer_name: "os1",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    assert_eq!(a.operstate, OperState::Down);
    nl.set_up(a.index).unwrap();
    let a = nl.link_by_index(a.index).unwrap();
    // Peer down: no carrier.
    assert!(!a.lower_up);
    assert_eq!(link(&sb.host, "os0")["operstate"], "LOWERLAYERDOWN");
    assert_eq!(a.operstate, OperState::LowerLayerDown);
}

#[test]
fn dump_with_hundreds_of_links() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let mut batch = String::new();
    for i in 0..300 {
        batch.push_str(&format!("link add mbr{i} type bridge\n"));
    }
    let file = sb.dir().join("batch");
    std::fs::write(&file, batch).unwrap();
    pod.sh_ok(&format!("ip -batch {}", file.display()));
    let nl = nl(&pod);
    let links = nl.links().unwrap();
    assert_eq!(links.len(), 301, "lo + 300 bridges");
    let mut names: Vec<_> = links.iter().map(|l| l.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 301, "no duplicates across dump chunks");
    assert_eq!(links.iter().filter(|l| l.is_bridge()).count(), 300);
    assert_eq!(pod.link_names().len(), 301);
}

#[test]
fn dumps_stay_consistent_while_links_change() {
    // A writer adds and removes links while we dump; every dump must
    // contain all of the stable links exactly once (interrupted dumps are
    // retried, never returned half-done).
    let sb = Sandbox::new();
    let pod = sb.pod();
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&format!("link add st{i} type bridge\n"));
    }
    let file = sb.dir().join("stable");
    std::fs::write(&file, batch).unwrap();
    pod.sh_ok(&format!("ip -batch {}", file.display()));
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Stops the writer however the dumping side ends (a failed
    /// assertion must not leave the scope waiting for it forever).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    let stop = AtomicBool::new(false);
    let handle = common::netns(&pod);
    let wnl = common::nl(&pod);
    let stop_ref = &stop;
    let (dumps, writes) = std::thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut n = 0u32;
            while !stop_ref.load(Ordering::Relaxed) {
                let name = format!("churn{}", n % 8);
                let r = match wnl.link_by_name(&name) {
                    Ok(l) => wnl.delete_link(l.index),
                    Err(_) => wnl.create_bridge(&name, None, false),
                };
                if r.is_err() {
                    break;
                }
                n += 1;
                // Pacing only (every unregister runs an RCU barrier that
                // slows the whole machine); the dumps never wait for it.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            n
        });
        let stopper = StopOnDrop(&stop);
        let nl = hostnet::Netlink::in_netns(&handle).unwrap();
        let dumps: Vec<_> = (0..30).map(|_| nl.links()).collect();
        drop(stopper);
        (dumps, writer.join().unwrap())
    });
    assert!(writes > 0, "the writer changed nothing");
    for links in dumps {
        let links = links.unwrap();
        let stable = links.iter().filter(|l| l.name.starts_with("st")).count();
        assert_eq!(stable, 200);
        let mut idx: Vec<u32> = links.iter().map(|l| l.index).collect();
        idx.sort();
        let len = idx.len();
        idx.dedup();
        assert_eq!(idx.len(), len, "a link appeared twice in one dump");
    }
}

#[test]
fn allmulticast_and_txqueuelen_agree_with_iproute2() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    sb.host.sh_ok("ip link add am0 type veth peer name am1");
    let a = nl.link_by_name("am0").unwrap();
    assert!(!a.allmulti);
    // What iproute2 set, hostnet reads.
    sb.host
        .sh_ok("ip link set am0 allmulticast on txqueuelen 77");
    let a = nl.link_by_name("am0").unwrap();
    assert!(a.allmulti, "{a:?}");
    assert_eq!(a.txqlen, 77);
    let j = link(&sb.host, "am0");
    assert_eq!(
        a.mtu_range,
        Some((
            j["min_mtu"].as_u64().unwrap() as u32,
            j["max_mtu"].as_u64().unwrap() as u32
        ))
    );
    assert!(!a.promisc);
    // What hostnet sets, iproute2 reads.
    nl.set_allmulti(a.index, false).unwrap();
    nl.set_txqlen(a.index, 0).unwrap();
    let j = link(&sb.host, "am0");
    assert!(!flags(&j).contains(&"ALLMULTI".to_string()), "{j}");
    // iproute2 prints no qlen at all for a zero-length queue.
    assert!(j.get("txqlen").is_none_or(|q| q == 0), "{j}");
    assert_eq!(nl.link_by_index(a.index).unwrap().txqlen, 0);
    nl.set_allmulti(a.index, true).unwrap();
    nl.set_txqlen(a.index, 4242).unwrap();
    let j = link(&sb.host, "am0");
    assert!(flags(&j).contains(&"ALLMULTI".to_string()), "{j}");
    assert_eq!(j["txqlen"], 4242);
    // Other flags are untouched by the change mask.
    nl.set_up(a.index).unwrap();
    nl.set_allmulti(a.index, false).unwrap();
    let after = nl.link_by_index(a.index).unwrap();
    assert!(after.up && !after.allmulti);
    let e = nl.set_txqlen(9999, 1).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("txqueuelen 1"), "{e}");
}
