//! Randomness from the kernel (getrandom(2)) without a userspace RNG, and
//! the host-side veth names built from it.

use std::io;

/// Fill `buf` from the kernel's CSPRNG.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes
        // for the duration of the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    fill(&mut b)?;
    Ok(b)
}

/// A host veth name as the reference makes them: `veth` and the hex of 4
/// random bytes (`veth%x` over a 4-byte slice: always 8 digits).
pub fn veth_name() -> io::Result<String> {
    Ok(veth_name_from(bytes::<4>()?))
}

fn veth_name_from(b: [u8; 4]) -> String {
    format!("veth{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_have_eight_hex_digits() {
        assert_eq!(veth_name_from([0, 1, 0xab, 0xff]), "veth0001abff");
        let n = veth_name().unwrap();
        assert_eq!(n.len(), 12);
        assert!(n.starts_with("veth"));
        assert!(
            n[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn random_bytes_differ() {
        let a = bytes::<16>().unwrap();
        let b = bytes::<16>().unwrap();
        assert_ne!(a, b);
    }
}
