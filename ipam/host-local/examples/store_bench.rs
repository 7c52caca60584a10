//! ADD and DEL latency of host-local as the store fills up: ours against
//! the reference, on a /16 with 0, 10,000 and 60,000 addresses taken.
//!
//! ```text
//! cargo build --release -p host-local --bins --examples
//! target/release/examples/store_bench [--iterations N] [--ours PATH] [--reference PATH]
//! ```
//!
//! Each binary gets its own fresh store, pre-populated by writing record
//! files directly (as the reference would have left them), with
//! `last_reserved_ip.0` pointing at the last one. One warm-up ADD+DEL runs
//! first; for our binary that is the one-time index rebuild after foreign
//! writes, reported separately ("first call", ADD + DEL). Then N ADDs of
//! new containers and N DELs of them, each timed from spawn to exit (what
//! a runtime waits for). The machine should be otherwise idle: numbers on
//! a loaded machine swing by 2x.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn call(bin: &Path, verb: &str, cid: &str, conf: &str) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", "/proc/self/ns/net")
        .env("CNI_NETNS_OVERRIDE", "1")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the plugin");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{} {verb} {cid} failed: {}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Write `n` records 10.8.0.2, 10.8.0.3, ... and last_reserved_ip.0.
fn populate(net_dir: &Path, n: u32) {
    std::fs::create_dir_all(net_dir).unwrap();
    let base = u32::from(Ipv4Addr::new(10, 8, 0, 2));
    for i in 0..n {
        let ip = Ipv4Addr::from(base + i);
        std::fs::write(net_dir.join(ip.to_string()), format!("pre{i}\r\neth0")).unwrap();
    }
    if n > 0 {
        let last = Ipv4Addr::from(base + n - 1);
        std::fs::write(net_dir.join("last_reserved_ip.0"), last.to_string()).unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    median: Duration,
    p90: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        median: v[v.len() / 2],
        p90: v[(v.len() * 9 / 10).min(v.len() - 1)],
    }
}

struct Row {
    first: Duration,
    add: Stats,
    del: Stats,
}

fn measure(bin: &Path, taken: u32, iterations: usize) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    populate(&tmp.path().join("net"), taken);
    // Flush the pre-populated files now, not during the measurement.
    nix::unistd::sync();
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "net", "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": tmp.path(), "ranges": [[{"subnet": "10.8.0.0/16"}]]}
    })
    .to_string();
    let first = call(bin, "ADD", "warm", &conf) + call(bin, "DEL", "warm", &conf);
    // Our first call rebuilds the index; flush that before measuring, or
    // the first fsyncs of the measured ADDs pay for its journal commit.
    nix::unistd::sync();
    let adds = (0..iterations)
        .map(|i| call(bin, "ADD", &format!("b{i}"), &conf))
        .collect();
    let dels = (0..iterations)
        .map(|i| call(bin, "DEL", &format!("b{i}"), &conf))
        .collect();
    Row {
        first,
        add: stats(adds),
        del: stats(dels),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/examples/store_bench -> target/<profile>/host-local
    let mut ours: PathBuf = exe.parent().unwrap().parent().unwrap().join("host-local");
    let mut reference = PathBuf::from("/usr/lib/cni/host-local");
    let mut iterations = 30usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ours" => ours = args.next().expect("--ours PATH").into(),
            "--reference" => reference = args.next().expect("--reference PATH").into(),
            "--iterations" => iterations = args.next().expect("--iterations N").parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    println!(
        "ours: {}\nreference: {}",
        ours.display(),
        reference.display()
    );
    println!("{iterations} ADDs and DELs per cell; milliseconds, median (p90)\n");
    println!(
        "{:>7} | {:>9} | {:>15} {:>15} | {:>15} {:>15} | {:>10}",
        "taken", "binary", "ADD", "DEL", "ADD vs empty", "DEL vs empty", "first call"
    );
    let mut empty: Vec<(Stats, Stats)> = Vec::new();
    for taken in [0u32, 10_000, 60_000] {
        let mut rows = Vec::new();
        for (i, (label, bin)) in [("ours", &ours), ("reference", &reference)]
            .into_iter()
            .enumerate()
        {
            let row = measure(bin, taken, iterations);
            if taken == 0 {
                empty.push((row.add, row.del));
            }
            let (e_add, e_del) = empty[i];
            println!(
                "{taken:>7} | {label:>9} | {:>6} ({:>6}) {:>6} ({:>6}) | {:>14.2}x {:>14.2}x | {:>10}",
                ms(row.add.median),
                ms(row.add.p90),
                ms(row.del.median),
                ms(row.del.p90),
                row.add.median.as_secs_f64() / e_add.median.as_secs_f64(),
                row.del.median.as_secs_f64() / e_del.median.as_secs_f64(),
                ms(row.first),
            );
            rows.push(row);
        }
        println!(
            "{taken:>7} | ours/ref  | ADD {:.2}x  DEL {:.2}x",
            rows[0].add.median.as_secs_f64() / rows[1].add.median.as_secs_f64(),
            rows[0].del.median.as_secs_f64() / rows[1].del.median.as_secs_f64(),
        );
    }
}
