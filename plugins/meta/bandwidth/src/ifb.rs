//! The ifb device that carries a pod's egress: its name, and the chain
//! that feeds it (plugins:plugins/meta/bandwidth `ifb_creator.go`).
//!
//! Traffic the pod sends arrives on the host veth's *ingress*, where no
//! queue can hold it back. So the host veth gets an ingress qdisc with a
//! u32 filter that matches everything and redirects it to an ifb, whose
//! TBF then shapes it: `bwp` + 12 hex digits of SHA-512(network name +
//! container ID), the reference's name, so either implementation finds
//! the other's device.

use hostnet::Netlink;
use hostnet::NetlinkError;
use hostnet::netlink::IfbSpec;
use hostnet::netlink::tc::{Handle, Tbf, U32MatchAll, Verdict};
use sha2::{Digest, Sha512};

/// Every ifb this plugin makes starts with this.
pub const PREFIX: &str = "bwp";
/// Hex digits after the prefix: 15 characters in all, the kernel's limit.
const HASH_LEN: usize = 12;

/// The ifb of attachment `container_id` on network `network`. The hashed
/// text is the two joined without a separator, as the reference hashes
/// it.
pub fn name(network: &str, container_id: &str) -> String {
    let digest = Sha512::digest(format!("{network}{container_id}"));
    let mut out = String::from(PREFIX);
    for b in digest.iter().take(HASH_LEN / 2) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether a host link of `kind` named `name` looks like an ifb this
/// plugin (or the reference) made: kind ifb, `bwp` and 12 lower-case hex
/// digits.
pub fn is_bandwidth_ifb(kind: Option<&str>, name: &str) -> bool {
    kind == Some("ifb")
        && name.len() == PREFIX.len() + HASH_LEN
        && name.starts_with(PREFIX)
        && name[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The match-all redirect from the host veth's ingress to the ifb, with
/// the reference's two mirred actions (its netlink library adds one that
/// steals the packet, the plugin lists a second that passes; only the
/// first ever runs, but `tc filter show` and tools that count actions see
/// both).
pub fn redirect(ifb_index: u32) -> U32MatchAll {
    U32MatchAll::redirect_to(
        Handle::INGRESS_HANDLE,
        1,
        Handle::new(1, 1),
        ifb_index,
        &[Verdict::Stolen, Verdict::Ok],
    )
}

/// The ifb as the reference creates it: up, the host veth's MTU, and a
/// transmit queue length of 0 (sent explicitly; the TBF is its queue).
pub fn spec(name: &str, mtu: u32) -> IfbSpec<'_> {
    IfbSpec {
        name,
        mtu: Some(mtu),
        txqlen: Some(0),
        up: true,
    }
}

/// The TBF handle and parent on both devices: `1:`, root.
pub const TBF_HANDLE: Handle = Handle::new(1, 0);

/// Add the TBF `1:` at the root of `ifindex`.
pub fn add_tbf(nl: &Netlink, ifindex: u32, tbf: &Tbf) -> Result<(), NetlinkError> {
    nl.add_tbf(ifindex, TBF_HANDLE, Handle::ROOT, tbf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upstream test's value, checked with sha512sum too.
    #[test]
    fn name_matches_the_reference() {
        assert_eq!(
            name("cni-plugin-bandwidth-test", "dummy"),
            "bwpa8eda89404b7"
        );
        assert_eq!(name("cni-plugin-bandwidth-test", "dummy").len(), 15);
    }

    #[test]
    fn recognises_only_bandwidth_ifbs() {
        assert!(is_bandwidth_ifb(Some("ifb"), "bwpa8eda89404b7"));
        assert!(!is_bandwidth_ifb(Some("veth"), "bwpa8eda89404b7"));
        assert!(!is_bandwidth_ifb(None, "bwpa8eda89404b7"));
        for other in [
            "ifb0",
            "bwpA8EDA89404B7",
            "bwpa8eda89404b",
            "xwpa8eda89404b7",
        ] {
            assert!(!is_bandwidth_ifb(Some("ifb"), other), "{other}");
        }
    }
}
