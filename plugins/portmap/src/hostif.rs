//! `route_localnet` on the host interface that routes to the pod, so that
//! connections to `127.0.0.1:<hostPort>` can be DNAT-ed to the pod (the
//! kernel otherwise treats 127/8 as martian once it leaves `lo`;
//! ip-sysctl.txt `route_localnet`). IPv4 only: IPv6 has no equivalent and
//! `::1` cannot be forwarded.
//!
//! The interface is the one the main routing table sends the pod address
//! to (the reference asks the kernel with RTM_GETROUTE).
//! TEMPORARY: until the shared rtnetlink layer (`netkit::netlink`, route
//! get) is merged, the lookup reads `/proc/net/route` (main table,
//! longest prefix, then lowest metric), and the write goes straight to
//! /proc/sys; both are confined to the two functions below.

use std::net::Ipv4Addr;

use libcni::Error;
use netkit::firewall::IfName;

/// RTF_UP (linux/route.h).
const RTF_UP: u32 = 0x1;

/// The interface the main table routes `ip` through, if any.
pub fn route_interface(ip: Ipv4Addr) -> Option<IfName> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    best_route(&text, ip).and_then(|name| IfName::new(&name).ok())
}

/// Longest-prefix match over `/proc/net/route` text.
fn best_route(text: &str, ip: Ipv4Addr) -> Option<String> {
    let target = u32::from(ip);
    let mut best: Option<(u32, u32, String)> = None; // (prefix len, metric, iface)
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dst), Some(flags), Some(mask)) = (hex(f[1]), hex(f[3]), hex(f[7])) else {
            continue;
        };
        let Ok(metric) = f[6].parse::<u32>() else {
            continue;
        };
        if flags & RTF_UP == 0 {
            continue;
        }
        // The kernel prints the network-order address as a native integer.
        let dst = u32::from_be_bytes(dst.to_ne_bytes());
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        if target & mask != dst & mask {
            continue;
        }
        let len = mask.count_ones();
        let better = match &best {
            None => true,
            Some((l, m, _)) => len > *l || (len == *l && metric < *m),
        };
        if better {
            best = Some((len, metric, f[0].to_string()));
        }
    }
    best.map(|(_, _, name)| name)
}

/// Set `net.ipv4.conf.<ifname>.route_localnet = 1` (written only when it
/// is not already on).
pub fn enable_route_localnet(ifname: &IfName) -> Result<(), Error> {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/route_localnet");
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(&path, "1").map_err(|e| {
        Error::plugin(
            netkit::firewall::CODE_FIREWALL,
            format!("unable to enable route_localnet on {ifname} ({path}): {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_then_metric() {
        // Little-endian /proc/net/route as printed on x86.
        let le = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
        let text = format!(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t0101A8C0\t0003\t0\t0\t100\t{}\t0\t0\t0\n\
             cnibr0\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             other\t{}\t00000000\t0001\t0\t0\t5\t{}\t0\t0\t0\n\
             down\t{}\t00000000\t0000\t0\t0\t0\t{}\t0\t0\t0\n",
            le([0, 0, 0, 0]),
            le([0, 0, 0, 0]),
            le([10, 99, 0, 0]),
            le([255, 255, 255, 0]),
            le([10, 99, 0, 0]),
            le([255, 255, 255, 0]),
            le([10, 99, 0, 2]),
            le([255, 255, 255, 255]),
        );
        assert_eq!(
            best_route(&text, Ipv4Addr::new(10, 99, 0, 2)).as_deref(),
            Some("cnibr0")
        );
        assert_eq!(
            best_route(&text, Ipv4Addr::new(8, 8, 8, 8)).as_deref(),
            Some("eth0")
        );
        assert_eq!(best_route("Iface\n", Ipv4Addr::new(8, 8, 8, 8)), None);
    }
}
