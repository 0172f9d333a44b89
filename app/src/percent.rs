//! Percent-encoding, as URLs and cookie values need it: one rule for the room paths, the form
//! error in a page's query and the remembered name's cookie.

/// Everything but RFC 3986's unreserved characters (ASCII letters and digits, `-._~`) as
/// `%XX`: safe in a path segment, a query value and a cookie value alike.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` escapes decoded; `None` for a malformed escape or text that is not UTF-8 once decoded.
pub fn decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        bytes.push(match b {
            b'%' => {
                let digit = |d: Option<u8>| d.filter(u8::is_ascii_hexdigit).map(hex_value);
                digit(rest.next())? * 16 + digit(rest.next())?
            }
            b => b,
        });
    }
    String::from_utf8(bytes).ok()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encoded_decodes_back() {
        for text in ["ann", "José Ñ", "a b;c=d,e\"f\\g%", "日本", "-._~", ""] {
            let encoded = encode(text);
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
            );
            assert_eq!(decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(decode("%e2%82%AC"), Some("€".to_owned()));
    }

    #[test]
    fn malformed_escapes_and_bytes_are_refused() {
        for bad in ["%", "%4", "%zz", "%+a", "%-1", "%FF", "a%C3"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
