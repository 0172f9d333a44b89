//! Which host names the server answers to (`--allowed-hosts`). Without this check a page on a
//! rebinding domain (one that resolves to the attacker, then to 127.0.0.1) is same-origin with
//! a server bound to loopback or a private address: it could read and post through a visitor's
//! browser. Any other `Host` is answered 421.

use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The host names answered; `None` answers any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<String>>);

impl AllowedHosts {
    /// `configured` if given; else, bound to loopback: that address, `localhost`, `127.0.0.1`
    /// and `[::1]`; bound to any other address: any host (a public server is reached by
    /// names this one cannot know).
    pub fn new(configured: &[String], bound: SocketAddr) -> Self {
        if !configured.is_empty() {
            return Self(Some(configured.iter().map(|h| normalise(h)).collect()));
        }
        if bound.ip().is_loopback() {
            let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
                .into_iter()
                .map(String::from)
                .collect();
            hosts.push(host_of_ip(bound.ip()));
            hosts.dedup();
            return Self(Some(hosts));
        }
        Self(None)
    }

    /// Whether a request naming `authority` (`host` or `host:port`) is answered.
    pub fn allows(&self, authority: &str) -> bool {
        let Some(hosts) = &self.0 else {
            return true;
        };
        let host = normalise(strip_port(authority));
        hosts.contains(&host)
    }
}

fn host_of_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn normalise(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `host` from `host:port`, `[v6]` from `[v6]:port`.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                host
            } else {
                authority
            }
        })
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

    fn bound(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    #[test]
    fn loopback_answers_only_to_local_names() {
        let hosts = AllowedHosts::new(&[], bound("127.0.0.1:3000"));
        for ok in [
            "localhost:3000",
            "127.0.0.1:3000",
            "LOCALHOST",
            "[::1]:3000",
            "localhost.",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for rebinding in [
            "evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "",
            "localhost.evil",
        ] {
            assert!(!hosts.allows(rebinding), "{rebinding}");
        }
    }

    #[test]
    fn public_binds_answer_any_name_unless_configured() {
        assert!(AllowedHosts::new(&[], bound("0.0.0.0:80")).allows("chat.example"));
        let set = AllowedHosts::new(&["Chat.Example".into()], bound("0.0.0.0:80"));
        assert!(set.allows("chat.example:443"));
        assert!(!set.allows("other.example"));
    }

    #[test]
    fn ports_are_stripped_from_every_form() {
        assert_eq!(strip_port("a.example:80"), "a.example");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("a.example"), "a.example");
    }
}
