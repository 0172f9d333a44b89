//! What one client may hold at once: requests in flight, held polls, open connections. Each is
//! counted against every key of the client (`client_addr::client_keys`: an IPv4 address, or an
//! IPv6 /64, /56 and /48 with 1, 4 and 16 shares), so that one client cannot take what is meant
//! for everyone, from one address or from a whole prefix of them.

use super::client_addr::{ClientKey, client_keys};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

pub struct ClientShares {
    /// What one share is: so many at once.
    share: usize,
    /// Clients counted by nothing here.
    exempt: Vec<IpNet>,
    held: Mutex<HashMap<ClientKey, usize>>,
}

impl ClientShares {
    pub fn new(share: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            share,
            exempt,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// One more for `client`, unless one of its keys holds all its shares already. Given
    /// back when the [`Taken`] is dropped.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Option<Taken> {
        let client = client.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&client)) {
            return Some(Taken(None));
        }
        let keys = client_keys(client);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let full = keys.iter().any(|(key, shares)| {
            held.get(&key).copied().unwrap_or(0) >= self.share.saturating_mul(shares as usize)
        });
        if full {
            return None;
        }
        for (key, _) in keys.iter() {
            *held.entry(key).or_default() += 1;
        }
        Some(Taken(Some((
            self.clone(),
            keys.iter().map(|(key, _)| key).collect(),
        ))))
    }

    /// How many `client`'s first key holds now (for tests).
    #[cfg(test)]
    fn held(&self, client: IpAddr) -> usize {
        let (key, _) = client_keys(client).iter().next().expect("a key");
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&key).copied().unwrap_or(0)
    }
}

/// One place taken by a client; given back when dropped.
pub struct Taken(Option<(Arc<ClientShares>, Vec<ClientKey>)>);

impl Drop for Taken {
    fn drop(&mut self) {
        let Some((shares, keys)) = &self.0 else {
            return;
        };
        let mut held = shares.held.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if let Some(count) = held.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    held.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_takes_its_share_and_gives_it_back() {
        let shares = ClientShares::new(2, vec!["127.0.0.0/8".parse().unwrap()]);
        let a = ip("198.51.100.1");
        let first = shares.take(a).unwrap();
        let _second = shares.take(a).unwrap();
        assert!(shares.take(a).is_none(), "a's share is taken");
        assert!(
            shares.take(ip("198.51.100.2")).is_some(),
            "others are not affected"
        );
        drop(first);
        assert!(shares.take(a).is_some(), "given back");
        assert!((0..100).all(|_| shares.take(ip("127.0.0.1")).is_some_and(|t| t.0.is_none())));
        assert_eq!(
            shares.held(ip("127.0.0.1")),
            0,
            "exempt clients are not counted"
        );
    }

    #[test]
    fn a_prefix_of_ipv6_clients_shares_a_bounded_total() {
        let shares = ClientShares::new(1, vec![]);
        // One /64 each, all in one /56: four of them fill the /56's four shares.
        let taken: Vec<_> = (0..4)
            .map(|i| shares.take(ip(&format!("2001:db8:0:{i}::1"))).unwrap())
            .collect();
        assert!(
            shares.take(ip("2001:db8:0:0::2")).is_none(),
            "the /64 is full"
        );
        assert!(
            shares.take(ip("2001:db8:0:4::1")).is_none(),
            "the /56 is full"
        );
        assert!(
            shares.take(ip("2001:db8:0:100::1")).is_some(),
            "another /56 of the /48"
        );
        drop(taken);
        assert!(shares.take(ip("2001:db8:0:4::1")).is_some());
        // A /48: 16 shares in all, whatever its /56s.
        let shares = ClientShares::new(1, vec![]);
        let taken: Vec<_> = (0..16)
            .map(|i| {
                shares
                    .take(ip(&format!("2001:db8:0:{:x}::1", i * 0x100)))
                    .unwrap()
            })
            .collect();
        assert_eq!(taken.len(), 16);
        assert!(
            shares.take(ip("2001:db8:0:ff00::1")).is_none(),
            "the /48 is full"
        );
        assert!(
            shares.take(ip("2001:db8:1::1")).is_some(),
            "the next /48 is someone else"
        );
    }
}
