//! Who a request is from: the peer, or behind a trusted proxy, the address it forwards. The
//! post rate limit, the per-client cap on requests in flight and the request ids all ask here.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug, Default)]
pub struct ClientAddr {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl ClientAddr {
    /// The client's address. Only a trusted proxy's `X-Forwarded-For` is read, from the right:
    /// the right-most address that is not itself a trusted proxy is the client.
    pub fn of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match parse_hop(hop) {
                Some(addr) if self.is_trusted(addr) => client = addr,
                Some(addr) => return addr,
                None => {
                    // Garbage from further out cannot be believed: the last good hop answers
                    // for it.
                    tracing::debug!(
                        hop,
                        "unreadable X-Forwarded-For entry; counted against {client}"
                    );
                    return client;
                }
            }
        }
        client
    }

    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&addr))
    }
}

/// The keys a client is limited by, each with how many clients' shares it holds. An IPv4
/// address is one client. An IPv6 client is its /64 (one host usually has a whole /64 to
/// rotate through), and also its /56 and its /48 with 4 and 16 shares: a site's /48 holds
/// 65,536 /64s, which must not count as 65,536 clients.
pub fn client_keys(client: IpAddr) -> ClientKeys {
    match client.to_canonical() {
        IpAddr::V4(v4) => ClientKeys([Some((ClientKey::V4(v4.into()), 1)), None, None]),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let prefix = |len: u8| ClientKey::V6(bits & (!0u128 << (128 - len)), len);
            ClientKeys([
                Some((prefix(64), 1)),
                Some((prefix(56), 4)),
                Some((prefix(48), 16)),
            ])
        }
    }
}

/// One key of a client: an IPv4 address, or an IPv6 prefix and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    V6(u128, u8),
}

/// A client's keys, with the shares each holds (see [`client_keys`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientKeys([Option<(ClientKey, u32)>; 3]);

impl ClientKeys {
    pub fn iter(&self) -> impl Iterator<Item = (ClientKey, u32)> + '_ {
        self.0.iter().flatten().copied()
    }
}

/// An `X-Forwarded-For` entry: `ip`, or `ip:port` / `[v6]:port` as some balancers write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|at| at.ip()))
        .or_else(|_| {
            hop.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
        })
        .ok()
        .map(|addr| addr.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static(value));
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn behind_proxy() -> ClientAddr {
        ClientAddr {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let clients = behind_proxy();
        let spoof = forwarded("1.2.3.4");
        assert_eq!(clients.of(ip("203.0.113.9"), &spoof), ip("203.0.113.9"));
        assert_eq!(clients.of(ip("10.0.0.2"), &spoof), ip("1.2.3.4"));
        // The right-most untrusted entry: what the client wrote on the left is not believed.
        let chain = forwarded("6.6.6.6, 198.51.100.7, 10.0.0.5");
        assert_eq!(clients.of(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        assert_eq!(
            clients.of(ip("10.0.0.2"), &forwarded("junk, 10.0.0.5")),
            ip("10.0.0.5")
        );
        assert_eq!(
            clients.of(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64_56_and_48() {
        let keys = |s: &str| client_keys(ip(s)).iter().collect::<Vec<_>>();
        assert_eq!(keys("198.51.100.7").len(), 1);
        assert_eq!(keys("::ffff:198.51.100.7"), keys("198.51.100.7"));
        let a = keys("2001:db8:1:2::1");
        assert_eq!(a.len(), 3);
        assert_eq!(a, keys("2001:db8:1:2:ffff::9"), "one /64");
        let next_64 = keys("2001:db8:1:3::1");
        assert_ne!(a[0], next_64[0]);
        assert_eq!(a[1..], next_64[1..], "the same /56 and /48");
        let next_56 = keys("2001:db8:1:100::1");
        assert_ne!(a[1], next_56[1]);
        assert_eq!(a[2], next_56[2], "the same /48");
        assert_eq!(
            a.iter().map(|(_, shares)| *shares).collect::<Vec<_>>(),
            [1, 4, 16]
        );
    }

    #[test]
    fn forwarded_addresses_with_ports_are_read() {
        let clients = behind_proxy();
        for (entry, client) in [
            ("198.51.100.7:4711", "198.51.100.7"),
            ("[2001:db8::7]:4711", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("6.6.6.6, 198.51.100.7:80", "198.51.100.7"),
        ] {
            let headers = {
                let mut h = HeaderMap::new();
                h.insert("x-forwarded-for", HeaderValue::from_str(entry).unwrap());
                h
            };
            assert_eq!(clients.of(ip("10.0.0.2"), &headers), ip(client), "{entry}");
        }
        // Still unreadable: counted against the proxy.
        let odd = forwarded("198.51.100.7:port");
        assert_eq!(clients.of(ip("10.0.0.2"), &odd), ip("10.0.0.2"));
    }
}
