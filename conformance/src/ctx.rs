//! What a case runs in: a fresh fake host netns, temp store and cache
//! directories, and the runtime side of the protocol (run one plugin, or a
//! conf list in order with `prevResult` threading).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_sandbox::{Call, Netns, PluginRun, Sandbox};
use libcni::Version;
use serde_json::{Map, Value, json};

use crate::net::{Net, plugin_conf};

/// How long one plugin call may take before it is killed and reported as
/// hung (the reference bridge waits at most ~2.5 s for an interface).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One case's world.
#[derive(Debug)]
pub struct Ctx {
    /// The fake host netns (plugins run here) and its temp directory.
    pub sb: Sandbox,
    /// The plugin directory under test (also `CNI_PATH`).
    pub dir: PathBuf,
    /// The spec version the case runs at.
    pub version: Version,
    /// A fresh host-local `dataDir`.
    pub data_dir: PathBuf,
    counter: Cell<u32>,
}

/// The runtime's view of one attachment: the per-call environment and the
/// capability arguments.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS` (may be set to "" to test DEL without a netns).
    pub netns: String,
    /// `CNI_ARGS` (empty: not set).
    pub args: String,
    /// Capability arguments (`portMappings`, ...), passed as
    /// `runtimeConfig` to plugins that declare them.
    pub runtime: Map<String, Value>,
}

impl Attachment {
    /// Add a `portMappings` entry (TCP or UDP) for `runtimeConfig`.
    pub fn map_port(mut self, host: u16, container: u16, proto: &str) -> Attachment {
        let entry = json!({"hostPort": host, "containerPort": container, "protocol": proto});
        match self.runtime.get_mut("portMappings") {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                self.runtime
                    .insert("portMappings".into(), Value::Array(vec![entry]));
            }
        }
        self
    }
}

/// Render a plugin run for a failure reason: exit status, stdout, stderr,
/// on one line.
pub fn describe(run: &PluginRun) -> String {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = format!("exit {}", run.code);
    let out = squash(&run.stdout);
    if !out.is_empty() {
        s.push_str(&format!(", stdout: {out}"));
    }
    let err = squash(&run.stderr);
    if !err.is_empty() {
        s.push_str(&format!(", stderr: {err}"));
    }
    s
}

impl Ctx {
    /// A fresh world for one case.
    pub fn new(dir: &Path, version: Version) -> Ctx {
        let sb = Sandbox::new();
        let data_dir = sb.subdir("ipam");
        Ctx {
            sb,
            dir: dir.to_path_buf(),
            version,
            data_dir,
            counter: Cell::new(0),
        }
    }

    /// The fake host netns.
    pub fn host(&self) -> &Netns {
        &self.sb.host
    }

    /// The path of plugin `name` in the directory under test.
    pub fn plugin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The standard bridge network at the case's version.
    pub fn bridge_net(&self) -> Net {
        Net::bridge(self.version, &self.data_dir)
    }

    /// The standard bridge + portmap network at the case's version.
    pub fn portmap_net(&self) -> Net {
        self.bridge_net().with_portmap()
    }

    /// host-local alone at the case's version.
    pub fn host_local_net(&self) -> Net {
        Net::host_local(self.version, &self.data_dir)
    }

    /// A new attachment in `pod` with a unique container ID and `eth0`.
    pub fn attachment(&self, pod: &Netns) -> Attachment {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        Attachment {
            id: format!("conformance-{}-{n}", std::process::id()),
            ifname: "eth0".into(),
            netns: pod.path_str().to_string(),
            args: String::new(),
            runtime: Map::new(),
        }
    }

    /// The environment of a per-attachment call.
    pub fn call(&self, verb: &str, att: &Attachment) -> Call {
        let c = Call::attach(verb, &att.id, &att.netns, &att.ifname, &self.dir);
        if att.args.is_empty() {
            c
        } else {
            c.env("CNI_ARGS", &att.args)
        }
    }

    /// Run plugin `plugin` in the fake host with `call` and `stdin`. A
    /// missing binary is reported as a failed run, not a crash.
    pub fn exec(&self, plugin: &str, call: &Call, stdin: &str) -> PluginRun {
        let bin = self.plugin(plugin);
        if !bin.is_file() {
            return PluginRun {
                code: -1,
                stdout: String::new(),
                stderr: format!("binary missing: {}", bin.display()),
            };
        }
        call.run_timeout(self.host(), &bin, stdin, PLUGIN_TIMEOUT)
    }

    /// Run one plugin of `net` (index `i`) for `verb` with `prev` as
    /// `prevResult`.
    pub fn exec_plugin(
        &self,
        net: &Net,
        i: usize,
        verb: &str,
        att: &Attachment,
        prev: Option<&Value>,
    ) -> PluginRun {
        let plugins = net.plugins();
        let conf = plugin_conf(net, &plugins[i], &att.runtime, prev);
        self.exec(
            &net.plugin_type(i),
            &self.call(verb, att),
            &conf.to_string(),
        )
    }

    /// ADD the conf list in order, each plugin getting the previous one's
    /// result as `prevResult` (0.3.0+). Returns the last result.
    pub fn add(&self, net: &Net, att: &Attachment) -> Result<Value, String> {
        let n = net.plugins().len();
        if net.version() < Version::V0_3_0 && n > 1 {
            return Err(format!(
                "harness: spec {} has no chaining, but the list has {n} plugins",
                net.version()
            ));
        }
        let mut prev: Option<Value> = None;
        for i in 0..n {
            let run = self.exec_plugin(net, i, "ADD", att, prev.as_ref());
            if !run.ok() {
                return Err(format!(
                    "{} ADD failed: {}",
                    net.plugin_type(i),
                    describe(&run)
                ));
            }
            let v: Value = serde_json::from_str(&run.stdout).map_err(|e| {
                format!(
                    "{} ADD printed no JSON result ({e}): {}",
                    net.plugin_type(i),
                    describe(&run)
                )
            })?;
            prev = Some(v);
        }
        prev.ok_or_else(|| "harness: empty plugin list".to_string())
    }

    /// ADD, and on failure tell which step failed (for cases whose subject
    /// is something else).
    pub fn add_ok(&self, net: &Net, att: &Attachment) -> Result<Value, String> {
        self.add(net, att).map_err(|e| format!("setup: {e}"))
    }

    /// DEL the conf list in reverse order; `prev` (the ADD result) is
    /// passed as `prevResult` from 0.4.0 on. Stops at the first failure,
    /// as libcni does.
    pub fn del(&self, net: &Net, att: &Attachment, prev: Option<&Value>) -> Result<(), String> {
        let prev = prev.filter(|_| net.version() >= Version::V0_4_0);
        for i in (0..net.plugins().len()).rev() {
            let run = self.exec_plugin(net, i, "DEL", att, prev);
            if !run.ok() {
                return Err(format!(
                    "{} DEL failed: {}",
                    net.plugin_type(i),
                    describe(&run)
                ));
            }
        }
        Ok(())
    }

    /// CHECK every plugin of the list in order with `prev` as
    /// `prevResult`. Returns the first failing run.
    pub fn check(
        &self,
        net: &Net,
        att: &Attachment,
        prev: &Value,
    ) -> Result<(), (String, PluginRun)> {
        for i in 0..net.plugins().len() {
            let run = self.exec_plugin(net, i, "CHECK", att, Some(prev));
            if !run.ok() {
                return Err((net.plugin_type(i), run));
            }
        }
        Ok(())
    }

    /// CHECK expected to pass.
    pub fn check_ok(&self, net: &Net, att: &Attachment, prev: &Value) -> Result<(), String> {
        self.check(net, att, prev)
            .map_err(|(p, run)| format!("{p} CHECK failed: {}", describe(&run)))
    }

    /// GC (1.1.0) every plugin of the list with these valid attachments,
    /// sent under both keys as libcni does (`cni.dev/valid-attachments`
    /// and the older `cni.dev/attachments`; `keys` selects which).
    pub fn gc(&self, net: &Net, valid: &[&Attachment], keys: &[&str]) -> Result<(), String> {
        let list: Vec<Value> = valid
            .iter()
            .map(|a| json!({"containerID": a.id, "ifname": a.ifname}))
            .collect();
        for (i, plugin) in net.plugins().iter().enumerate() {
            let mut conf = plugin_conf(net, plugin, &Map::new(), None);
            for k in keys {
                conf[*k] = Value::Array(list.clone());
            }
            let call = Call::new("GC").env("CNI_PATH", &self.dir.to_string_lossy());
            let run = self.exec(&net.plugin_type(i), &call, &conf.to_string());
            if !run.ok() {
                return Err(format!(
                    "{} GC failed: {}",
                    net.plugin_type(i),
                    describe(&run)
                ));
            }
        }
        Ok(())
    }

    /// STATUS (1.1.0) of plugin `i` of the list.
    pub fn status(&self, net: &Net, i: usize) -> PluginRun {
        let conf = plugin_conf(net, &net.plugins()[i], &Map::new(), None);
        let call = Call::new("STATUS").env("CNI_PATH", &self.dir.to_string_lossy());
        self.exec(&net.plugin_type(i), &call, &conf.to_string())
    }

    /// A new pod netns.
    pub fn pod(&self) -> Netns {
        self.sb.pod()
    }
}
