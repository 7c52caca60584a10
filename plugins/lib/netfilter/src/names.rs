//! Chain names, hashes and rule comments, derived exactly as the reference
//! plugins derive them, so state made by either implementation is found and
//! removed by the other.
//!
//! - chain: `CNI-` + prefix + hex(sha512(network + containerID)), cut to 28
//!   characters (cni:plugins pkg/utils FormatChainName /
//!   MustFormatChainNameWithPrefix); note there is no separator between
//!   network and container ID in the hashed text.
//! - masquerade comment: `name: %q id: %q` (pkg/utils FormatComment).
//! - nftables masquerade comment: `<sha16(net)>-<sha16(ifname:cid)>, net:
//!   .., if: .., id: ..`, cut to 128 bytes (pkg/ip/ipmasq_nftables_linux.go,
//!   knftables.CommentLengthMax).

use sha2::{Digest, Sha512};

use super::error::FirewallError;
use super::types::{ChainName, Comment, Ident, IfName, MAX_CHAIN_NAME};

/// Prefix of every per-container chain.
pub const CHAIN_PREFIX: &str = "CNI-";
/// Longest nftables comment the reference writes (knftables).
pub const NFT_COMMENT_MAX: usize = 128;

/// `prefix` followed by the lower-case hex of sha512(`text`), cut to `len`
/// characters (the reference's MustFormatHashWithPrefix).
pub fn hash_with_prefix(len: usize, prefix: &str, text: &str) -> String {
    let digest = Sha512::digest(text.as_bytes());
    let mut out = String::with_capacity(prefix.len() + digest.len() * 2);
    out.push_str(prefix);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out.truncate(len);
    out
}

/// The per-container chain `CNI-<prefix><hex>` of `network` + `container`.
pub fn chain_name(
    network: &Ident,
    container: &Ident,
    prefix: &str,
) -> Result<ChainName, FirewallError> {
    let full = format!("{CHAIN_PREFIX}{prefix}");
    if full.len() >= MAX_CHAIN_NAME {
        return Err(FirewallError::invalid(
            "chain prefix",
            prefix,
            "too long to leave room for the hash",
        ));
    }
    let text = format!("{}{}", network.as_str(), container.as_str());
    ChainName::new(&hash_with_prefix(MAX_CHAIN_NAME, &full, &text))
}

/// The masquerade chain of the bridge plugin's `ipMasq` (no prefix).
pub fn masq_chain(network: &Ident, container: &Ident) -> ChainName {
    // "CNI-" + 24 hex characters is always a valid chain name.
    ChainName(hash_with_prefix(
        MAX_CHAIN_NAME,
        CHAIN_PREFIX,
        &format!("{network}{container}"),
    ))
}

/// Go's `%q` of an [`Ident`]: the characters an Ident may hold
/// (`[A-Za-z0-9_.-]`) are all printable and need no escape, so `%q` only
/// adds the surrounding double quotes.
fn go_quote(id: &Ident) -> String {
    format!("\"{}\"", id.as_str())
}

/// The masquerade comment `name: "<net>" id: "<cid>"`. Fails when the
/// result would exceed iptables' 255-byte comment limit (the reference
/// fails the same way, inside iptables).
pub fn masq_comment(network: &Ident, container: &Ident) -> Result<Comment, FirewallError> {
    Comment::new(&format!(
        "name: {} id: {}",
        go_quote(network),
        go_quote(container)
    ))
}

/// Read back a masquerade comment: `(network, container ID)`, or `None`
/// when the text is not exactly of that form.
pub fn parse_masq_comment(text: &str) -> Option<(Ident, Ident)> {
    let rest = text.strip_prefix("name: \"")?;
    let (net, rest) = rest.split_once("\" id: \"")?;
    let cid = rest.strip_suffix('"')?;
    Some((Ident::network(net).ok()?, Ident::container_id(cid).ok()?))
}

/// The nftables masquerade hash of a network: 16 hex characters.
pub fn nft_network_hash(network: &Ident) -> String {
    hash_with_prefix(16, "", network.as_str())
}

/// The nftables masquerade hash of one attachment:
/// `<network hash>-<16 hex of "ifname:containerID">`.
pub fn nft_instance_hash(network: &Ident, ifname: &IfName, container: &Ident) -> String {
    format!(
        "{}-{}",
        nft_network_hash(network),
        hash_with_prefix(16, "", &format!("{ifname}:{container}"))
    )
}

/// The nftables masquerade rule comment of one attachment, cut to 128
/// bytes.
pub fn nft_masq_comment(network: &Ident, ifname: &IfName, container: &Ident) -> String {
    nft_masq_comment_raw(network.as_str(), ifname.as_str(), container.as_str())
}

/// [`nft_masq_comment`] of unvalidated text, as the reference computes it
/// for GC's valid attachments: '"' removed from the three values, cut to
/// 128 bytes (at a character boundary). Only ever compared, never sent.
pub fn nft_masq_comment_raw(network: &str, ifname: &str, container: &str) -> String {
    let hash = format!(
        "{}-{}",
        hash_with_prefix(16, "", network),
        hash_with_prefix(16, "", &format!("{ifname}:{container}"))
    );
    let strip = |s: &str| s.replace('"', "");
    let mut s = format!(
        "{hash}, net: {}, if: {}, id: {}",
        strip(network),
        strip(ifname),
        strip(container)
    );
    let mut cut = NFT_COMMENT_MAX.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

/// Whether `name` has the shape of a masquerade chain (`CNI-` + 24 lower
/// hex digits).
pub fn looks_like_masq_chain(name: &str) -> bool {
    name.len() == MAX_CHAIN_NAME
        && name.starts_with(CHAIN_PREFIX)
        && name[CHAIN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::container_id(s).unwrap()
    }

    #[test]
    fn masq_chain_matches_reference_binary() {
        // Produced by /usr/lib/cni/bridge 1.1.1 for network "n", container "abc".
        let c = masq_chain(&id("n"), &id("abc"));
        assert_eq!(c.as_str(), "CNI-5a1527d2fe74c1a342e29c75");
        assert_eq!(chain_name(&id("n"), &id("abc"), "").unwrap(), c);
    }

    #[test]
    fn hash_is_sha512_of_concatenation() {
        // sha512("abc") starts with ddaf35a193617aba (FIPS 180-2 test vector);
        // network "a" + container "bc" hashes the same text.
        assert_eq!(hash_with_prefix(16, "", "abc"), "ddaf35a193617aba");
        assert_eq!(
            masq_chain(&id("a"), &id("bc")).as_str(),
            "CNI-ddaf35a193617abacc417349"
        );
    }

    #[test]
    fn prefixed_chains_are_28_chars() {
        let d = chain_name(&id("n"), &id("abc"), "DN-").unwrap();
        assert_eq!(d.as_str().len(), 28);
        assert!(d.as_str().starts_with("CNI-DN-"));
        assert_eq!(
            d.as_str()[7..],
            masq_chain(&id("n"), &id("abc")).as_str()[4..25]
        );
        assert!(chain_name(&id("n"), &id("abc"), "XXXXXXXXXXXXXXXXXXXXXXXX").is_err());
    }

    #[test]
    fn comments_match_reference_form() {
        let c = masq_comment(&id("n"), &id("abc")).unwrap();
        assert_eq!(c.as_str(), r#"name: "n" id: "abc""#);
        assert_eq!(parse_masq_comment(c.as_str()), Some((id("n"), id("abc"))));
        assert_eq!(parse_masq_comment(r#"name: "n" id: "a b""#), None);
        assert_eq!(parse_masq_comment(r#"dnat name: "n" id: "abc""#), None);
    }

    #[test]
    fn long_names_fail_like_reference() {
        let long = id(&"x".repeat(300));
        assert!(masq_comment(&long, &id("abc")).is_err());
    }

    #[test]
    fn nft_comment_layout() {
        let eth0 = IfName::new("eth0").unwrap();
        let c = nft_masq_comment(&id("n"), &eth0, &id("abc"));
        let h = nft_instance_hash(&id("n"), &eth0, &id("abc"));
        assert_eq!(h.len(), 33);
        assert_eq!(&h[..16], hash_with_prefix(16, "", "n"));
        assert_eq!(&h[17..], hash_with_prefix(16, "", "eth0:abc"));
        assert_eq!(c, format!("{h}, net: n, if: eth0, id: abc"));
        let long = nft_masq_comment(&id(&"n".repeat(200)), &eth0, &id("abc"));
        assert_eq!(long.len(), NFT_COMMENT_MAX);
        assert_eq!(nft_masq_comment_raw("n", "eth0", "abc"), c);
        assert!(nft_masq_comment_raw("n\"", "eth0", "abc").contains("net: n,"));
    }

    #[test]
    fn masq_chain_shape() {
        assert!(looks_like_masq_chain("CNI-5a1527d2fe74c1a342e29c75"));
        assert!(!looks_like_masq_chain("CNI-DN-5a1527d2fe74c1a342e29"));
        assert!(!looks_like_masq_chain("CNI-HOSTPORT-DNAT"));
    }
}
