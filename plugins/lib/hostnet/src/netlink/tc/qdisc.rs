//! Queueing disciplines (`RTM_NEWQDISC` / `RTM_DELQDISC` /
//! `RTM_GETQDISC`): a TBF at any handle, the ingress qdisc, deletion, and
//! reading them back.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};

use super::{Handle, Tbf};
use crate::netlink::error::Fail;
use crate::netlink::{Netlink, NetlinkError};

/// A qdisc as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    /// The device.
    pub ifindex: u32,
    /// Its handle (`1:` is `Handle::new(1, 0)`).
    pub handle: Handle,
    /// Its parent ([`Handle::ROOT`], [`Handle::INGRESS`], or a class).
    pub parent: Handle,
    /// `TCA_KIND`: "tbf", "ingress", "noqueue", "pfifo_fast", ...
    pub kind: String,
    /// The TBF parameters, for a `tbf` qdisc.
    pub tbf: Option<Tbf>,
}

impl Qdisc {
    fn from_message(m: &TcMessage) -> Result<Qdisc, Fail> {
        let mut q = Qdisc {
            ifindex: u32::try_from(m.header.index).unwrap_or_default(),
            handle: Handle(m.header.handle.into()),
            parent: Handle(m.header.parent.into()),
            kind: String::new(),
            tbf: None,
        };
        for a in &m.attributes {
            if let TcAttribute::Kind(k) = a {
                q.kind = k.clone();
            }
        }
        if q.kind == "tbf" {
            let opts = m.attributes.iter().find_map(|a| match a {
                TcAttribute::Options(o) => Some(o.as_slice()),
                _ => None,
            });
            q.tbf = Some(Tbf::from_options(opts.unwrap_or_default())?);
        }
        Ok(q)
    }
}

fn tc_msg(ifindex: u32, handle: Handle, parent: Handle) -> TcMessage {
    let mut m = TcMessage::with_index(ifindex.try_into().unwrap_or(i32::MAX));
    m.header.handle = TcHandle::from(handle.0);
    m.header.parent = TcHandle::from(parent.0);
    m
}

impl Netlink {
    /// Add a TBF qdisc (`tc qdisc add dev <if> parent <parent> handle
    /// <handle> tbf ...`). Fails with [`NetlinkError::is_exists`] when a
    /// qdisc is already there (`NLM_F_EXCL`); the default qdisc a device
    /// starts with does not count.
    pub fn add_tbf(
        &self,
        ifindex: u32,
        handle: Handle,
        parent: Handle,
        tbf: &Tbf,
    ) -> Result<(), NetlinkError> {
        let mut m = tc_msg(ifindex, handle, parent);
        m.attributes.push(TcAttribute::Kind("tbf".into()));
        m.attributes.push(TcAttribute::Options(tbf.options()));
        self.sock
            .request(
                RouteNetlinkMessage::NewQueueDiscipline(m),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|f| {
                f.during(format_args!(
                    "add tbf qdisc {handle} (rate {} B/s, limit {} B, buffer {} ticks) on link #{ifindex}",
                    tbf.rate, tbf.limit, tbf.buffer
                ))
            })?;
        Ok(())
    }

    /// Add the ingress qdisc (`tc qdisc add dev <if> handle ffff: ingress`),
    /// where filters on received packets attach. Like iproute2, it sends
    /// an empty `TCA_OPTIONS`.
    pub fn add_ingress_qdisc(&self, ifindex: u32) -> Result<(), NetlinkError> {
        let mut m = tc_msg(ifindex, Handle::INGRESS_HANDLE, Handle::INGRESS);
        m.attributes.push(TcAttribute::Kind("ingress".into()));
        m.attributes.push(TcAttribute::Options(Vec::new()));
        self.sock
            .request(
                RouteNetlinkMessage::NewQueueDiscipline(m),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|f| f.during(format_args!("add ingress qdisc on link #{ifindex}")))?;
        Ok(())
    }

    /// Delete the qdisc at `parent` ([`Handle::ROOT`] or
    /// [`Handle::INGRESS`]); its filters and classes go with it, and a
    /// root qdisc is replaced by the device's default. No qdisc there is
    /// [`NetlinkError::is_not_found`]: the kernel answers `ENOENT` for a
    /// root that is the default one, and `EINVAL` ("Invalid handle") for
    /// a missing ingress qdisc, which is reported as `ENOENT` here.
    pub fn delete_qdisc(&self, ifindex: u32, parent: Handle) -> Result<(), NetlinkError> {
        let m = tc_msg(ifindex, Handle(0), parent);
        self.sock
            .request(RouteNetlinkMessage::DelQueueDiscipline(m), 0)
            .map_err(|f| {
                let f = if f.errno == Some(libc::EINVAL) && parent == Handle::INGRESS {
                    Fail {
                        errno: Some(libc::ENOENT),
                        detail: "no ingress qdisc is attached".into(),
                    }
                } else {
                    f
                };
                f.during(format_args!("delete qdisc {parent} of link #{ifindex}"))
            })?;
        Ok(())
    }

    /// The qdisc attached at `parent` of a device ([`Handle::ROOT`] gives
    /// the root one, default qdiscs such as `noqueue` included;
    /// [`Handle::INGRESS`] the ingress one). `None` when there is none.
    pub fn qdisc(&self, ifindex: u32, parent: Handle) -> Result<Option<Qdisc>, NetlinkError> {
        let op = || format!("get qdisc {parent} of link #{ifindex}");
        let m = tc_msg(ifindex, Handle(0), parent);
        // The kernel answers a single-qdisc GET as a notification, which
        // reaches the asking socket only with NLM_F_ECHO (qdisc_get_notify).
        let replies = match self
            .sock
            .request(RouteNetlinkMessage::GetQueueDiscipline(m), NLM_F_ECHO)
        {
            Ok(r) => r,
            Err(f) if f.errno == Some(libc::ENOENT) => return Ok(None),
            Err(f) => return Err(f.during(op())),
        };
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewQueueDiscipline(q) => Some(Qdisc::from_message(q)),
                _ => None,
            })
            .transpose()
            .map_err(|f| f.during(op()))
    }

    /// Every qdisc of the namespace, or of one device. The kernel's dump
    /// has no device filter (iproute2 filters too), so `ifindex` is
    /// applied here.
    pub fn qdiscs(&self, ifindex: Option<u32>) -> Result<Vec<Qdisc>, NetlinkError> {
        let op = || match ifindex {
            Some(i) => format!("list qdiscs of link #{i}"),
            None => "list qdiscs".to_string(),
        };
        let replies = self
            .sock
            .dump(|| RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()))
            .map_err(|f| f.during(op()))?;
        let mut out = Vec::new();
        for r in &replies {
            if let RouteNetlinkMessage::NewQueueDiscipline(m) = r {
                let q = Qdisc::from_message(m).map_err(|f| f.during(op()))?;
                if ifindex.is_none_or(|i| i == q.ifindex) {
                    out.push(q);
                }
            }
        }
        Ok(out)
    }
}
