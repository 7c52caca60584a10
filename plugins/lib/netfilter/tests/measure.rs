//! Measurement, not a test (`#[ignore]`): time and exec count of one
//! masquerade setup / teardown per backend with 0 and 500 other containers'
//! state present. Run with
//! `cargo test --release -p hostnet --test firewall_measure -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cni_sandbox::{Sandbox, median};
use ipnet::IpNet;
use netfilter::tools::exec_count;
use netfilter::{Backend, MasqInstance};

const ROUNDS: usize = 7;

fn addr(i: usize) -> IpNet {
    format!(
        "10.{}.{}.{}/16",
        100 + i / 60000,
        (i / 250) % 240,
        i % 250 + 2
    )
    .parse()
    .unwrap()
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, u64, T) {
    let e = exec_count();
    let t = Instant::now();
    let v = f();
    (t.elapsed(), exec_count() - e, v)
}

#[test]
#[ignore = "measurement; run explicitly"]
fn measure_setup_and_teardown() {
    println!("backend   others  op                         median    execs");
    for backend in [Backend::Iptables, Backend::Nftables] {
        for others in [0usize, 500] {
            let sb = Sandbox::new();
            sb.host.run(|| {
                for i in 0..others {
                    MasqInstance::new("bench", &format!("other{i}"), "eth0")
                        .unwrap()
                        .setup(Some(backend), &[addr(i)])
                        .unwrap();
                }
            });
            let me = MasqInstance::new("bench", "measured", "eth0").unwrap();
            let mine = [addr(60000)];
            let mut rows: Vec<(&str, Vec<Duration>, u64)> = vec![
                ("setup (1 v4 addr)", vec![], 0),
                ("teardown, known IPs", vec![], 0),
                ("teardown, IPs unknown", vec![], 0),
                ("teardown, nothing left", vec![], 0),
            ];
            sb.host.run(|| {
                for _ in 0..ROUNDS {
                    let (d, n, r) = timed(|| me.setup(Some(backend), &mine));
                    r.unwrap();
                    rows[0].1.push(d);
                    rows[0].2 = n;
                    let (d, n, r) = timed(|| me.teardown(Some(&mine)));
                    r.unwrap();
                    rows[1].1.push(d);
                    rows[1].2 = n;
                    me.setup(Some(backend), &mine).unwrap();
                    let (d, n, r) = timed(|| me.teardown(None));
                    r.unwrap();
                    rows[2].1.push(d);
                    rows[2].2 = n;
                    let (d, n, r) = timed(|| me.teardown(None));
                    r.unwrap();
                    rows[3].1.push(d);
                    rows[3].2 = n;
                }
            });
            for (op, ds, n) in rows {
                println!(
                    "{:<9} {:>6}  {:<26} {:>7.2?} {:>6}",
                    backend.as_str(),
                    others,
                    op,
                    median(&ds),
                    n
                );
            }
        }
    }
}
