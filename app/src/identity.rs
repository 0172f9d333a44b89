//! Who is posting. A browser is known by a random secret in the `chat_identity` cookie, issued
//! by the server with its first post; the server keeps only a digest of it. The identity it
//! names holds screen names (no one else may post under them) and owns the lines it sent.

use serde::{Deserialize, Serialize};

/// The cookie's name.
pub const COOKIE: &str = "chat_identity";

/// `GET /api/me`: what the request's identity holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    /// The names it holds, as last posted.
    pub names: Vec<String>,
    pub moderator: bool,
    /// Whether it has a password (to sign in elsewhere).
    pub password: bool,
}

impl Me {
    /// Whether a line shown under `screenname` is by one of these names (the page offers Edit
    /// and Delete on it; the server decides). ASCII case only: Unicode's case tables would
    /// weigh on the wasm for what is a hint.
    pub fn holds(&self, screenname: &str) -> bool {
        self.names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(screenname))
    }
}

/// Shortest and longest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 200;

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    use unicode_normalization::UnicodeNormalization;

    /// A year, in seconds.
    const LIFETIME_SECS: u32 = 365 * 24 * 60 * 60;

    /// A secret as issued to a browser: a selector, by which the store finds it, and a token,
    /// of which the store keeps only the SHA-256 digest (the verifier). 384 random bits.
    pub struct Secret {
        selector: [u8; 16],
        token: [u8; 32],
    }

    /// What the store sees of a secret: the selector and the token's digest.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct Presented {
        pub selector: [u8; 16],
        pub verifier: [u8; 32],
    }

    impl Presented {
        /// Whether `stored` is this secret's verifier, compared in constant time.
        pub fn matches(&self, stored: &[u8]) -> bool {
            stored.len() == 32 && bool::from(self.verifier.ct_eq(stored))
        }
    }

    impl Secret {
        /// A fresh secret from the operating system's generator.
        pub fn generate() -> Result<Self, getrandom::Error> {
            let mut bytes = [0u8; 48];
            getrandom::fill(&mut bytes)?;
            let (selector, token) = bytes.split_at(16);
            Ok(Self {
                selector: selector.try_into().expect("16 bytes"),
                token: token.try_into().expect("32 bytes"),
            })
        }

        /// The secret in a cookie's value (hex); `None` when it is not one.
        pub fn parse(value: &str) -> Option<Self> {
            if value.len() != 96 {
                return None;
            }
            let mut bytes = [0u8; 48];
            for (byte, pair) in bytes.iter_mut().zip(value.as_bytes().chunks(2)) {
                let hex = std::str::from_utf8(pair).ok()?;
                *byte = u8::from_str_radix(hex, 16).ok()?;
            }
            let (selector, token) = bytes.split_at(16);
            Some(Self {
                selector: selector.try_into().ok()?,
                token: token.try_into().ok()?,
            })
        }

        pub fn presented(&self) -> Presented {
            Presented {
                selector: self.selector,
                verifier: Sha256::digest(self.token).into(),
            }
        }

        /// The `Set-Cookie` value that gives this secret to the browser.
        pub fn set_cookie(&self, secure: bool) -> String {
            let value: String = self
                .selector
                .iter()
                .chain(&self.token)
                .map(|b| format!("{b:02x}"))
                .collect();
            cookie(&value, LIFETIME_SECS, secure)
        }
    }

    /// The `Set-Cookie` value that removes the secret from the browser.
    pub fn clear_cookie(secure: bool) -> String {
        cookie("", 0, secure)
    }

    fn cookie(value: &str, max_age: u32, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            super::COOKIE
        )
    }

    /// The secret in a request's cookies, if there is a well-formed one.
    pub fn in_headers(headers: &http::HeaderMap) -> Option<Secret> {
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find_map(|(key, value)| (key == super::COOKIE).then(|| Secret::parse(value))?)
    }

    /// Server functions: the identity of the request being answered, and giving a browser its
    /// secret.
    pub mod request {
        use super::{Poster, Secret};
        use crate::error::{ApiError, ErrorKind};
        use crate::store::{Backend, Identity};
        use http::{HeaderValue, header, request::Parts};
        use leptos::prelude::use_context;
        use leptos_axum::ResponseOptions;

        /// The secret in this request's cookie, if any.
        pub fn secret() -> Option<Secret> {
            super::in_headers(&use_context::<Parts>()?.headers)
        }

        /// The identity this request's secret names.
        pub async fn identity(backend: &Backend) -> Result<Option<Identity>, ApiError> {
            match secret() {
                Some(secret) => Ok(backend.store.identify(&secret.presented()).await?),
                None => Ok(None),
            }
        }

        /// Who posts with this request: its identity, or a new one with a fresh secret (to
        /// give the browser once the post is stored).
        pub async fn poster(backend: &Backend) -> Result<(Poster, Option<Secret>), ApiError> {
            if let Some(identity) = identity(backend).await? {
                return Ok((Poster::Known(identity.id), None));
            }
            let fresh = Secret::generate().map_err(|err| {
                tracing::error!(%err, "the system's random generator failed");
                ApiError::new(ErrorKind::Unavailable, "The chat cannot post right now.")
            })?;
            Ok((Poster::New(fresh.presented()), Some(fresh)))
        }

        /// Gives the browser `secret` with the response being made.
        pub fn give(secret: &Secret) {
            set_cookie(|secure| secret.set_cookie(secure));
        }

        /// Takes the secret away from the browser.
        pub fn take_away() {
            set_cookie(super::clear_cookie);
        }

        fn set_cookie(cookie: impl FnOnce(bool) -> String) {
            let (Some(response), Some(parts)) =
                (use_context::<ResponseOptions>(), use_context::<Parts>())
            else {
                return;
            };
            let https = crate::screen_name::request::is_https(&parts);
            if let Ok(cookie) = HeaderValue::from_str(&cookie(https)) {
                response.append_header(header::SET_COOKIE, cookie);
            }
        }
    }

    /// Who sends a line.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Poster {
        /// No one: lines stored before identities, and tools. It holds no name, and its lines
        /// belong to nobody.
        Nobody,
        /// A known identity.
        Known(i64),
        /// A new identity, registered in the post's transaction.
        New(Presented),
    }

    /// The form of a screen name under which it is held: names that look alike (after NFC,
    /// full Unicode case folding and the confusable skeleton of Unicode TR39) are one name.
    pub fn hold_key(name: &str) -> String {
        let folded = caseless::default_case_fold_str(&name.nfc().collect::<String>());
        unicode_security::skeleton(&folded).collect()
    }

    #[derive(Debug, thiserror::Error)]
    pub enum PasswordError {
        #[error("the password could not be hashed: {0}")]
        Hash(String),
    }

    /// An argon2id hash of `password` (a PHC string, salt included). Slow by design: call it
    /// off the async executor.
    pub fn hash_password(password: &str) -> Result<String, PasswordError> {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| PasswordError::Hash(err.to_string()))
    }

    /// Whether `password` is the one `hash` was made from (constant time, in argon2).
    pub fn verify_password(password: &str, hash: &str) -> bool {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(hash).is_ok_and(|hash| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// A hash to verify against when a name has no password or no holder, so that the answer
    /// takes as long as for a wrong password.
    pub fn decoy_hash() -> &'static str {
        static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DECOY.get_or_init(|| hash_password("not anyone's password").unwrap_or_default())
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn look_alike_names_are_one_name() {
        let key = hold_key("ann");
        for alike in ["Ann", "ＡＮＮ", "\u{0430}nn", "ANN", " ann".trim()] {
            assert_eq!(hold_key(alike), key, "{alike}");
        }
        assert_eq!(hold_key("Zoë"), hold_key("ZOE\u{0308}"));
        assert_ne!(hold_key("ann"), hold_key("anna"));
        assert_ne!(hold_key("bob"), key);
    }

    #[test]
    fn a_secret_survives_its_cookie_and_only_its_own_verifier_matches() {
        let secret = Secret::generate().unwrap();
        let cookie = secret.set_cookie(true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure") && cookie.contains("Max-Age=31536000"));
        let value = cookie.split(';').next().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("chat_name=ann; {value}").parse().unwrap(),
        );
        let back = in_headers(&headers).unwrap();
        assert_eq!(back.presented(), secret.presented());
        let other = Secret::generate().unwrap().presented();
        assert!(secret.presented().matches(&secret.presented().verifier));
        assert!(!secret.presented().matches(&other.verifier));
        assert!(!secret.presented().matches(&[]));
        assert!(Secret::parse("zz").is_none());
        assert!(Secret::parse(&"g".repeat(96)).is_none());
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batter", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn the_page_matches_names_without_case() {
        let me = Me {
            names: vec!["Ann".into()],
            ..Me::default()
        };
        assert!(me.holds("ann") && me.holds("ANN") && !me.holds("bob"));
    }
}
