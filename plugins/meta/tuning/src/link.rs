//! Link attributes over rtnetlink, on a socket bound to the pod's
//! namespace (ARCHITECTURE.md principle 2): what ADD records, applies and
//! undoes, and what DEL restores.

use hostnet::netlink::LinkInfo;
use hostnet::{MacAddr, Netlink};
use libcni::{Error, Errors};

use crate::backup::Backup;
use crate::config::Conf;

/// The current values of the attributes `conf` changes: what the backup
/// records (the reference reads them the same way, just before the
/// change).
pub fn capture(link: &LinkInfo, conf: &Conf) -> Backup {
    Backup {
        mac: conf
            .mac
            .as_ref()
            .and_then(|_| link.mac.map(|m| m.to_string())),
        promisc: conf.promisc.then_some(link.promisc),
        mtu: conf.mtu.map(|_| link.mtu),
        allmulti: conf.allmulti.map(|_| link.allmulti),
        txqlen: conf.txqlen.map(|_| link.txqlen),
    }
}

/// Refuse an MTU the device does not accept before anything is changed
/// (the kernel would refuse it with a bare EINVAL after the sysctls and
/// the MAC were already set). A `max` of 0 means no upper limit.
pub fn check_mtu(link: &LinkInfo, conf: &Conf) -> Result<(), Error> {
    let (Some(mtu), Some((min, max))) = (conf.mtu, link.mtu_range) else {
        return Ok(());
    };
    let max = if max == 0 { u32::MAX } else { max };
    if mtu < min || mtu > max {
        return Err(Error::invalid_config(format!(
            "mtu {mtu} is out of range for {}: the kernel accepts {min} to {max} for this device",
            link.name
        )));
    }
    Ok(())
}

/// Apply the config in the reference's order: MAC, promiscuous mode on,
/// MTU, all-multicast, transmit queue length. Stops at the first failure.
pub fn apply(nl: &Netlink, link: &LinkInfo, conf: &Conf) -> Result<(), Error> {
    let i = link.index;
    if let Some(mac) = &conf.mac {
        // The link stays up: since v0.8.2 the reference no longer bounces
        // it (that flushed routes); the main plugins' arp_notify announces
        // the new address.
        nl.set_mac(i, mac.addr)?;
    }
    if conf.promisc {
        nl.set_promisc(i, true)?;
    }
    if let Some(mtu) = conf.mtu {
        nl.set_mtu(i, mtu)?;
    }
    if let Some(on) = conf.allmulti {
        nl.set_allmulti(i, on)?;
    }
    if let Some(q) = conf.txqlen {
        nl.set_txqlen(i, q)?;
    }
    Ok(())
}

/// Put back what `backup` records, in the reference's DEL order (MTU,
/// MAC, promiscuous mode, all-multicast, queue length), going past
/// failures and reporting all of them (ARCHITECTURE.md principle 4).
pub fn restore(nl: &Netlink, index: u32, backup: &Backup) -> Errors {
    let mut errors = Errors::new();
    if let Some(mtu) = backup.mtu {
        errors.record(
            nl.set_mtu(index, mtu)
                .map_err(|e| Error::from(e).context("restore MTU")),
        );
    }
    if let Some(mac) = &backup.mac {
        match mac.parse::<MacAddr>() {
            Ok(m) => {
                errors.record(
                    nl.set_mac(index, m)
                        .map_err(|e| Error::from(e).context("restore MAC")),
                );
            }
            Err(_) => errors.push(Error::plugin(
                crate::code::BACKUP,
                format!("restore MAC: the backup holds {mac:?}, which is not a MAC address"),
            )),
        }
    }
    if let Some(on) = backup.promisc {
        errors.record(
            nl.set_promisc(index, on)
                .map_err(|e| Error::from(e).context("restore promisc")),
        );
    }
    if let Some(on) = backup.allmulti {
        errors.record(
            nl.set_allmulti(index, on)
                .map_err(|e| Error::from(e).context("restore allmulti")),
        );
    }
    if let Some(q) = backup.txqlen {
        errors.record(
            nl.set_txqlen(index, q)
                .map_err(|e| Error::from(e).context("restore txQLen")),
        );
    }
    errors
}
