//! VERSION (SPEC.md "VERSION", 0.2.0+) and version negotiation: the
//! reply's shape, what each requested version gets, stdin that is missing
//! or garbage, configs in versions the plugin does not speak, and verbs
//! that a config version does not have yet.

use cni_sandbox::{Call, PluginRun};
use libcni::Version;
use serde_json::{Value, json};

use super::{ALL, Single, ensure, needs, run_min, sample_result};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::Ctx;
use crate::shape::{self, expect_error, expect_success, no_panic, version_reply};
use crate::state::{Snapshot, pod_is_empty};

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let run02 = SpecNeed::Run {
        min: Version::V0_2_0,
    };
    for p in ALL {
        let only: &'static [&'static str] = match p {
            "bridge" => &["bridge"],
            "host-local" => &["host-local"],
            "portmap" => &["portmap"],
            _ => &["loopback"],
        };
        v.push(Case::new(
            format!("version/{p}/reply-shape"),
            run02,
            only,
            move |c| reply_shape(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/echoes-each-claimed-version"),
            run02,
            only,
            move |c| echoes(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/unknown-requested-version"),
            run02,
            only,
            move |c| unknown_requested(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/missing-or-garbage-stdin"),
            run02,
            only,
            move |c| garbage_stdin(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/config-version-not-supported"),
            run_min(p),
            needs(p),
            move |c| unsupported_config(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/check-needs-0.4.0"),
            SpecNeed::Fixed(Version::V0_3_1),
            needs(p),
            move |c| check_gated(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/gc-status-need-1.1.0"),
            SpecNeed::Fixed(Version::V1_1_0),
            needs(p),
            move |c| gc_status_gated(c, p),
        ));
        v.push(Case::new(
            format!("version/{p}/error-reply-has-cni-version"),
            run_min(p),
            needs(p),
            move |c| error_has_version(c, p),
        ));
    }
    v
}

fn version_call(c: &Ctx, p: &str, stdin: &str) -> PluginRun {
    c.exec(p, &Call::new("VERSION"), stdin)
}

fn ask(c: &Ctx, p: &str, v: &str) -> Result<(String, Vec<String>), String> {
    let run = version_call(c, p, &json!({"cniVersion": v}).to_string());
    let reply = expect_success(&run, &format!("VERSION (requested {v})"))?;
    version_reply(&reply).map_err(|e| format!("requested {v}: {e}"))
}

/// The reply is one JSON object with `cniVersion` and a non-empty list of
/// distinct version strings that includes it (SPEC.md "VERSION").
fn reply_shape(c: &Ctx, p: &str) -> CaseResult {
    let run = version_call(c, p, &json!({"cniVersion": c.version.as_str()}).to_string());
    let v = expect_success(&run, "VERSION")?;
    ensure(v.is_object(), || {
        format!("VERSION printed {v}, not an object")
    })?;
    let (_, list) = version_reply(&v)?;
    ensure(list.iter().any(|s| s == c.version.as_str()), || {
        format!("supportedVersions {list:?} lacks {}", c.version)
    })
}

/// Asking with any claimed version gets that version back (our decision;
/// SPEC.md's VERSION example answers in the requested version; the
/// reference always answers with its newest), and the supported list does
/// not depend on the request.
fn echoes(c: &Ctx, p: &str) -> CaseResult {
    let (_, list) = ask(c, p, c.version.as_str())?;
    for v in list.iter().filter(|s| Version::parse(s).is_some()) {
        let (got, again) = ask(c, p, v)?;
        ensure(&got == v, || {
            format!(
                "requested cniVersion {v}, the reply says {got} (it should echo a supported request)"
            )
        })?;
        ensure(again == list, || {
            format!("supportedVersions changed with the request: {list:?} vs {again:?}")
        })?;
    }
    Ok(())
}

/// A runtime newer than the plugin asks with a version the plugin does not
/// know; the plugin must still answer (libcni's GetVersionInfo sends its
/// own newest version).
fn unknown_requested(c: &Ctx, p: &str) -> CaseResult {
    for v in ["99.0.0", "0.0.1"] {
        ask(c, p, v)?;
    }
    Ok(())
}

/// With no stdin, garbage, or a mistyped cniVersion the spec does not say
/// what VERSION does: accept a valid reply or a clean error JSON, never a
/// crash or unparseable output.
fn garbage_stdin(c: &Ctx, p: &str) -> CaseResult {
    for stdin in ["", "not json {", r#"{"cniVersion": 5}"#, "[]"] {
        let run = version_call(c, p, stdin);
        no_panic(&run)?;
        if run.ok() {
            let v = expect_success(&run, "VERSION")?;
            version_reply(&v).map_err(|e| format!("stdin {stdin:?}: {e}"))?;
        } else {
            expect_error(&run, &[]).map_err(|e| format!("stdin {stdin:?}: {e}"))?;
        }
    }
    Ok(())
}

/// ADD with a config in a version the plugin does not speak: error code 1
/// ("incompatible CNI version"), nothing created.
fn unsupported_config(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    let before = Snapshot::take(c);
    for bad in ["99.0.0", "0.0.9"] {
        let mut conf: Value = serde_json::from_str(&single.stdin(&att, single.prev.as_ref()))
            .map_err(|e| e.to_string())?;
        conf["cniVersion"] = json!(bad);
        let run = c.exec(&single.plugin(), &c.call("ADD", &att), &conf.to_string());
        expect_error(&run, &[1]).map_err(|e| format!("cniVersion {bad}: {e}"))?;
    }
    before.expect_same(&Snapshot::take(c), "a rejected ADD changed the host")?;
    if p != "portmap" {
        pod_is_empty(&pod)?;
    }
    Ok(())
}

/// CHECK with a 0.3.1 config: CHECK does not exist before 0.4.0, code 1.
fn check_gated(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    let prev = sample_result(&att.netns, Version::V0_3_1);
    let run = single.exec(c, &c.call("CHECK", &att), &att, Some(&prev));
    expect_error(&run, &[1]).map(|_| ())
}

/// GC and STATUS with a 1.0.0 config: those verbs exist from 1.1.0 on,
/// code 1.
fn gc_status_gated(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let mut single = Single::new(c, p, &att)?;
    single.net = single.net.set("/cniVersion", json!("1.0.0"));
    for verb in ["GC", "STATUS"] {
        let call = Call::new(verb).env("CNI_PATH", &c.dir.to_string_lossy());
        let run = c.exec(&single.plugin(), &call, &single.stdin(&att, None));
        expect_error(&run, &[1]).map_err(|e| format!("{verb} with cniVersion 1.0.0: {e}"))?;
    }
    Ok(())
}

/// The error object carries `cniVersion` (SPEC.md "Error": the error is
/// `{cniVersion, code, msg, details}`), the config's version.
fn error_has_version(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    let run = single.exec(c, &c.call("ADD", &att).without("CNI_IFNAME"), &att, None);
    let e = shape::expect_error(&run, &[])?;
    match e.cni_version {
        Some(v) if v == c.version.as_str() => Ok(()),
        Some(v) => Err(format!(
            "the error says cniVersion {v}, the config's is {}",
            c.version
        )),
        None => Err(format!(
            "the error JSON has no cniVersion: {}",
            serde_json::from_str::<Value>(&run.stdout)
                .map(|v| v.to_string())
                .unwrap_or_default()
        )),
    }
}
