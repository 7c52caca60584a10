//! What an operation costs in processes, run in-process in a sandbox host
//! with other pods' state present: the exec count must not depend on how
//! many pods the node has (no listing of shared chains on ADD or DEL).
//! Plus an ignored measurement (`-- --ignored --nocapture`) of times at
//! 0 and 1,000 other pods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cni_portmap::config::{self, Backend, PortmapConf};
use cni_portmap::forward::Forward;
use cni_portmap::nft;
use cni_portmap::pod::{Pod, PodAddrs};
use cni_sandbox::{Sandbox, median};
use libcni::Errors;
use libcni::skel::{CmdArgs, Command};
use netfilter::tools::exec_count;
use netfilter::{Driver, Firewall};
use serde_json::{Value, json};

fn conf(backend: &str, maps: Value) -> PortmapConf {
    let c = json!({"cniVersion": "1.0.0", "name": "pmnet", "type": "portmap",
        "backend": backend, "runtimeConfig": {"portMappings": maps}});
    let args = CmdArgs::from_config(Command::Add, "x", "eth0", c.to_string().into_bytes()).unwrap();
    config::load(&args).unwrap()
}

fn one_map(port: u16) -> Value {
    json!([{"hostPort": port, "containerPort": 80, "protocol": "tcp"}])
}

fn pod(c: &PortmapConf, i: usize) -> Pod {
    Pod::new(&c.network, &format!("pod{i}")).unwrap()
}

fn addrs(i: usize, dual: bool) -> PodAddrs {
    PodAddrs {
        v4: Some(
            format!("10.{}.{}.{}/16", 100, i / 250, i % 250 + 2)
                .parse()
                .unwrap(),
        ),
        v6: dual.then(|| format!("fd99::{:x}/64", i + 2).parse().unwrap()),
    }
}

/// ADD's firewall work on one backend.
fn setup(b: Backend, c: &PortmapConf, p: &Pod, a: &PodAddrs) {
    let fw = Forward {
        conf: c,
        pod: p,
        addrs: *a,
    };
    match b {
        Backend::Iptables => fw.iptables().setup(),
        Backend::Nftables => fw.nftables().setup(),
    }
    .unwrap();
}

/// DEL's firewall work on one backend (both families).
fn teardown(b: Backend, c: &PortmapConf, p: &Pod) {
    let fw = Forward {
        conf: c,
        pod: p,
        addrs: PodAddrs::default(),
    };
    let mut errs = Errors::new();
    match b {
        Backend::Iptables => fw.iptables().teardown(&mut errs),
        Backend::Nftables => fw.nftables().teardown(&mut errs),
    }
    errs.finish("DEL").unwrap();
}

fn execs<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = exec_count();
    let v = f();
    (exec_count() - before, v)
}

fn timed(f: impl FnOnce()) -> (Duration, u64) {
    let t = Instant::now();
    let (n, ()) = execs(f);
    (t.elapsed(), n)
}

#[test]
fn iptables_exec_counts_do_not_grow() {
    let sb = Sandbox::new();
    let c = conf("iptables", one_map(8080));
    sb.host.run(|| {
        // The very first ADD creates the shared chains: still one commit.
        let (n, ()) = execs(|| setup(Backend::Iptables, &c, &pod(&c, 0), &addrs(0, false)));
        assert_eq!(n, 1, "first ADD");
        for i in 1..60 {
            let c = conf("iptables", one_map(20000 + i as u16));
            setup(Backend::Iptables, &c, &pod(&c, i), &addrs(i, false));
        }
        // Later ADDs go over nfnetlink: no process.
        let (n, ()) = execs(|| setup(Backend::Iptables, &c, &pod(&c, 99), &addrs(99, false)));
        assert_eq!(n, 0, "ADD with 60 pods");
        // The IPv6 shared chains do not exist yet: one restore creates them.
        let (n, ()) = execs(|| setup(Backend::Iptables, &c, &pod(&c, 98), &addrs(98, true)));
        assert_eq!(n, 2, "first dual-stack ADD: one commit per family");
        let (n, ()) = execs(|| setup(Backend::Iptables, &c, &pod(&c, 97), &addrs(97, true)));
        assert_eq!(n, 0, "dual-stack ADD");
        // Non-default mark bit and SCTP take the restore path.
        let sctp = conf(
            "iptables",
            json!([{"hostPort": 7000, "containerPort": 80, "protocol": "sctp"}]),
        );
        let (n, ()) = execs(|| setup(Backend::Iptables, &sctp, &pod(&sctp, 96), &addrs(96, false)));
        assert_eq!(n, 1, "SCTP ADD");
        // DEL is one nfnetlink transaction: no process at all.
        let (n, ()) = execs(|| teardown(Backend::Iptables, &c, &pod(&c, 99)));
        assert_eq!(n, 0, "DEL");
        for i in [98, 97, 96] {
            let (n, ()) = execs(|| teardown(Backend::Iptables, &c, &pod(&c, i)));
            assert_eq!(n, 0, "DEL pod{i}");
        }
        let (n, ()) = execs(|| teardown(Backend::Iptables, &c, &pod(&c, 99)));
        assert_eq!(n, 0, "DEL of nothing");
        let bare = conf("iptables", json!([]));
        let (n, ()) = execs(|| teardown(Backend::Iptables, &bare, &pod(&bare, 5)));
        assert_eq!(n, 0, "DEL without mappings");
        let (v4, _) = (sb.host.iptables_nat(false), ());
        for i in [5usize, 96, 97, 98, 99] {
            let dn = pod(&c, i).dn_chain;
            assert!(!v4.iter().any(|l| l.contains(dn.as_str())), "pod{i} left");
        }
        assert!(v4.iter().any(|l| l.contains(pod(&c, 6).dn_chain.as_str())));
    });
}

#[test]
fn nft_exec_counts_do_not_grow() {
    let sb = Sandbox::new();
    let c = conf("nftables", one_map(8080));
    sb.host.run(|| {
        let (n, ()) = execs(|| setup(Backend::Nftables, &c, &pod(&c, 0), &addrs(0, true)));
        assert_eq!(n, 1, "first ADD, both families");
        for i in 1..60 {
            setup(Backend::Nftables, &c, &pod(&c, i), &addrs(i, false));
        }
        // A later ADD only adds: no flush in its transaction.
        let batch = nft::setup_batch(&c, &pod(&c, 99), &addrs(99, true));
        let json = netfilter::nft::to_json(&batch).unwrap();
        assert!(!json.contains("flush"), "{json}");
        let (n, ()) = execs(|| setup(Backend::Nftables, &c, &pod(&c, 99), &addrs(99, true)));
        assert_eq!(n, 1);
        let (n, ()) = execs(|| teardown(Backend::Nftables, &c, &pod(&c, 99)));
        assert_eq!(n, 0, "DEL: one nfnetlink transaction for both families");
        let (n, ()) = execs(|| teardown(Backend::Nftables, &c, &pod(&c, 99)));
        assert_eq!(n, 0, "DEL of nothing");
    });
}

#[test]
#[ignore = "measurement; run explicitly with --ignored --nocapture"]
fn measure_add_del_with_other_pods() {
    println!("backend   others  op    median     execs");
    for b in [Backend::Iptables, Backend::Nftables] {
        for others in [0usize, 1000] {
            let sb = Sandbox::new();
            let name = b.as_str();
            sb.host.run(|| {
                for i in 0..others {
                    let c = conf(name, one_map(20000 + (i % 40000) as u16));
                    setup(b, &c, &pod(&c, i), &addrs(i, false));
                }
                // Nine more pods added, then deleted, as a runtime would.
                let c = conf(name, one_map(8080));
                let mine: Vec<Pod> = (0..9).map(|k| pod(&c, 60000 + k)).collect();
                let (mut adds, mut dels) = (vec![], vec![]);
                let (mut na, mut nd) = (0, 0);
                for (k, me) in mine.iter().enumerate() {
                    let (d, n) = timed(|| setup(b, &c, me, &addrs(5000 + k, false)));
                    adds.push(d);
                    na = n;
                }
                for me in &mine {
                    let (d, n) = timed(|| teardown(b, &c, me));
                    dels.push(d);
                    nd = n;
                }
                println!(
                    "{name:<9} {others:>6}  ADD  {:>9.2?} {na:>6}",
                    median(&adds)
                );
                println!(
                    "{name:<9} {others:>6}  DEL  {:>9.2?} {nd:>6}",
                    median(&dels)
                );
            });
        }
    }
}
