//! What a counter or a lockout is keyed by: an address (an IPv6 host by
//! its /64) or a client id (bounded in length).

use std::net::IpAddr;

/// The longest client id worth a key of its own: a longer one cannot be a
/// registered client (see `ClientId`), so all of them share one key.
pub(super) const MAX_KEYED_ID: usize = 255;

/// The address every caller shares in a failure counter that is full.
pub(super) const OVERFLOW_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The key an address is counted under: an IPv4 address as it is (an
/// IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64, since one
/// host commonly holds a whole /64 and could otherwise pick a fresh
/// address, and a fresh budget, for every attempt.
#[must_use]
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            },
            IpAddr::V4,
        ),
    }
}

/// A client id as a counter key: a longer id than any client may have is
/// one shared key, so a key is never longer than [`MAX_KEYED_ID`] bytes.
pub(super) fn key_for_id(id: &str) -> String {
    if id.len() <= MAX_KEYED_ID {
        id.to_owned()
    } else {
        "\u{0}too long".to_owned()
    }
}
