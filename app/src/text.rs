//! How a line's text is shown: `http://` and `https://` URLs become links, and a line that
//! mentions the reader (`@name`) stands out. Rendering only: the text is stored and served
//! exactly as posted, and nothing else ever becomes markup.

/// A run of a line's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    /// An `http://` or `https://` URL; only these schemes are ever linked.
    Link(&'a str),
}

/// `text` split into plain runs and URLs.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = next_url(rest) {
        let len = url_len(&rest[start..]);
        if start > 0 {
            out.push(Segment::Text(&rest[..start]));
        }
        out.push(Segment::Link(&rest[start..start + len]));
        rest = &rest[start + len..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

/// Where the next URL starts: `http://` or `https://` (any case) at the start of the text or
/// after a character that cannot be part of a word, with something after the scheme.
fn next_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let scheme = ["https://", "http://"]
            .into_iter()
            .find(|scheme| lower[at..].starts_with(scheme));
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if let Some(scheme) = scheme
            && boundary
            && url_len(&text[at..]) > scheme.len()
        {
            return Some(at);
        }
        from = at + "http".len();
    }
    None
}

/// The length of the URL at the start of `text`: up to white space, a character a URL never
/// holds unescaped (`<`, `>`, `"`...) or a bidirectional control (which could make it show as
/// another address), without the punctuation that usually ends a sentence
/// rather than a URL (and an unmatched closing bracket).
fn url_len(text: &str) -> usize {
    let end = text
        .find(|c: char| c.is_whitespace() || "<>\"`{}|\\^".contains(c) || is_direction_control(c))
        .unwrap_or(text.len());
    let mut url = &text[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if trimmed.matches('(').count() < trimmed.matches(')').count() => inner,
            _ => trimmed,
        };
        if trimmed.len() == url.len() {
            return url.len();
        }
        url = trimmed;
    }
}

/// The bidirectional controls: marks, embeddings, overrides and isolates.
fn is_direction_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `text` mentions `name` as `@name`: case-insensitive, as a whole word.
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    text.match_indices('@').any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after_at = &text[at + 1..];
        !word(before) && after_at.starts_with(&name) && !word(after_at[name.len()..].chars().next())
    })
}

/// User text as HTML text (and attribute) content, for markup the server writes itself.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Link, Text};

    #[test]
    fn urls_become_links_and_nothing_else_does() {
        assert_eq!(
            segments("see https://example.com/a?b=1 now"),
            [
                Text("see "),
                Link("https://example.com/a?b=1"),
                Text(" now")
            ]
        );
        assert_eq!(segments("HTTP://X.EXAMPLE"), [Link("HTTP://X.EXAMPLE")]);
        assert_eq!(
            segments("(at http://example.com/wiki/A_(b)). Done"),
            [
                Text("(at "),
                Link("http://example.com/wiki/A_(b)"),
                Text("). Done")
            ]
        );
        for plain in [
            "javascript:alert(1)",
            "ftp://example.com",
            "data:text/html,<b>x</b>",
            "https://",
            "xhttps://example.com",
            "<a href=\"https://x\">",
            "just text",
        ] {
            let linked: Vec<_> = segments(plain)
                .into_iter()
                .filter_map(|s| match s {
                    Link(url) => Some(url),
                    Text(_) => None,
                })
                .collect();
            for url in &linked {
                let lower = url.to_ascii_lowercase();
                assert!(
                    lower.starts_with("http://") || lower.starts_with("https://"),
                    "{url}"
                );
                assert!(!url.contains('"') && !url.contains(' '), "{url}");
            }
            if !plain.contains("https://x") {
                assert!(linked.is_empty(), "{plain}: {linked:?}");
            }
        }
        // Every character is kept, in order.
        let text = "a https://x.example/ b http://y.example. c";
        let joined: String = segments(text)
            .into_iter()
            .map(|s| match s {
                Text(t) | Link(t) => t,
            })
            .collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn a_url_ends_at_any_direction_control() {
        // U+202E would show `https://bank.example/moc.live` as another address.
        for control in ['\u{202E}', '\u{2066}', '\u{200F}', '\u{061C}', '\u{202A}'] {
            let text = format!("https://bank.example/{control}moc.live");
            assert_eq!(
                segments(&text)[0],
                Link("https://bank.example/"),
                "U+{:04X}",
                control as u32
            );
        }
    }

    #[test]
    fn mentions_are_whole_words_in_any_case() {
        assert!(mentions("hi @Ann!", "ann"));
        assert!(mentions("@ann", "Ann"));
        assert!(mentions("ping @ann smith, please", "Ann Smith"));
        assert!(!mentions("hi @annie", "ann"));
        assert!(!mentions("mail ann@ann.example", "ann"));
        assert!(!mentions("hi ann", "ann"));
        assert!(!mentions("hi @ann", ""));
        assert!(!mentions("@ann-marie", "ann"));
    }
}
