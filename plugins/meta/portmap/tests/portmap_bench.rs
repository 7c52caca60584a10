//! Benchmark, not a test (`#[ignore]`): portmap's own share of a
//! bridge + portmap chain as the node fills, ours against the reference,
//! side by side in one run. Two fake nodes get the same pods (bridge with
//! ipMasq from [`bridge_dir`], one host port each); only the portmap
//! processes are timed. Then every pod is deleted in the same order.
//!
//! `PORTMAP_BENCH_PODS=1000 cargo test --release -p cni-portmap --test portmap_bench -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cni_sandbox::{Call, median};
use common::*;
use serde_json::json;

/// The median in milliseconds.
fn median_ms(v: &[Duration]) -> f64 {
    median(v).as_secs_f64() * 1e3
}

fn report(label: &str, ours: &[Duration], theirs: &[Duration]) {
    let n = ours.len();
    let k = (n / 10).clamp(1, 100);
    let (of, ol) = (median_ms(&ours[..k]), median_ms(&ours[n - k..]));
    let (tf, tl) = (median_ms(&theirs[..k]), median_ms(&theirs[n - k..]));
    println!(
        "{label}: ours first-{k} {of:.2} ms, last-{k} {ol:.2} ms (x{:.2}); reference first {tf:.2} ms, last {tl:.2} ms (x{:.2}); ours/reference {:.2} first, {:.2} last, {:.2} overall",
        ol / of,
        tl / tf,
        of / tf,
        ol / tl,
        median_ms(ours) / median_ms(theirs)
    );
}

#[test]
#[ignore = "benchmark; run explicitly"]
fn portmap_share_as_the_node_fills() {
    let pods: usize = std::env::var("PORTMAP_BENCH_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let nodes = [(ours(), Node::new(false)), (reference(), Node::new(false))];
    let mut added: Vec<Vec<Pod>> = vec![vec![], vec![]];
    let mut adds: Vec<Vec<Duration>> = vec![vec![], vec![]];
    let mut dels: Vec<Vec<Duration>> = vec![vec![], vec![]];
    for i in 0..pods {
        let maps = json!([{"hostPort": 20000 + i, "containerPort": 80, "protocol": "tcp"}]);
        for (k, (bin, node)) in nodes.iter().enumerate() {
            let mut bconf = node.bridge_conf();
            bconf["ipMasq"] = json!(true);
            bconf["ipam"]["ranges"] = json!([[{"subnet": "10.99.0.0/16"}]]);
            let ns = node.sb.pod();
            let cid = format!("bench{i}");
            let prev = Call::attach("ADD", &cid, ns.path_str(), "eth0", &bridge_dir())
                .run(
                    &node.sb.host,
                    &bridge_dir().join("bridge"),
                    &bconf.to_string(),
                )
                .expect_ok();
            let conf = node.portmap_conf(&maps, &json!({}), Some(&prev));
            let t = Instant::now();
            node.run(bin, "ADD", &cid, ns.path_str(), &conf).expect_ok();
            adds[k].push(t.elapsed());
            added[k].push(Pod { ns, cid, prev });
        }
    }
    for (i, (a, b)) in added[0].iter().zip(&added[1]).enumerate() {
        let maps = json!([{"hostPort": 20000 + i, "containerPort": 80, "protocol": "tcp"}]);
        for (k, (bin, node)) in nodes.iter().enumerate() {
            let pod = if k == 0 { a } else { b };
            let t = Instant::now();
            node.del(bin, pod, &maps, &json!({}), true).expect_ok();
            dels[k].push(t.elapsed());
        }
    }
    println!(
        "portmap alone, {pods} pods, bridge from {}",
        bridge_dir().display()
    );
    report("ADD", &adds[0], &adds[1]);
    report("DEL", &dels[0], &dels[1]);
}
