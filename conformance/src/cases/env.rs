//! The environment (SPEC.md "Parameters"): a missing `CNI_COMMAND` is the
//! reference skeleton's "about" text; an invalid `CNI_COMMAND`, and missing
//! or invalid `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME` and
//! `CNI_PATH` for each verb are error code 4 ("invalid necessary
//! environment variables") with an error JSON and exit 1, and create
//! nothing; `CNI_ARGS` with unknown keys, with and without `IgnoreUnknown`.

use cni_sandbox::{Call, Netns};
use libcni::Version;
use serde_json::Value;

use super::{ALL, Problems, Single, needs, run_min, runtime_cni_args, sample_result};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx};
use crate::shape::{expect_error, expect_success};
use crate::state::Snapshot;

type Body = fn(&Ctx, &str) -> CaseResult;

pub fn cases() -> Vec<Case> {
    let table: [(&str, Body); 11] = [
        ("missing-command", missing_command),
        ("unknown-command", unknown_command),
        ("missing-containerid", missing_containerid),
        ("invalid-containerid", invalid_containerid),
        ("missing-ifname", missing_ifname),
        ("invalid-ifname", invalid_ifname),
        ("missing-netns", missing_netns),
        ("invalid-netns", invalid_netns),
        ("missing-path", missing_path),
        ("cni-args-ignore-unknown", args_ignore_unknown),
        ("cni-args-unknown-key", args_unknown),
    ];
    let mut v = Vec::new();
    for p in ALL {
        for (what, body) in table {
            // Only plugins that read CNI_ARGS (bridge: MAC, host-local: IP)
            // must reject unknown keys.
            if what == "cni-args-unknown-key" && !matches!(p, "bridge" | "host-local") {
                continue;
            }
            // Only plugins that enter the netns must vouch for it; an IPAM
            // plugin or portmap never opens it.
            if what == "invalid-netns" && !matches!(p, "bridge" | "loopback") {
                continue;
            }
            v.push(Case::new(
                format!("env/{p}/{what}"),
                run_min(p),
                needs(p),
                move |c| body(c, p),
            ));
        }
        if p == "bridge" {
            v.push(Case::new(
                "env/bridge/path-without-ipam-plugin",
                run_min(p),
                needs(p),
                |c| invalid_path(c, false),
            ));
            v.push(Case::new(
                "env/bridge/path-nonexistent",
                run_min(p),
                needs(p),
                |c| invalid_path(c, true),
            ));
        }
        v.push(Case::new(
            format!("env/{p}/gc-status-need-only-command-and-path"),
            SpecNeed::Fixed(Version::V1_1_0),
            needs(p),
            move |c| gc_status_env(c, p),
        ));
    }
    v
}

/// A pod, an attachment with a port mapping, and the plugin prepared.
struct Setup {
    pod: Netns,
    att: Attachment,
    single: Single,
}

fn setup(c: &Ctx, p: &str) -> Result<Setup, String> {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    Ok(Setup { pod, att, single })
}

/// The per-attachment verbs the case's version has.
fn verbs(c: &Ctx) -> Vec<&'static str> {
    if c.version.has_check() {
        vec!["ADD", "DEL", "CHECK"]
    } else {
        vec!["ADD", "DEL"]
    }
}

impl Setup {
    /// The stdin for `verb`: CHECK and DEL (0.4.0+) carry a prevResult.
    fn stdin(&self, c: &Ctx, verb: &str) -> String {
        let prev = match (&self.single.prev, verb) {
            (Some(p), _) => Some(p.clone()),
            (None, "ADD") => None,
            (None, _) if c.version.has_check() => Some(sample_result(&self.att.netns, c.version)),
            (None, _) => None,
        };
        self.single.stdin(&self.att, prev.as_ref())
    }

    /// Run every `(label, call)` expecting an error with one of `codes`;
    /// then nothing may have changed on the host or in the pod.
    fn rejects(&self, c: &Ctx, calls: Vec<(String, Call, &str)>, codes: &[u64]) -> CaseResult {
        let before = Snapshot::take(c);
        let pod_before = self.pod.link_names();
        let mut problems = Problems::default();
        for (label, call, verb) in calls {
            let run = c.exec(&self.single.plugin(), &call, &self.stdin(c, verb));
            problems.note(
                expect_error(&run, codes)
                    .map(|_| ())
                    .map_err(|e| format!("{label}: {e}")),
            );
        }
        problems.note(before.expect_same(&Snapshot::take(c), "a rejected call changed the host"));
        let pod_after = self.pod.link_names();
        if pod_after != pod_before {
            problems.note(Err(format!(
                "a rejected call changed the pod's links: {pod_before:?} -> {pod_after:?}"
            )));
        }
        problems.into_result()
    }
}

/// Without `CNI_COMMAND` (unset or empty) the reference's skeleton prints
/// an "about" text on stderr and exits 0, and tools rely on it: nerdctl
/// parses `CNI firewall plugin <semver>` to choose `ingressPolicy`, Nomad
/// fingerprints every plugin's version. So: exit 0, nothing on stdout,
/// `CNI <p> plugin v<semver>` and the protocol line on stderr, and nothing
/// changed on the host or in the pod.
fn missing_command(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let before = Snapshot::take(c);
    let pod_before = s.pod.link_names();
    let mut problems = Problems::default();
    for (label, call) in [
        (
            "no CNI_COMMAND",
            c.call("ADD", &s.att).without("CNI_COMMAND"),
        ),
        (
            "CNI_COMMAND=\"\"",
            c.call("ADD", &s.att).env("CNI_COMMAND", ""),
        ),
    ] {
        let run = c.exec(&s.single.plugin(), &call, &s.stdin(c, "ADD"));
        problems.note(about_text(&run, p).map_err(|e| format!("{label}: {e}")));
    }
    problems.note(before.expect_same(
        &Snapshot::take(c),
        "a call without CNI_COMMAND changed the host",
    ));
    let pod_after = s.pod.link_names();
    if pod_after != pod_before {
        problems.note(Err(format!(
            "a call without CNI_COMMAND changed the pod's links: {pod_before:?} -> {pod_after:?}"
        )));
    }
    problems.into_result()
}

/// The about text: exit 0, empty stdout, `CNI <p> plugin v<major>.<minor>.<patch>[+build]`
/// then `CNI protocol versions supported: ...` on stderr.
fn about_text(run: &cni_sandbox::PluginRun, p: &str) -> Result<(), String> {
    if run.code != 0 || !run.stdout.trim().is_empty() {
        return Err(format!(
            "want exit 0 with nothing on stdout, got exit {} and stdout {:?}",
            run.code, run.stdout
        ));
    }
    let mut lines = run.stderr.lines();
    let first = lines.next().unwrap_or_default();
    let prefix = format!("CNI {p} plugin v");
    let version = first
        .strip_prefix(&prefix)
        .ok_or_else(|| format!("stderr does not start with {prefix:?}: {:?}", run.stderr))?;
    let core = version.split(['+', '-']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|n| n.parse::<u64>().is_err()) {
        return Err(format!("{first:?}: the version is not a semver"));
    }
    let second = lines.next().unwrap_or_default();
    if !second.starts_with("CNI protocol versions supported: ") {
        return Err(format!(
            "no protocol line after the about line: {:?}",
            run.stderr
        ));
    }
    Ok(())
}

fn unknown_command(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let calls = ["BOGUS", "add", "Add", "ADD ", "DELETE"]
        .iter()
        .map(|cmd| {
            (
                format!("CNI_COMMAND={cmd:?}"),
                c.call("ADD", &s.att).env("CNI_COMMAND", cmd),
                "ADD",
            )
        })
        .collect();
    s.rejects(c, calls, &[4])
}

/// Calls of every verb with `var` removed and set to each of `values`.
fn per_verb(
    c: &Ctx,
    s: &Setup,
    var: &str,
    values: &[&str],
    verbs: &[&'static str],
) -> Vec<(String, Call, &'static str)> {
    let mut calls = Vec::new();
    for &verb in verbs {
        if values.is_empty() {
            calls.push((
                format!("{verb} without {var}"),
                c.call(verb, &s.att).without(var),
                verb,
            ));
            calls.push((
                format!("{verb} with {var}=\"\""),
                c.call(verb, &s.att).env(var, ""),
                verb,
            ));
        }
        for v in values {
            calls.push((
                format!("{verb} with {var}={v:?}"),
                c.call(verb, &s.att).env(var, v),
                verb,
            ));
        }
    }
    calls
}

fn missing_containerid(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let calls = per_verb(c, &s, "CNI_CONTAINERID", &[], &verbs(c));
    s.rejects(c, calls, &[4])
}

fn invalid_containerid(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let bad = [
        "a/b",
        "../escape",
        "-leading-dash",
        "has space",
        ".hidden",
        "semi;colon",
    ];
    let calls = per_verb(c, &s, "CNI_CONTAINERID", &bad, &verbs(c));
    s.rejects(c, calls, &[4])
}

fn missing_ifname(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let calls = per_verb(c, &s, "CNI_IFNAME", &[], &verbs(c));
    s.rejects(c, calls, &[4])
}

fn invalid_ifname(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let bad = ["0123456789abcdef", "a/b", "a:b", "a b", ".", ".."];
    let calls = per_verb(c, &s, "CNI_IFNAME", &bad, &verbs(c));
    s.rejects(c, calls, &[4])
}

/// ADD and CHECK need the netns; DEL may come without it (DEL cases).
fn missing_netns(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let v: Vec<&str> = verbs(c).into_iter().filter(|v| *v != "DEL").collect();
    let calls = per_verb(c, &s, "CNI_NETNS", &[], &v);
    s.rejects(c, calls, &[4])
}

/// A CNI_NETNS that is not a network namespace: code 4 (a bad variable),
/// or 8, which libcni defines as "invalid netns" (the spec names neither).
fn invalid_netns(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let file = c.sb.dir().join("not-a-netns");
    std::fs::write(&file, "x").map_err(|e| e.to_string())?;
    let missing = c.sb.dir().join("no-such-netns");
    let dir = c.sb.subdir("a-directory");
    let bad: Vec<String> = [missing, file, dir]
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let v: Vec<&str> = verbs(c).into_iter().filter(|v| *v != "DEL").collect();
    let calls = per_verb(c, &s, "CNI_NETNS", &bad, &v);
    s.rejects(c, calls, &[4, 8])
}

/// CNI_PATH is needed only to find a delegate (our decision; the
/// reference's skel demands it for every verb): bridge ADD without it is
/// code 4 and creates nothing; the other plugins work without it.
fn missing_path(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    if p == "bridge" {
        let calls = vec![
            (
                "ADD without CNI_PATH".into(),
                c.call("ADD", &s.att).without("CNI_PATH"),
                "ADD",
            ),
            (
                "ADD with CNI_PATH=\"\"".into(),
                c.call("ADD", &s.att).env("CNI_PATH", ""),
                "ADD",
            ),
        ];
        return s.rejects(c, calls, &[4]);
    }
    let run = c.exec(
        &s.single.plugin(),
        &c.call("ADD", &s.att).without("CNI_PATH"),
        &s.stdin(c, "ADD"),
    );
    let result = expect_success(&run, "ADD without CNI_PATH")?;
    let prev = s.single.prev.clone().unwrap_or(result);
    let prev_stdin = s.single.stdin(&s.att, Some(&prev));
    if c.version.has_check() {
        let run = c.exec(
            &s.single.plugin(),
            &c.call("CHECK", &s.att).without("CNI_PATH"),
            &prev_stdin,
        );
        expect_success(&run, "CHECK without CNI_PATH")?;
    }
    let run = c.exec(
        &s.single.plugin(),
        &c.call("DEL", &s.att).without("CNI_PATH"),
        &prev_stdin,
    );
    expect_success(&run, "DEL without CNI_PATH").map(|_| ())
}

/// A CNI_PATH that is set but where the IPAM plugin cannot be found (a
/// directory without `host-local`, or one that does not exist, alone and
/// in a list): bridge ADD fails cleanly and creates nothing, not even the
/// bridge or a veth. The code is not fixed by the spec (the variable is
/// present; the plugin is what is missing), so any error passes.
fn invalid_path(c: &Ctx, nonexistent: bool) -> CaseResult {
    let s = setup(c, "bridge")?;
    let dir = if nonexistent {
        c.sb.dir().join("no-such-dir")
    } else {
        c.sb.subdir("plugins-without-host-local")
    };
    let dir = dir.to_string_lossy().into_owned();
    let also_missing = c.sb.dir().join("also-missing");
    let list = format!("{dir}:{}", also_missing.to_string_lossy());
    let calls = [dir, list]
        .into_iter()
        .map(|p| {
            (
                format!("ADD with CNI_PATH={p:?}"),
                c.call("ADD", &s.att).env("CNI_PATH", &p),
                "ADD",
            )
        })
        .collect();
    s.rejects(c, calls, &[])
}

/// What runtimes send (`IgnoreUnknown=1;K8S_POD_*`) must be accepted by
/// every plugin, on ADD and DEL.
fn args_ignore_unknown(c: &Ctx, p: &str) -> CaseResult {
    let mut s = setup(c, p)?;
    s.att.args = runtime_cni_args(&s.att);
    let result = s
        .single
        .add(c, &s.att)
        .map_err(|e| format!("with CNI_ARGS={:?}: {e}", s.att.args))?;
    let prev: Value = s.single.prev.clone().unwrap_or(result);
    let run = c.exec(
        &s.single.plugin(),
        &c.call("DEL", &s.att),
        &s.single.stdin(&s.att, Some(&prev)),
    );
    expect_success(&run, "DEL with runtime CNI_ARGS").map(|_| ())
}

/// A key the plugin does not know, without `IgnoreUnknown` (or with it
/// false): rejected, nothing allocated. The code is not fixed by the spec
/// (ours: 4, a bad variable; the reference: 999), so any error passes.
fn args_unknown(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    let calls = [
        "FOO=bar",
        "IgnoreUnknown=0;FOO=bar",
        "IgnoreUnknown=false;K8S_POD_NAME=x",
    ]
    .iter()
    .map(|a| {
        (
            format!("ADD with CNI_ARGS={a:?}"),
            c.call("ADD", &s.att).env("CNI_ARGS", a),
            "ADD",
        )
    })
    .collect();
    s.rejects(c, calls, &[])
}

/// GC and STATUS are not about one attachment: only CNI_COMMAND and
/// CNI_PATH are set, and they must succeed on a fresh node.
fn gc_status_env(c: &Ctx, p: &str) -> CaseResult {
    let s = setup(c, p)?;
    for verb in ["GC", "STATUS"] {
        let call = Call::new(verb).env("CNI_PATH", &c.dir.to_string_lossy());
        let run = c.exec(&s.single.plugin(), &call, &s.single.stdin(&s.att, None));
        expect_success(&run, &format!("{verb} with only CNI_COMMAND and CNI_PATH"))?;
    }
    Ok(())
}
