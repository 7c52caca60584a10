//! Netlink attributes of nfnetlink messages: [`AttrBuf`] writes them
//! (aligned to 4 bytes, `NLA_ALIGNTO`), and the readers below read them
//! through hostnet's attribute iterator.

use hostnet::nlsock::{self, Attr, NLA_F_NESTED};

/// A run of attributes being written: a message's tail or the value of a
/// nested attribute.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AttrBuf(Vec<u8>);

impl AttrBuf {
    /// An empty run.
    pub(crate) fn new() -> AttrBuf {
        AttrBuf::default()
    }

    /// One attribute: header, `value`, padding.
    pub(crate) fn put(&mut self, ty: u16, value: &[u8]) {
        self.0
            .extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(value);
        self.pad();
    }

    /// A NUL-terminated string (`NLA_NUL_STRING`, what the kernel's
    /// policies for names expect).
    pub(crate) fn str(&mut self, ty: u16, s: &str) {
        self.0
            .extend_from_slice(&((4 + s.len() + 1) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self.pad();
    }

    /// A u32 in host byte order.
    pub(crate) fn u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// A u32 in network byte order (nf_tables' `NLA_U32` values).
    pub(crate) fn be32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A u64 in network byte order (handles, counters).
    pub(crate) fn be64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A nested attribute whose attributes `inner` writes in place.
    pub(crate) fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut AttrBuf)) {
        let start = self.0.len();
        self.0.extend_from_slice(&[0, 0]);
        self.0.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        inner(self);
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// A nested attribute whose attributes are already written.
    pub(crate) fn nested(&mut self, ty: u16, attrs: &[u8]) {
        self.put(ty | NLA_F_NESTED, attrs);
    }

    /// An attribute read from the kernel, copied as it was (header and
    /// flags included).
    pub(crate) fn copy(&mut self, a: &Attr<'_>) {
        self.0.extend_from_slice(a.whole);
        self.pad();
    }

    /// What was written.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// What was written, taken.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn pad(&mut self) {
        self.0.resize(nlsock::align4(self.0.len()), 0);
    }
}

/// The attributes of a run, in order; `None` when one is malformed.
pub(crate) fn attrs(buf: &[u8]) -> Option<Vec<Attr<'_>>> {
    nlsock::attributes(buf).collect::<Result<_, _>>().ok()
}

/// The value of the first attribute of type `kind`.
pub(crate) fn find<'a>(attrs: &[Attr<'a>], kind: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|a| a.kind == kind).map(|a| a.value)
}

/// A string value up to its NUL; `None` when it is not UTF-8.
pub(crate) fn c_string(v: &[u8]) -> Option<String> {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec()).ok()
}

/// A u32 value in network byte order.
pub(crate) fn be32(v: &[u8]) -> Option<u32> {
    let b = v.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_aligned_attributes_and_reads_them_back() {
        let mut a = AttrBuf::new();
        a.str(1, "nat");
        a.nest(2, |n| {
            n.be32(1, 7);
            n.put(2, &[9]);
        });
        a.be64(3, 42);
        a.u32(4, 1);
        let b = a.as_bytes();
        // "nat\0" (8) + nest(4 + 8 + 8) + 12 + 8.
        assert_eq!(b.len(), 8 + 20 + 12 + 8);
        assert_eq!(u16::from_ne_bytes([b[10], b[11]]), 2 | NLA_F_NESTED);
        let top = attrs(b).unwrap();
        assert_eq!(top.len(), 4);
        assert_eq!(c_string(find(&top, 1).unwrap()).as_deref(), Some("nat"));
        let inner = attrs(find(&top, 2).unwrap()).unwrap();
        assert_eq!(be32(find(&inner, 1).unwrap()), Some(7));
        assert_eq!(find(&top, 3).unwrap(), &42u64.to_be_bytes());
        let mut c = AttrBuf::new();
        c.copy(&top[1]);
        assert_eq!(c.as_bytes(), &b[8..28]);
        let mut n = AttrBuf::new();
        n.nested(2, &c.as_bytes()[4..]);
        assert_eq!(n, c);
        assert!(attrs(&b[..b.len() - 2]).is_none());
    }
}
