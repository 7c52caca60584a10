//! Real traffic: a TCP transfer between the fake host and the pod,
//! measured at the receiver, before and after ADD, in both directions.
//! A token bucket lets its burst through at line rate and then the rate,
//! so the shaped rate is computed without the burst; TCP's own ramp and
//! loss recovery make it approximate, hence the generous band (±35 %),
//! while the unshaped veth runs far above it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use cni_sandbox::{Netns, Sandbox, tcp_best_rate};
use common::*;

/// 4 Mbit/s with a 32 KB bucket, both ways; 400 KB take about 0.75 s.
const RATE: u64 = 4_000_000;
const BURST_BITS: u64 = 1_000_000;
const BYTES: usize = 600_000;
const TIMEOUT: Duration = Duration::from_secs(20);

/// The rate of a transfer (the best of a few while below the tolerance:
/// see `tcp_best_rate`).
fn rate(from: &Netns, to: &Netns, at: &str) -> f64 {
    let at: SocketAddr = at.parse().unwrap();
    let enough = 0.65 * RATE as f64;
    tcp_best_rate(
        from,
        to,
        at,
        BYTES,
        (BURST_BITS / 8) as usize,
        TIMEOUT,
        enough,
    )
    .unwrap()
}

fn assert_shaped(what: &str, measured: f64, unshaped: f64) {
    let want = RATE as f64;
    assert!(
        (0.65 * want..=1.35 * want).contains(&measured),
        "{what}: {measured:.0} bit/s, configured {want:.0} (unshaped {unshaped:.0})"
    );
    assert!(
        unshaped > 3.0 * want,
        "{what}: the unshaped veth ran at only {unshaped:.0} bit/s"
    );
}

#[test]
fn both_directions_are_limited_to_the_configured_rate() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "traffic1", None);
    let into_pod = format!("{POD_IP}:7100");
    let out_of_pod = format!("{HOST_IP}:7101");
    let free_in = rate(&sb.host, &pod.ns, &into_pod);
    let free_out = rate(&pod.ns, &sb.host, &out_of_pod);

    let c = conf("1.0.0", both(RATE, BURST_BITS, RATE, BURST_BITS));
    pod.call(&sb, &ours(), "ADD", &c).expect_ok();
    let shaped_in = rate(&sb.host, &pod.ns, &into_pod);
    let shaped_out = rate(&pod.ns, &sb.host, &out_of_pod);
    eprintln!(
        "into the pod: {free_in:.0} -> {shaped_in:.0} bit/s; out of the pod: {free_out:.0} -> \
         {shaped_out:.0} bit/s; configured {RATE}"
    );
    assert_shaped("into the pod", shaped_in, free_in);
    assert_shaped("out of the pod", shaped_out, free_out);
}
