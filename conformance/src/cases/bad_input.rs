//! Bad input on stdin: malformed JSON (code 6), wrong types (code 6: the
//! content cannot be decoded), values out of range and path-like names
//! (code 7: invalid configuration). Every one must be a clean error JSON
//! with exit 1, no panic text, and must create nothing: no link, rule,
//! store record or file anywhere.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use super::{ALL, Problems, Single, ensure, needs, run_min};
use crate::case::{Case, CaseResult};
use crate::ctx::Ctx;
use crate::net::set_pointer;
use crate::shape::expect_error;
use crate::state::{Snapshot, file_tree, pod_is_empty};

/// One bad stdin: raw text, or edits of the valid config at JSON pointers.
#[derive(Debug, Clone)]
enum Input {
    Raw(&'static str),
    Edit(Vec<(&'static str, Value)>),
}

use Input::{Edit, Raw};

fn edit(pointer: &'static str, v: Value) -> Input {
    Edit(vec![(pointer, v)])
}

pub fn cases() -> Vec<Case> {
    let any = run_min("bridge");
    let pm = run_min("portmap");
    let mut v = Vec::new();
    for p in ALL {
        let mk = |what: &str, inputs: Vec<Input>, codes: &'static [u64]| {
            Case::new(
                format!("bad-input/{p}/{what}"),
                run_min(p),
                needs(p),
                move |c| reject(c, p, &inputs, codes, false),
            )
        };
        v.push(mk(
            "malformed-json",
            vec![
                Raw(r#"{"cniVersion":"1.0.0","name":"#),
                Raw("[1,2]"),
                Raw("\"text\""),
                Raw("{}{}"),
            ],
            &[6],
        ));
        v.push(mk("empty-stdin", vec![Raw(""), Raw(" \n")], &[6]));
        v.push(mk(
            "missing-network-name",
            vec![Edit(vec![("/name", Value::Null)]), edit("/name", json!(""))],
            &[7, 6],
        ));
        v.push(mk(
            "wrong-type-standard-key",
            vec![
                edit("/name", json!(5)),
                edit("/cniVersion", json!(1.0)),
                edit("/type", json!(["x"])),
            ],
            &[6],
        ));
        let typed: Vec<Input> = match p {
            "bridge" => vec![
                edit("/isGateway", json!("yes")),
                edit("/mtu", json!("big")),
                edit("/ipam", json!("host-local")),
            ],
            "host-local" => vec![
                edit("/ipam/ranges", json!("10.0.0.0/24")),
                edit("/ipam/routes", json!(5)),
            ],
            "portmap" => vec![
                edit("/snat", json!("no")),
                edit("/runtimeConfig/portMappings/0/hostPort", json!("80")),
                edit("/runtimeConfig/portMappings", json!({"hostPort": 80})),
            ],
            _ => vec![],
        };
        if !typed.is_empty() {
            v.push(mk("wrong-type-plugin-key", typed, &[6]));
        }
        let range: Vec<Input> = match p {
            "bridge" => vec![
                edit("/vlan", json!(4095)),
                edit("/vlanTrunk", json!([{"id": 5000}])),
            ],
            "host-local" => vec![
                edit("/ipam/ranges/0/0/rangeStart", json!("10.99.0.5")),
                edit("/ipam/ranges/0/0/subnet", json!("10.77.0.0/32")),
            ],
            "portmap" => vec![
                edit("/runtimeConfig/portMappings/0/hostPort", json!(0)),
                edit("/runtimeConfig/portMappings/0/containerPort", json!(0)),
            ],
            _ => vec![],
        };
        if !range.is_empty() {
            v.push(mk("out-of-range", range, &[7]));
        }
        v.push(Case::new(
            format!("bad-input/{p}/path-like-network-name"),
            run_min(p),
            needs(p),
            move |c| {
                let names = ["../../escape", "../../../escape", "a/b", "..", "."];
                let inputs: Vec<Input> = names.iter().map(|n| edit("/name", json!(n))).collect();
                reject(c, p, &inputs, &[7], true)
            },
        ));
    }
    v.push(Case::new(
        "bad-input/portmap/port-overflow",
        pm,
        needs("portmap"),
        |c| {
            // 70000 is a JSON number but no port: a decoder with a 16-bit type
            // says 6, a range check says 7; the spec does not choose.
            let inputs = [edit("/runtimeConfig/portMappings/0/hostPort", json!(70000))];
            reject(c, "portmap", &inputs, &[6, 7], false)
        },
    ));
    v.push(Case::new(
        "bad-input/portmap/protocol-injection",
        pm,
        needs("portmap"),
        |c| {
            let protos = [
                "tcp -j ACCEPT",
                "tcp\n-A INPUT -j DROP",
                "tcp; drop",
                "icmp",
            ];
            let inputs: Vec<Input> = protos
                .iter()
                .map(|p| edit("/runtimeConfig/portMappings/0/protocol", json!(p)))
                .collect();
            reject(c, "portmap", &inputs, &[7], false)
        },
    ));
    v.push(Case::new(
        "bad-input/portmap/bad-host-ip",
        pm,
        needs("portmap"),
        |c| {
            let ips = ["not-an-ip", "10.0.0.1 -j ACCEPT", "10.0.0.1; flush ruleset"];
            let inputs: Vec<Input> = ips
                .iter()
                .map(|p| edit("/runtimeConfig/portMappings/0/hostIP", json!(p)))
                .collect();
            reject(c, "portmap", &inputs, &[7], false)
        },
    ));
    v.push(Case::new(
        "bad-input/bridge/bad-bridge-name",
        any,
        needs("bridge"),
        |c| {
            let names = ["../x", "a/b", "bridge-name-too-long", "a b", ""];
            let inputs: Vec<Input> = names.iter().map(|n| edit("/bridge", json!(n))).collect();
            // An empty name may fall back to the default "cni0": only the
            // clearly invalid ones must be rejected.
            reject(c, "bridge", &inputs[..4], &[7], false)
        },
    ));
    v.push(Case::new(
        "bad-input/bridge/ipam-type-is-a-path",
        any,
        needs("bridge"),
        ipam_path,
    ));
    v.push(Case::new(
        "bad-input/bridge/missing-ipam-plugin",
        any,
        needs("bridge"),
        missing_ipam,
    ));
    v
}

/// Run every input as an ADD of plugin `p`; each must be an error with one
/// of `codes` (any code when empty); afterwards nothing may have changed.
fn reject(c: &Ctx, p: &str, inputs: &[Input], codes: &[u64], deep_store: bool) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let mut single = Single::new(c, p, &att)?;
    if deep_store {
        // A nested dataDir, so that `../..` names would land inside the
        // sandbox where the file tree comparison sees them.
        let deep = c.sb.subdir("deep/er/ipam");
        if matches!(p, "bridge" | "host-local") {
            single.net = single
                .net
                .set("/plugins/0/ipam/dataDir", json!(deep.to_string_lossy()));
        }
    }
    let base: Value = serde_json::from_str(&single.stdin(&att, single.prev.as_ref()))
        .map_err(|e| format!("harness: {e}"))?;
    let before = Snapshot::take(c);
    let files = file_tree(c.sb.dir());
    let pod_links = pod.link_names();
    let mut problems = Problems::default();
    for input in inputs {
        let (label, stdin) = match input {
            Raw(s) => (format!("stdin {s:?}"), (*s).to_string()),
            Edit(edits) => {
                let mut v = base.clone();
                for (ptr, val) in edits {
                    set_pointer(&mut v, ptr, val.clone());
                }
                let label = edits
                    .iter()
                    .map(|(p, v)| format!("{p}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (label, v.to_string())
            }
        };
        let run = c.exec(&single.plugin(), &c.call("ADD", &att), &stdin);
        problems.note(
            expect_error(&run, codes)
                .map(|_| ())
                .map_err(|e| format!("{label}: {e}")),
        );
    }
    problems.note(before.expect_same(&Snapshot::take(c), "rejected input changed the host"));
    let files_after = file_tree(c.sb.dir());
    problems.note(ensure(files_after == files, || {
        let new: Vec<&String> = files_after.iter().filter(|f| !files.contains(f)).collect();
        format!("rejected input created files {new:?}")
    }));
    problems.note(ensure(pod.link_names() == pod_links, || {
        format!(
            "rejected input changed the pod: {pod_links:?} -> {:?}",
            pod.link_names()
        )
    }));
    problems.into_result()
}

/// `ipam.type` must name a plugin, not a path: a type that walks out of
/// CNI_PATH to a script is refused (code 7) and the script never runs.
fn ipam_path(c: &Ctx) -> CaseResult {
    let marker = c.sb.dir().join("ran");
    let script = c.sb.dir().join("evil-ipam");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch {}\nexit 1\n", marker.display()),
    )
    .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let depth = c.dir.components().count().saturating_sub(1);
    let rel = format!(
        "{}{}",
        "../".repeat(depth),
        script.to_string_lossy().trim_start_matches('/')
    );
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.bridge_net().set("/plugins/0/ipam/type", json!(rel));
    let before = Snapshot::take(c);
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    let ran = marker.exists();
    ensure(!ran, || {
        format!("ipam type {rel:?} executed {}", script.display())
    })?;
    expect_error(&run, &[7])?;
    before.expect_same(&Snapshot::take(c), "the refused ADD changed the host")?;
    pod_is_empty(&pod)
}

/// An IPAM plugin that is not installed: ADD fails cleanly (the code is
/// not fixed by the spec) and leaves nothing (the bridge exists already,
/// made by a neighbour pod).
fn missing_ipam(c: &Ctx) -> CaseResult {
    let neighbour = c.pod();
    c.add_ok(&c.bridge_net(), &c.attachment(&neighbour))?;
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c
        .bridge_net()
        .set("/plugins/0/ipam/type", json!("no-such-ipam"));
    let before = Snapshot::take(c);
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    expect_error(&run, &[])?;
    before.expect_same(&Snapshot::take(c), "the failed ADD left state behind")?;
    pod_is_empty(&pod)
}
