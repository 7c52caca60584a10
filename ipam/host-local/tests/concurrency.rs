//! Many plugin processes on one store at once, and processes killed at
//! random moments: the store must stay consistent and never hand out an
//! address twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A tiny xorshift generator: reproducible randomness without a crate.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        eprintln!("rng seed {t}");
        Rng(t | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Assert the store is consistent: every record complete and owned by a
/// known container, at most one record per attachment and family.
fn assert_consistent(data_dir: &Path) -> BTreeMap<String, String> {
    let recs = records(data_dir);
    let mut per_owner: HashMap<(String, bool), String> = HashMap::new();
    for (ip, owner) in &recs {
        let (cid, ifname) = owner
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("record {ip} is partial: {owner:?}"));
        assert!(
            !cid.is_empty() && ifname == "eth0",
            "record {ip}: {owner:?}"
        );
        let v4 = ip.contains('.');
        if let Some(other) = per_owner.insert((owner.clone(), v4), ip.clone()) {
            panic!("{owner:?} holds both {other} and {ip}");
        }
    }
    recs
}

#[test]
fn sixty_four_parallel_adds_get_distinct_addresses() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.2.0.0/24", "fd00:2::/64");
    let children: Vec<_> = (0..64)
        .map(|i| spawn(&ours(), "ADD", &format!("p{i}"), "eth0", "", &c))
        .collect();
    let outs: Vec<PluginRun> = children.into_iter().map(wait).collect();
    let mut v4 = HashSet::new();
    let mut v6 = HashSet::new();
    for (i, out) in outs.iter().enumerate() {
        let ips = out.ips();
        assert!(v4.insert(ips[0].clone()), "v4 {} handed out twice", ips[0]);
        assert!(v6.insert(ips[1].clone()), "v6 {} handed out twice", ips[1]);
        let recs = records(t.path());
        assert_eq!(recs[&ips[0]], format!("p{i}\r\neth0"));
    }
    assert_eq!(assert_consistent(t.path()).len(), 128);
    assert_eq!(index_files(t.path()).len(), 64);
}

#[test]
fn parallel_adds_and_dels_never_share_an_address() {
    let t = tempfile::tempdir().unwrap();
    // A small pool in both families, so addresses are reused many times.
    let c = Arc::new(dual(t.path(), "10.3.0.0/27", "fd00:3::/120"));
    // Every address (IPv4 and IPv6) handed out and not yet released.
    let live: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let threads: Vec<_> = (0..8)
        .map(|th| {
            let (c, live) = (Arc::clone(&c), Arc::clone(&live));
            std::thread::spawn(move || {
                let mut mine: Vec<(String, Vec<String>)> = Vec::new();
                for i in 0..20 {
                    let cid = format!("t{th}-{i}");
                    let ips = add(&ours(), &cid, &c).ips();
                    assert_eq!(ips.len(), 2, "{cid}: {ips:?}");
                    assert!(ips[0].contains('.') && ips[1].contains(':'), "{ips:?}");
                    for ip in &ips {
                        if let Some(other) = live.lock().unwrap().insert(ip.clone(), cid.clone()) {
                            panic!("{ip} handed to {cid} while {other} holds it");
                        }
                    }
                    mine.push((cid, ips));
                    if mine.len() > 2 {
                        let (old, old_ips) = mine.remove(0);
                        // Forget them before releasing: no false alarms.
                        for ip in &old_ips {
                            live.lock().unwrap().remove(ip);
                        }
                        del(&ours(), &old, &c).expect_ok();
                    }
                }
                mine
            })
        })
        .collect();
    let mut left = BTreeMap::new();
    for th in threads {
        for (cid, ips) in th.join().unwrap() {
            for ip in ips {
                left.insert(ip, format!("{cid}\r\neth0"));
            }
        }
    }
    // Both families: exactly the addresses of the attachments still live.
    assert_eq!(left.len(), 8 * 2 * 2);
    assert_eq!(assert_consistent(t.path()), left);
}

/// How long one ADD takes here, to spread the kills over its lifetime.
fn typical_add(c: &Value) -> Duration {
    let start = Instant::now();
    for i in 0..5 {
        add(&ours(), &format!("warm{i}"), c).expect_ok();
    }
    start.elapsed() / 5
}

/// A completed ADD: container ID and the addresses it got.
type Completed = (String, Vec<String>);

/// What became of the ADDs of the kill test.
#[derive(Default)]
struct Tally {
    /// Finished before the kill, with a result.
    done: Vec<Completed>,
    /// Died of the SIGKILL (container IDs).
    killed: Vec<String>,
    /// Anything else: an error reply, another signal (with the signal).
    other: Vec<(String, Option<i32>, PluginRun)>,
}

/// How many of the 500 ADDs must have completed, and how many must have
/// been killed, for the test to mean anything. The delay adapts so that
/// about half complete; a tenth each leaves room for a busy machine.
const MIN_EACH: usize = 50;

/// How many kills must have landed between reserving an address and
/// replying (typically 50 to 80 of the 500 here).
const MIN_MID_FLIGHT: usize = 10;

#[test]
fn kill_minus_nine_during_adds_leaves_a_consistent_store() {
    let t = tempfile::tempdir().unwrap();
    let c = Arc::new(dual(t.path(), "10.4.0.0/22", "fd00:4::/64"));
    let span = typical_add(&c).as_micros() as u64;
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let workers = 4;
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (c, tally) = (Arc::clone(&c), Arc::clone(&tally));
            std::thread::spawn(move || {
                let mut rng = Rng::seeded();
                rng.0 ^= w as u64 * 0x9e37_79b9;
                // Kill after a random delay in [0, 2 * span], adapting span
                // so that about half the ADDs finish: the kills then land
                // all over the store operations, not only in exec.
                let mut span = span;
                for i in (w..500).step_by(workers) {
                    let cid = format!("k{i}");
                    // `spawn` returns once the plugin binary is executing.
                    let mut child = spawn(&ours(), "ADD", &cid, "eth0", "", &c);
                    std::thread::sleep(Duration::from_micros(rng.below(2 * span)));
                    let _ = child.kill();
                    let (out, signal) = wait_signal(child);
                    let mut tally = tally.lock().unwrap();
                    if out.ok() {
                        tally.done.push((cid, out.ips()));
                        span = span * 19 / 20;
                    } else {
                        if signal == Some(libc::SIGKILL) {
                            tally.killed.push(cid);
                        } else {
                            tally.other.push((cid, signal, out));
                        }
                        span = span * 21 / 20 + 1;
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let done = &tally.done;

    // No partial record, no attachment holding two addresses of a family.
    let recs = assert_consistent(t.path());
    let owners: HashSet<String> = recs
        .values()
        .map(|o| o.split("\r\n").next().unwrap().into())
        .collect();
    // Killed after reserving an address but before replying: the kill
    // landed inside the store work, not only around exec or exit.
    let mid_flight = tally.killed.iter().filter(|c| owners.contains(*c)).count();
    eprintln!(
        "of 500 ADDs: {} completed, {} killed ({mid_flight} of them after reserving), {} records left",
        done.len(),
        tally.killed.len(),
        recs.len()
    );
    // Every ADD either finished or died of the kill: no ADD failed
    // because an earlier one was killed.
    assert!(tally.other.is_empty(), "{:?}", tally.other);
    // The test means something only if both happened often.
    assert!(
        done.len() >= MIN_EACH && tally.killed.len() >= MIN_EACH,
        "{} completed and {} killed: want at least {MIN_EACH} of each",
        done.len(),
        tally.killed.len()
    );
    assert!(
        mid_flight >= MIN_MID_FLIGHT,
        "only {mid_flight} kills landed between reserving an address and replying: want {MIN_MID_FLIGHT}"
    );
    // Every completed ADD is recorded, and no address went to two of them.
    let mut seen = HashSet::new();
    for (cid, ips) in done {
        assert_eq!(ips.len(), 2, "{cid}: {ips:?}");
        for ip in ips {
            assert!(seen.insert(ip.clone()), "{ip} handed out twice");
            assert_eq!(recs.get(ip), Some(&format!("{cid}\r\neth0")), "{ip}");
        }
    }
    // DEL finds everything, including what half-finished ADDs reserved.
    for cid in owners {
        del(&ours(), &cid, &c).expect_ok();
    }
    assert!(records(t.path()).is_empty(), "{:?}", records(t.path()));
    // One more call repairs whatever a kill left in the index.
    del(&ours(), "nobody", &c).expect_ok();
    assert!(
        index_files(t.path()).is_empty(),
        "{:?}",
        index_files(t.path())
    );
}
