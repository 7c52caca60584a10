//! Ethernet (EUI-48) hardware addresses: parsed from configs and
//! `CNI_ARGS`, printed the way the reference prints them (lower-case,
//! colon-separated), as CNI results carry them.

use std::fmt;
use std::str::FromStr;

/// A 6-byte Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

/// A string that is not a 6-byte MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex bytes such as 0a:58:0a:f4:00:02")]
pub struct MacParseError(pub String);

impl MacAddr {
    /// The bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// From a netlink `IFLA_ADDRESS` payload; None unless exactly 6 bytes.
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(b).ok().map(MacAddr)
    }

    /// All zeros (loopback's address).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// The multicast/group bit: such an address cannot be an interface's.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and
    /// `aabb.ccdd.eeff`, any case: the EUI-48 forms Go's `net.ParseMAC`
    /// accepts for 6-byte addresses, which the reference plugins use.
    fn from_str(s: &str) -> Result<MacAddr, MacParseError> {
        let bad = || MacParseError(s.to_string());
        // Groups of two hex digits, or of four in the dotted form.
        let (sep, width) = if s.contains('.') {
            ('.', 4)
        } else if s.contains('-') {
            ('-', 2)
        } else {
            (':', 2)
        };
        let mut out = [0u8; 6];
        let mut n = 0;
        for p in s.split(sep) {
            if p.len() != width || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            for pair in p.as_bytes().chunks(2) {
                let text = std::str::from_utf8(pair).map_err(|_| bad())?;
                *out.get_mut(n).ok_or_else(bad)? =
                    u8::from_str_radix(text, 16).map_err(|_| bad())?;
                n += 1;
            }
        }
        if n != 6 {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        let m: MacAddr = "0A:58:0a:F4:00:02".parse().unwrap();
        assert_eq!(m.to_string(), "0a:58:0a:f4:00:02");
        assert_eq!("0a-58-0a-f4-00-02".parse::<MacAddr>().unwrap(), m);
        assert_eq!("0A58.0af4.0002".parse::<MacAddr>().unwrap(), m);
        assert!(!m.is_multicast());
        assert!(
            "01:00:5e:00:00:01"
                .parse::<MacAddr>()
                .unwrap()
                .is_multicast()
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "0a:58:0a:f4:00",
            "0a:58:0a:f4:00:02:03",
            "0a:58:0a:f4:00:2",
            "zz:58:0a:f4:00:02",
            "0a:58-0a:f4:00:02",
            "0a58.0af4.00",
            "0a58.0af4.0002.0003",
            "0a58.0af4.002",
            "0a58:0af4:0002",
            "+a:58:0a:f4:00:02",
            "0a:58:0a:f4:00:02:",
        ] {
            assert!(s.parse::<MacAddr>().is_err(), "{s}");
        }
    }

    #[test]
    fn from_slice_needs_six_bytes() {
        assert_eq!(MacAddr::from_slice(&[0; 6]), Some(MacAddr([0; 6])));
        assert_eq!(MacAddr::from_slice(&[0; 4]), None);
        assert!(MacAddr::default().is_zero());
    }
}
