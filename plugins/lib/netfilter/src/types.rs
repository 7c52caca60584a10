//! Validated values that may appear in a firewall rule. Every string that
//! reaches an iptables-restore script or an nft command passes through one
//! of these types, so a hostile network name, container ID, interface name
//! or protocol is rejected before any tool runs (ARCHITECTURE.md principle 7).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::error::FirewallError;

/// A network name or container ID: `^[A-Za-z0-9][A-Za-z0-9_.-]*$`, the rule
/// skel enforces (cni:pkg/utils ValidateContainerID / network name). The
/// drivers re-check it instead of trusting the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    fn parse(what: &'static str, s: &str) -> Result<Ident, FirewallError> {
        if libcni::spec::conf::is_valid_name(s) {
            Ok(Ident(s.to_string()))
        } else {
            Err(FirewallError::invalid(
                what,
                format!("{s:?}"),
                "it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
            ))
        }
    }

    /// A validated network name (config `name`).
    pub fn network(s: &str) -> Result<Ident, FirewallError> {
        Ident::parse("network name", s)
    }

    /// A validated container ID (`CNI_CONTAINERID`: a rejection is a bad
    /// environment, code 4).
    pub fn container_id(s: &str) -> Result<Ident, FirewallError> {
        Ident::parse("container ID", s).map_err(FirewallError::in_env)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A network interface name as the kernel accepts it (1-15 bytes, not "."
/// or "..", no '/', ':', whitespace), further limited to printable ASCII
/// without quotes or backslashes so that it is inert in any rule syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IfName(String);

impl IfName {
    /// Validate an interface name.
    pub fn new(s: &str) -> Result<IfName, FirewallError> {
        if let Some(reason) = libcni::spec::conf::interface_name_problem(s) {
            return Err(FirewallError::invalid(
                "interface name",
                format!("{s:?}"),
                reason,
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
        {
            return Err(FirewallError::invalid(
                "interface name",
                format!("{s:?}"),
                "only printable ASCII without quotes or backslashes is allowed",
            ));
        }
        Ok(IfName(s.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest chain name iptables accepts (XT_EXTENSION_MAXNAMELEN 29 with
/// the NUL); the reference's generated names are exactly this long.
pub const MAX_CHAIN_NAME: usize = 28;

/// An iptables chain name: 1-28 characters from `[A-Za-z0-9_-]`, not
/// starting with '-' or '!'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainName(pub(super) String);

impl ChainName {
    /// Validate a chain name.
    pub fn new(s: &str) -> Result<ChainName, FirewallError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_CHAIN_NAME
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(ChainName(s.to_string()))
        } else {
            Err(FirewallError::invalid(
                "chain name",
                format!("{s:?}"),
                "1-28 characters from [A-Za-z0-9_-], not starting with '-'",
            ))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest iptables comment (xt_comment's XT_MAX_COMMENT_LEN 256 with the
/// NUL).
pub const MAX_COMMENT: usize = 255;

/// A rule comment: 1-255 bytes, no control characters (a newline would end
/// the restore line). Quotes and backslashes are allowed; the script writer
/// escapes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment(pub(super) String);

impl Comment {
    /// Validate a comment.
    pub fn new(s: &str) -> Result<Comment, FirewallError> {
        if s.is_empty() || s.len() > MAX_COMMENT {
            return Err(FirewallError::invalid(
                "rule comment",
                format!("{s:?}"),
                format!("it must be 1-{MAX_COMMENT} bytes long (it is {})", s.len()),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FirewallError::invalid(
                "rule comment",
                format!("{s:?}"),
                "control characters (newline, tab, NUL...) are not allowed",
            ));
        }
        Ok(Comment(s.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transport protocol a port mapping may name. Parsed case-insensitively
/// (the reference pastes the string verbatim; we never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The lower-case name used by iptables and nft.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The IP protocol number (`IPPROTO_*`, as in the IP header): what
    /// nf_tables compares `meta l4proto` with and conntrack tuples carry.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

impl FromStr for Protocol {
    type Err = FirewallError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(FirewallError::invalid(
                "protocol",
                format!("{s:?}"),
                "expected tcp, udp or sctp",
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IP family: selects iptables vs ip6tables, `ip` vs `ip6` in nft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both families, v4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The family of a prefix.
    pub fn of_net(net: &IpNet) -> Family {
        Family::of(net.addr())
    }

    /// The multicast range the masquerade rules exempt (224.0.0.0/4,
    /// ff00::/8; cni:pkg/ip/ipmasq_iptables_linux.go).
    pub fn multicast(self) -> IpNet {
        match self {
            Family::V4 => IpNet::V4(Ipv4Net::new_assert([224, 0, 0, 0].into(), 4)),
            Family::V6 => IpNet::V6(Ipv6Net::new_assert([0xff00, 0, 0, 0, 0, 0, 0, 0].into(), 8)),
        }
    }

    /// The single-address prefix of `ip` (/32 or /128).
    pub fn host(ip: IpAddr) -> IpNet {
        IpNet::from(ip)
    }

    /// "ip" or "ip6": the nft payload protocol and table family name.
    pub fn nft_name(self) -> &'static str {
        TableFamily::Ip(self).name()
    }

    /// "v4" / "v6" for messages.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// The family of an nf_tables table, and of any nfnetlink request (the
/// `nfgen_family` of its `struct nfgenmsg`): an IP family, or one of the
/// two netfilter families that are not one. Rules, addresses and tools
/// are per IP family ([`Family`]); tables may also be `inet` (both IP
/// families, the nftables masquerade table) or `bridge` (the spoof check
/// of the bridge plugin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableFamily {
    /// `ip` or `ip6`.
    Ip(Family),
    /// `inet`.
    Inet,
    /// `bridge`.
    Bridge,
}

impl TableFamily {
    /// The `NFPROTO_*` number (linux/netfilter.h). For the IP families it
    /// is defined as the address family (`NFPROTO_IPV4 = AF_INET`,
    /// `NFPROTO_IPV6 = AF_INET6`), which is what ctnetlink reads there.
    pub fn nfproto(self) -> u8 {
        match self {
            TableFamily::Inet => 1,
            TableFamily::Ip(Family::V4) => 2,
            TableFamily::Bridge => 7,
            TableFamily::Ip(Family::V6) => 10,
        }
    }

    /// The family keyword of nft (`nft add table ip6 ...`).
    pub fn name(self) -> &'static str {
        match self {
            TableFamily::Inet => "inet",
            TableFamily::Ip(Family::V4) => "ip",
            TableFamily::Bridge => "bridge",
            TableFamily::Ip(Family::V6) => "ip6",
        }
    }
}

impl From<Family> for TableFamily {
    fn from(f: Family) -> TableFamily {
        TableFamily::Ip(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_numbers_are_the_kernel_ones() {
        // NFPROTO_IPV4/IPV6 are the address families ctnetlink expects.
        assert_eq!(TableFamily::from(Family::V4).nfproto(), libc::AF_INET as u8);
        assert_eq!(
            TableFamily::from(Family::V6).nfproto(),
            libc::AF_INET6 as u8
        );
        assert_eq!(TableFamily::Inet.nfproto(), libc::NFPROTO_INET as u8);
        assert_eq!(TableFamily::Bridge.nfproto(), libc::NFPROTO_BRIDGE as u8);
        assert_eq!(Family::V6.nft_name(), "ip6");
        assert_eq!(TableFamily::Bridge.name(), "bridge");
        assert_eq!(Protocol::Sctp.number(), libc::IPPROTO_SCTP as u8);
        assert_eq!(Protocol::Udp.number(), libc::IPPROTO_UDP as u8);
    }
}
