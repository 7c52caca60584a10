//! Intermediate functional block devices (`ifb`, drivers/net/ifb.c): a
//! device that takes packets redirected to it by a tc action and sends
//! them back where they came from after its own qdisc, so a qdisc can
//! shape traffic a device *receives*. And link deletion by name, for
//! devices whose name is all a caller keeps.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo};

use super::link::{check_ifname, link_msg};
use super::{Netlink, NetlinkError};

/// An ifb device to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfbSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// MTU (kernel default when None).
    pub mtu: Option<u32>,
    /// `IFLA_TXQLEN`, sent even when 0 (kernel default when None). An
    /// ifb's queue only matters without a qdisc of its own.
    pub txqlen: Option<u32>,
    /// Bring it up in the same request (`IFF_UP` in the create message,
    /// as `ip link add ... up` does).
    pub up: bool,
}

impl Netlink {
    /// Create an ifb device in one request. Fails with
    /// [`NetlinkError::is_exists`] when the name is taken. On success the
    /// device exists even if a later lookup fails, so a caller that
    /// undoes its work knows exactly what it made.
    pub fn create_ifb(&self, spec: &IfbSpec<'_>) -> Result<(), NetlinkError> {
        check_ifname("create ifb", spec.name)?;
        let mut m = link_msg(0);
        if spec.up {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        }
        m.attributes
            .push(LinkAttribute::IfName(spec.name.to_string()));
        if let Some(mtu) = spec.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(q) = spec.txqlen {
            m.attributes.push(LinkAttribute::TxQueueLen(q));
        }
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
                InfoKind::Ifb,
            )]));
        self.sock
            .request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| f.during(format_args!("create ifb {:?}", spec.name)))?;
        Ok(())
    }

    /// Delete the link named `name` in one request (`IFLA_IFNAME` in
    /// `RTM_DELLINK`). A missing link is [`NetlinkError::is_not_found`].
    pub fn delete_link_by_name(&self, name: &str) -> Result<(), NetlinkError> {
        check_ifname("delete link", name)?;
        let mut m = link_msg(0);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.sock
            .request(RouteNetlinkMessage::DelLink(m), 0)
            .map_err(|f| f.during(format_args!("delete link {name:?}")))?;
        Ok(())
    }
}
