//! Which host names the server answers to (`--allowed-hosts`). Without this check a page on a
//! rebinding domain (one that resolves to the attacker, then to 127.0.0.1 or a LAN address) is
//! same-origin with a server bound there: it could read and post through a visitor's browser.
//! Any other `Host` is answered 421.

use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The host names answered: those configured, or by default local names and IP addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<String>>);

impl AllowedHosts {
    /// `configured` if given; else `localhost` and any IP address (the bound one, a LAN
    /// address, loopback): a rebinding page names its own domain, never an address, so only
    /// names need to be listed.
    pub fn new(configured: &[String]) -> Self {
        if configured.is_empty() {
            return Self(None);
        }
        Self(Some(configured.iter().map(|h| normalise(h)).collect()))
    }

    /// Whether a request naming `authority` (`host` or `host:port`) is answered.
    pub fn allows(&self, authority: &str) -> bool {
        let Some(host) = strip_port(authority).map(normalise) else {
            return false;
        };
        match &self.0 {
            Some(hosts) => hosts.contains(&host),
            None => host == "localhost" || is_ip_literal(&host),
        }
    }

    /// Whether names would be refused that a server bound to `bound` may be reached by: said
    /// at start, when `--allowed-hosts` is not set on a bind beyond loopback.
    pub fn warning(&self, bound: SocketAddr) -> Option<String> {
        (self.0.is_none() && !bound.ip().is_loopback()).then(|| {
            format!(
                "--allowed-hosts is not set: bound to {bound}, the server answers only to \
                 localhost and IP addresses (a host name gets 421); set it to the names it is \
                 reached by"
            )
        })
    }
}

fn is_ip_literal(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|v6| v6.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => host.parse::<Ipv4Addr>().is_ok(),
    }
}

fn normalise(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `host` from `host:port`, `[v6]` from `[v6]:port`; `None` when something follows a `[v6]`
/// other than a port.
fn strip_port(authority: &str) -> Option<&str> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        let port = rest.strip_prefix(':').unwrap_or(rest);
        return port.bytes().all(|b| b.is_ascii_digit()).then_some(host);
    }
    Some(
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    host
                } else {
                    authority
                }
            }),
    )
}

/// The authority a request names: its URI's (HTTP/2's `:authority`, or an absolute-form
/// request line), else its `Host` header.
pub fn authority_of(request: &Request) -> Option<&str> {
    request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(header::HOST)?.to_str().ok())
}

pub async fn check(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = authority_of(&request).is_some_and(|authority| hosts.allows(authority));
    if !allowed {
        return error_answers::error(&ApiError::new(
            ErrorKind::MisdirectedRequest,
            "This server does not answer for that host name; see --allowed-hosts.",
        ));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_local_names_and_addresses_are_answered_never_other_names() {
        let hosts = AllowedHosts::new(&[]);
        for ok in [
            "localhost:3000",
            "127.0.0.1:3000",
            "LOCALHOST",
            "[::1]:3000",
            "localhost.",
            "192.168.1.20:3000",
            "[2001:db8::1]",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for rebinding in [
            "evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "",
            "localhost.evil",
            "chat.example",
            "[::1]evil.example",
            "[::1]:80evil",
            "[::1",
        ] {
            assert!(!hosts.allows(rebinding), "{rebinding}");
        }
    }

    #[test]
    fn configured_names_are_the_only_ones() {
        let set = AllowedHosts::new(&["Chat.Example".into()]);
        assert!(set.allows("chat.example:443"));
        assert!(!set.allows("other.example"));
        assert!(!set.allows("127.0.0.1"));
    }

    #[test]
    fn an_unset_list_is_said_at_start_beyond_loopback() {
        let bound = |addr: &str| addr.parse::<SocketAddr>().unwrap();
        assert!(
            AllowedHosts::new(&[])
                .warning(bound("0.0.0.0:80"))
                .is_some()
        );
        assert!(
            AllowedHosts::new(&[])
                .warning(bound("10.0.0.5:80"))
                .is_some()
        );
        assert!(
            AllowedHosts::new(&[])
                .warning(bound("127.0.0.1:80"))
                .is_none()
        );
        let set = AllowedHosts::new(&["chat.example".into()]);
        assert!(set.warning(bound("0.0.0.0:80")).is_none());
    }

    #[test]
    fn ports_are_stripped_from_every_form() {
        assert_eq!(strip_port("a.example:80"), Some("a.example"));
        assert_eq!(strip_port("[::1]:80"), Some("[::1]"));
        assert_eq!(strip_port("[::1]"), Some("[::1]"));
        assert_eq!(strip_port("a.example"), Some("a.example"));
        assert_eq!(strip_port("[::1]evil.example"), None);
    }
}
