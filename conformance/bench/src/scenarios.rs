//! The benchmark scenarios (issue 8). Each runs ours and the baseline
//! alternately so both see the same machine state, and returns rows.

use std::collections::HashSet;
use std::sync::Barrier;
use std::time::Instant;

use cni_sandbox::Netns;
use serde_json::{Value, json};

use crate::exec::Sample;
use crate::floor;
use crate::stats::{Row, Summary, median};
use crate::stopped;
use crate::target::{Network, Target};

/// Options shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Repetitions for single-pod scenarios.
    pub iterations: usize,
    /// Pods for the growth scenarios.
    pub pods: usize,
    /// Concurrent ADDs for the parallel scenario.
    pub parallel: usize,
}

fn row(scenario: &str, op: &str, ours: &[Sample], base: Option<&[Sample]>) -> Row {
    Row {
        scenario: scenario.to_string(),
        op: op.to_string(),
        ours: Summary::of(ours),
        baseline: base.map(Summary::of),
        notes: Vec::new(),
    }
}

fn first_failure(samples: &[Sample]) -> Option<String> {
    samples
        .iter()
        .find(|s| !s.ok)
        .map(|s| s.stderr.chars().take(300).collect())
}

fn note_failures(r: &mut Row, label: &str, samples: &[Sample]) {
    if let Some(f) = first_failure(samples) {
        r.notes.push(format!("{label} first failure: {}", f.trim()));
    }
}

/// Targets as (ours, optional baseline) in a slice for alternation.
fn targets<'a>(ours: &'a Target, base: Option<&'a Target>) -> Vec<&'a Target> {
    std::iter::once(ours).chain(base).collect()
}

/// Scenario 1: one pod, bridge + host-local + ipMasq, ADD then DEL,
/// a fresh pod netns each time.
pub fn single_pod(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let nets: Vec<Network> = all.iter().map(|t| t.network(true, false)).collect();
    add_del_each("1 single pod", &all, &nets, o, None)
}

/// Scenario 8: the kind chain as kindnetd writes it (ptp with the node's
/// MTU and no masquerade, host-local with a default route, portmap),
/// one pod with one host port, ADD then DEL, a fresh pod netns each time.
/// The list is written at the bench's spec version rather than kind's
/// 0.3.1, so both sides speak the same protocol as in every scenario.
/// The DEL row notes the chain's kernel floor: portmap's rules, then the
/// veth.
pub fn kind(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let nets: Vec<Network> = all
        .iter()
        .map(|t| Network {
            name: "kindnet".to_string(),
            plugins: vec![
                serde_json::json!({
                    "type": "ptp",
                    "ipMasq": false,
                    "mtu": 1500,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": t.state.join("ipam").to_string_lossy(),
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "ranges": [[{"subnet": "10.244.0.0/16"}]],
                    }
                }),
                serde_json::json!({"type": "portmap", "capabilities": {"portMappings": true}}),
            ],
        })
        .collect();
    let del_floor = DelFloor {
        steps: &[floor::DelStep::Rules, floor::DelStep::Veth],
        bridge: None,
    };
    add_del_floor(
        "8 kind ptp+portmap",
        &all,
        &nets,
        o,
        Some(18080),
        Some(del_floor),
    )
}

/// Scenario 7: one pod on the chain k3s writes (flannel delegates to
/// bridge + host-local with ipMasq; then portmap with a host port and
/// bandwidth with the `bandwidth` capability, as a pod annotated with
/// `kubernetes.io/ingress-bandwidth` and `egress-bandwidth` gets it),
/// ADD then DEL, a fresh pod netns each time. The DEL row notes the
/// chain's kernel floor: the ifb, portmap's rules, then the veth.
pub fn k3s_chain(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let nets: Vec<Network> = all
        .iter()
        .map(|t| {
            t.network(true, true)
                .then(json!({"type": "bandwidth", "capabilities": {"bandwidth": true}}))
        })
        .collect();
    let bridge = nets[0].plugins[0]["bridge"].as_str();
    let del_floor = DelFloor {
        steps: &[
            floor::DelStep::Ifb,
            floor::DelStep::Rules,
            floor::DelStep::Veth,
        ],
        bridge,
    };
    add_del_floor("7 k3s chain", &all, &nets, o, Some(21000), Some(del_floor))
}

/// Scenario 9: podman's chain (`podman network create`): bridge with
/// ipMasq and hairpinMode, portmap, firewall with `"backend": ""`, and
/// tuning when both directories have it; one pod with one host port, ADD
/// then DEL.
pub fn podman(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let tuning = all.iter().all(|t| t.dir.join("tuning").is_file());
    let nets: Vec<Network> = all.iter().map(|t| t.podman_network(tuning)).collect();
    let mut rows = add_del_each("9 podman chain", &all, &nets, o, Some(8080));
    let chain: Vec<&str> = nets[0]
        .plugins
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    rows[0].notes.push(format!("chain: {}", chain.join(", ")));
    rows
}

/// Scenario 10: kube-flannel's list (flannel, then portmap with one host
/// port), one pod, ADD then DEL. A directory without `flannel` runs the
/// bridge config flannel would delegate to instead, and the row says so:
/// the difference is what the flannel layer costs.
pub fn flannel(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let nets: Vec<Network> = all.iter().map(|t| t.flannel_network()).collect();
    let mut rows = add_del_each("10 kube-flannel", &all, &nets, o, Some(8081));
    for (t, n) in all.iter().zip(&nets) {
        if n.plugins[0]["type"] != "flannel" {
            rows[0].notes.push(format!(
                "{}: no flannel binary, ran its bridge delegate directly",
                t.label
            ));
        }
    }
    rows
}

/// ADD then DEL of one pod on each target's network (`nets[k]` for
/// `all[k]`), a fresh pod netns each time, `o.iterations` times,
/// alternating which side goes first; `host_port` maps one TCP port
/// through portmap.
fn add_del_each(
    scenario: &str,
    all: &[&Target],
    nets: &[Network],
    o: &Opts,
    host_port: Option<u16>,
) -> Vec<Row> {
    add_del_floor(scenario, all, nets, o, host_port, None)
}

/// The DEL floor a chain scenario measures beside the plugins: the kernel
/// waits its DEL must make in series (see [`floor::chain_del`]), with the
/// pod's host end on `bridge` when the chain's main plugin is bridge.
struct DelFloor<'a> {
    steps: &'a [floor::DelStep],
    bridge: Option<&'a str>,
}

/// [`add_del_each`], plus one sample of `del_floor` per iteration, taken
/// right after the plugins' so that it sees the same machine, in the first
/// target's host; its median goes into the DEL row's notes.
fn add_del_floor(
    scenario: &str,
    all: &[&Target],
    nets: &[Network],
    o: &Opts,
    host_port: Option<u16>,
    del_floor: Option<DelFloor<'_>>,
) -> Vec<Row> {
    let mut adds = vec![Vec::new(); all.len()];
    let mut dels = vec![Vec::new(); all.len()];
    let mut floor_samples: Vec<Vec<f64>> = Vec::new();
    let mut floor_error = None;
    for i in 0..o.iterations {
        if stopped() {
            break;
        }
        let order: Vec<usize> = if i % 2 == 0 {
            (0..all.len()).collect()
        } else {
            (0..all.len()).rev().collect()
        };
        for k in order {
            let pod = Netns::new("bpod").expect("pod netns");
            let cid = format!("single{i}");
            let (a, res) = all[k].add(&nets[k], &cid, pod.path_str(), host_port);
            adds[k].push(a);
            dels[k].push(all[k].del(&nets[k], &cid, pod.path_str(), res.as_ref(), host_port));
        }
        if let Some(f) = &del_floor {
            match floor::chain_del(&all[0].host, f.bridge, f.steps) {
                Ok(sample) => floor_samples.push(sample),
                Err(e) => floor_error = Some(e),
            }
        }
    }
    let mut r1 = row(scenario, "ADD", &adds[0], adds.get(1).map(Vec::as_slice));
    let mut r2 = row(scenario, "DEL", &dels[0], dels.get(1).map(Vec::as_slice));
    for (k, t) in all.iter().enumerate() {
        note_failures(&mut r1, t.label, &adds[k]);
        note_failures(&mut r2, t.label, &dels[k]);
    }
    if let Some(f) = &del_floor {
        let base = r2.baseline.as_ref().map(|b| b.median_ms);
        r2.notes.push(floor::chain_del_note(
            f.steps,
            &floor_samples,
            r2.ours.median_ms,
            base,
        ));
    }
    if let Some(e) = floor_error {
        r2.notes.push(format!("kernel floor: a sample failed: {e}"));
    }
    vec![r1, r2]
}

fn growth_note(label: &str, samples: &[Sample]) -> String {
    let n = samples.len();
    let tenth = (n / 10).max(1);
    let ms = |s: &[Sample]| -> Vec<f64> { s.iter().map(|x| x.wall.as_secs_f64() * 1e3).collect() };
    let first = median(&ms(&samples[..tenth.min(n)]));
    let last = median(&ms(&samples[n.saturating_sub(tenth)..]));
    let g = if first > 0.0 { last / first } else { 0.0 };
    format!("{label}: first-10% median {first:.2} ms, last-10% median {last:.2} ms, growth {g:.2}")
}

/// Scenarios 2 and 4: N pods added in sequence and kept, then deleted in
/// the same order; first-10% vs last-10% medians. With `portmap`, each pod
/// gets one host port mapping and the firewall rule count is reported.
pub fn growth(ours: &Target, base: Option<&Target>, o: &Opts, portmap: bool) -> Vec<Row> {
    let name = if portmap {
        "4 bridge+portmap N"
    } else {
        "2 growth N"
    };
    let all = targets(ours, base);
    let nets: Vec<Network> = all.iter().map(|t| t.network(true, portmap)).collect();
    let mut pods: Vec<Vec<(Netns, String, Option<Value>)>> =
        (0..all.len()).map(|_| Vec::new()).collect();
    let mut adds = vec![Vec::new(); all.len()];
    let mut dels = vec![Vec::new(); all.len()];
    let mut floors: Vec<Vec<String>> = vec![Vec::new(); all.len()];
    for i in 0..o.pods {
        if stopped() {
            break;
        }
        for (k, t) in all.iter().enumerate() {
            let pod = Netns::new("bpod").expect("pod netns");
            let cid = format!("grow{i}");
            let hp = portmap.then_some(20000 + i as u16);
            let (a, res) = t.add(&nets[k], &cid, pod.path_str(), hp);
            adds[k].push(a);
            pods[k].push((pod, cid, res));
            if i == 0 {
                floors[k].push(floor_note(t, &nets[k], 1));
            }
        }
    }
    for (k, t) in all.iter().enumerate() {
        floors[k].push(floor_note(t, &nets[k], pods[k].len()));
    }
    let rules: Vec<(usize, usize)> = all.iter().map(|t| t.firewall_rules()).collect();
    for i in 0..o.pods {
        if stopped() {
            break;
        }
        for (k, t) in all.iter().enumerate() {
            let Some((pod, cid, res)) = pods[k].get(i) else {
                continue;
            };
            let hp = portmap.then_some(20000 + i as u16);
            dels[k].push(t.del(&nets[k], cid, pod.path_str(), res.as_ref(), hp));
        }
    }
    let mut r1 = row(name, "ADD", &adds[0], adds.get(1).map(Vec::as_slice));
    let mut r2 = row(name, "DEL", &dels[0], dels.get(1).map(Vec::as_slice));
    for (k, t) in all.iter().enumerate() {
        r1.notes.push(growth_note(t.label, &adds[k]));
        r2.notes.push(growth_note(t.label, &dels[k]));
        r1.notes.push(format!(
            "{}: firewall rules with {} pods: {} iptables nat, {} nft",
            t.label,
            adds[k].len(),
            rules[k].0,
            rules[k].1
        ));
        r1.notes.extend(floors[k].iter().cloned());
        note_failures(&mut r1, t.label, &adds[k]);
        note_failures(&mut r2, t.label, &dels[k]);
    }
    vec![r1, r2]
}

/// The kernel's floor (see [`floor`]) on `t`'s node with `pods` pods.
fn floor_note(t: &Target, net: &Network, pods: usize) -> String {
    let bridge = net.plugins[0]["bridge"].as_str().unwrap_or_default();
    match floor::measure(&t.host, bridge, FLOOR_REPS) {
        Ok(f) => format!("{}: kernel floor with {pods} pods: {f}", t.label),
        Err(e) => format!(
            "{}: kernel floor with {pods} pods not measured: {e}",
            t.label
        ),
    }
}

/// Samples per kernel-floor measurement.
const FLOOR_REPS: usize = 15;

/// Scenario 3: K ADDs started at once on one network, then K DELs at once.
pub fn parallel(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let mut rows = Vec::new();
    let mut add_rows: Vec<(Vec<Sample>, f64, usize)> = Vec::new();
    let mut del_rows: Vec<(Vec<Sample>, f64)> = Vec::new();
    for t in &all {
        if stopped() {
            break;
        }
        let net = t.network(true, false);
        let pods: Vec<Netns> = (0..o.parallel)
            .map(|_| Netns::new("bpod").expect("pod netns"))
            .collect();
        let barrier = Barrier::new(o.parallel);
        let start = Instant::now();
        let results: Vec<(Sample, Option<Value>)> = std::thread::scope(|s| {
            let hs: Vec<_> = pods
                .iter()
                .enumerate()
                .map(|(i, pod)| {
                    let (net, barrier) = (&net, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        t.add(net, &format!("par{i}"), pod.path_str(), None)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("add thread"))
                .collect()
        });
        let add_wall = start.elapsed().as_secs_f64() * 1e3;
        let mut seen = HashSet::new();
        let mut dups = 0;
        for (_, r) in &results {
            for ip in r
                .as_ref()
                .and_then(|v| v["ips"].as_array())
                .into_iter()
                .flatten()
            {
                if !seen.insert(ip["address"].to_string()) {
                    dups += 1;
                }
            }
        }
        let start = Instant::now();
        let dels: Vec<Sample> = std::thread::scope(|s| {
            let hs: Vec<_> = pods
                .iter()
                .zip(&results)
                .enumerate()
                .map(|(i, (pod, (_, res)))| {
                    let (net, barrier) = (&net, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        t.del(net, &format!("par{i}"), pod.path_str(), res.as_ref(), None)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("del thread"))
                .collect()
        });
        let del_wall = start.elapsed().as_secs_f64() * 1e3;
        add_rows.push((
            results.into_iter().map(|(s, _)| s).collect(),
            add_wall,
            dups,
        ));
        del_rows.push((dels, del_wall));
    }
    if add_rows.is_empty() {
        return rows;
    }
    let mut r1 = row(
        "3 parallel K",
        "ADD",
        &add_rows[0].0,
        add_rows.get(1).map(|r| r.0.as_slice()),
    );
    let mut r2 = row(
        "3 parallel K",
        "DEL",
        &del_rows[0].0,
        del_rows.get(1).map(|r| r.0.as_slice()),
    );
    for (k, t) in all.iter().enumerate().take(add_rows.len()) {
        let (s, wall, dups) = &add_rows[k];
        r1.notes.push(format!(
            "{}: {} ADDs wall {wall:.0} ms, {} failures, {dups} duplicate addresses",
            t.label,
            s.len(),
            s.iter().filter(|x| !x.ok).count()
        ));
        note_failures(&mut r1, t.label, s);
        let (d, dwall) = &del_rows[k];
        r2.notes.push(format!(
            "{}: {} DELs wall {dwall:.0} ms, {} failures",
            t.label,
            d.len(),
            d.iter().filter(|x| !x.ok).count()
        ));
        note_failures(&mut r2, t.label, d);
    }
    if add_rows.len() == 2 && add_rows[1].1 > 0.0 {
        r1.notes.push(format!(
            "wall ratio ours/base {:.2}",
            add_rows[0].1 / add_rows[1].1
        ));
    }
    rows.push(r1);
    rows.push(r2);
    rows
}

/// Scenario 5: CHECK latency on a pod of a bridge + host-local + ipMasq
/// network.
pub fn check(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let mut checks = vec![Vec::new(); all.len()];
    let mut setups = Vec::new();
    for t in &all {
        let net = t.network(true, false);
        let pod = Netns::new("bpod").expect("pod netns");
        let (_, res) = t.add(&net, "checkpod", pod.path_str(), None);
        setups.push((net, pod, res));
    }
    for _ in 0..o.iterations {
        if stopped() {
            break;
        }
        for (k, t) in all.iter().enumerate() {
            let (net, pod, res) = &setups[k];
            if let Some(r) = res {
                checks[k].push(t.check(net, "checkpod", pod.path_str(), r, None));
            }
        }
    }
    for (k, t) in all.iter().enumerate() {
        let (net, pod, res) = &setups[k];
        t.del(net, "checkpod", pod.path_str(), res.as_ref(), None);
    }
    let mut r = row(
        "5 check",
        "CHECK",
        &checks[0],
        checks.get(1).map(Vec::as_slice),
    );
    for (k, t) in all.iter().enumerate() {
        note_failures(&mut r, t.label, &checks[k]);
    }
    vec![r]
}

/// Scenario 6: the process start floor, VERSION of each plugin.
pub fn version(ours: &Target, base: Option<&Target>, o: &Opts) -> Vec<Row> {
    let all = targets(ours, base);
    let mut rows = Vec::new();
    for plugin in ["bridge", "host-local", "portmap"] {
        let mut samples = vec![Vec::new(); all.len()];
        for _ in 0..o.iterations {
            if stopped() {
                break;
            }
            for (k, t) in all.iter().enumerate() {
                samples[k].push(t.version(plugin));
            }
        }
        rows.push(row(
            &format!("6 version {plugin}"),
            "VERSION",
            &samples[0],
            samples.get(1).map(Vec::as_slice),
        ));
    }
    rows
}
