//! A chat line and the rules for a new one. The same code validates in the browser (instant
//! feedback) and on the server (the authority).

use crate::room::Room;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest screen name, in Unicode scalar values (an emoji counts as one).
pub const MAX_SCREENNAME_CHARS: usize = 40;
/// Longest message, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 100;
/// Longest idempotency key.
pub const MAX_KEY_CHARS: usize = 64;

/// A stored line, as the API and the page see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Line {
    /// Assigned by the store; only ever increases.
    pub id: i64,
    pub screenname: String,
    pub text: String,
    /// When the line was stored: RFC 3339 in UTC, e.g. `2026-11-23T10:00:00Z`. Kept as a string
    /// so that no date library has to ship in the wasm.
    pub created: String,
    /// When its text was last edited (absent until it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<String>,
    /// The id of the change that gave it its text (absent until edited): a page shows a
    /// change only if it is newer than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

impl Line {
    /// A line as first stored (never edited).
    pub fn new(id: i64, screenname: &str, text: &str, created: &str) -> Self {
        Self {
            id,
            screenname: screenname.to_owned(),
            text: text.to_owned(),
            created: created.to_owned(),
            edited: None,
            revision: None,
        }
    }

    /// The newest id this line's text reflects: its own, or its last edit's.
    pub fn version(&self) -> i64 {
        self.revision.unwrap_or(self.id)
    }
}

#[cfg(test)]
impl Line {
    /// A line with id `id`, for tests.
    pub(crate) fn sample(id: i64) -> Self {
        Self {
            id,
            screenname: "ann".into(),
            text: format!("line {id}"),
            created: "2026-11-23T10:00:00Z".into(),
            edited: None,
            revision: None,
        }
    }
}

/// Which input a validation error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    ScreenName,
    Text,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::ScreenName => "Screen name",
            Field::Text => "Message",
        })
    }
}

/// Why a screen name or message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum LineError {
    #[error("{0} is empty.")]
    Empty(Field),
    #[error("{field} is {chars} characters long; the limit is {max}.")]
    TooLong {
        field: Field,
        chars: usize,
        max: usize,
    },
    #[error("{0} contains a control character such as a line break; send one line of text.")]
    ControlCharacter(Field),
    #[error(
        "{0} contains an invisible or text-direction character, which could let it pose as another name."
    )]
    InvisibleCharacter(Field),
    #[error("idempotency_key must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -.")]
    BadKey,
}

/// A client's name for one message, so that a retried send stores it once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// An absent or empty key is no key.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, LineError> {
        let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
            return Ok(None);
        };
        let valid = raw.len() <= MAX_KEY_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid
            .then(|| Some(Self(raw.to_owned())))
            .ok_or(LineError::BadKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh random key (128 bits, hex), from the browser's cryptographic generator; none
    /// when it fails (a key shared by every client it failed for would make their sends
    /// collide for a day).
    #[cfg(feature = "hydrate")]
    pub fn generate() -> Option<Self> {
        let mut bytes = [0u8; 16];
        let crypto = leptos::prelude::window().crypto().ok()?;
        crypto.get_random_values_with_u8_array(&mut bytes).ok()?;
        Self::from_random(bytes)
    }

    /// The key for `bytes` from a random generator, unless the generator gave nothing.
    pub fn from_random(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then(|| Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }
}

/// A line that passed validation and may be stored: both fields trimmed and within limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLine {
    room: Room,
    screenname: String,
    text: String,
    key: Option<IdempotencyKey>,
    #[cfg(feature = "ssr")]
    poster: crate::identity::Poster,
}

impl NewLine {
    /// Validates raw input; the result holds the trimmed values, in Unicode NFC on the server
    /// (so that one name has one spelling, and limits count what readers see).
    pub fn parse(screenname: &str, text: &str) -> Result<Self, LineError> {
        let (screenname, text) = (nfc(screenname), nfc(text));
        Ok(Self {
            room: Room::general(),
            screenname: check_screenname(&screenname)?.to_owned(),
            text: check_text(&text)?.to_owned(),
            key: None,
            #[cfg(feature = "ssr")]
            poster: crate::identity::Poster::Nobody,
        })
    }

    /// The same line, sent by `poster`.
    #[cfg(feature = "ssr")]
    pub fn by(self, poster: crate::identity::Poster) -> Self {
        Self { poster, ..self }
    }

    #[cfg(feature = "ssr")]
    pub fn poster(&self) -> &crate::identity::Poster {
        &self.poster
    }

    /// The same line, for `room` (the default room unless said).
    pub fn in_room(self, room: Room) -> Self {
        Self { room, ..self }
    }

    pub fn room(&self) -> &Room {
        &self.room
    }

    /// The same line, sent under `key`.
    pub fn with_key(self, key: Option<IdempotencyKey>) -> Self {
        Self { key, ..self }
    }

    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.key.as_ref()
    }

    pub fn screenname(&self) -> &str {
        &self.screenname
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A message's new text, checked as a new line's is.
pub fn parse_text(raw: &str) -> Result<String, LineError> {
    Ok(check_text(&nfc(raw))?.to_owned())
}

/// `raw` in Unicode Normalization Form C, on both sides, so that the browser counts what the
/// server will count: the server with unicode-normalization, the browser with its own
/// `String.prototype.normalize` (no normalization tables in the wasm).
fn nfc(raw: &str) -> std::borrow::Cow<'_, str> {
    #[cfg(feature = "ssr")]
    {
        use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
        if is_nfc_quick(raw.chars()) != IsNormalized::Yes {
            return raw.nfc().collect::<String>().into();
        }
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    if !raw.is_ascii() {
        return String::from(js_sys::JsString::from(raw).normalize("NFC")).into();
    }
    raw.into()
}

/// Validates a screen name and returns it trimmed.
pub fn check_screenname(raw: &str) -> Result<&str, LineError> {
    let name = check_common(raw, Field::ScreenName, MAX_SCREENNAME_CHARS)?;
    if name
        .chars()
        .any(|c| (is_blank(c) && !c.is_whitespace()) || is_format(c))
    {
        return Err(LineError::InvisibleCharacter(Field::ScreenName));
    }
    Ok(name)
}

/// Validates a message and returns it trimmed.
pub fn check_text(raw: &str) -> Result<&str, LineError> {
    check_common(raw, Field::Text, MAX_TEXT_CHARS)
}

fn check_common(raw: &str, field: Field, max: usize) -> Result<&str, LineError> {
    let value = raw.trim();
    // Blank-looking letters and invisible characters alone are as empty as white space.
    if value.chars().all(is_blank) {
        return Err(LineError::Empty(field));
    }
    // Refuse rather than replace: a one-line chat has no use for line breaks or tabs, and
    // silently rewriting what someone typed is worse than telling them.
    if value.chars().any(is_line_break_or_control) {
        return Err(LineError::ControlCharacter(field));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(LineError::TooLong { field, chars, max });
    }
    Ok(value)
}

/// Control characters, and the Unicode line and paragraph separators (not "control" to Rust,
/// but line breaks all the same). (Also the OpenAPI document's patterns.)
fn is_line_break_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that show as nothing, besides white space: Unicode's default-ignorable code
/// points (zero-width and direction controls, the soft hyphen, variation selectors, tag
/// characters, the Mongolian vowel separator...), and the letters that render blank (the Hangul
/// fillers, the blank Braille pattern). In a name they would let it look exactly like another;
/// alone, they leave a field empty. (Also the OpenAPI document's patterns.)
pub const BLANK: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// The format characters (general category Cf) that are not default-ignorable: signs that
/// change how what follows them shows; refused in names too.
pub const FORMAT: &[(char, char)] = &[
    ('\u{0600}', '\u{0605}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

fn is_blank(c: char) -> bool {
    c.is_whitespace() || in_ranges(c, BLANK)
}

fn is_format(c: char) -> bool {
    in_ranges(c, FORMAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_key_is_never_all_zeros() {
        assert_eq!(IdempotencyKey::from_random([0; 16]), None);
        let key = IdempotencyKey::from_random([0xab; 16]).unwrap();
        assert_eq!(key.as_str(), "ab".repeat(16));
        assert_eq!(IdempotencyKey::parse(Some(key.as_str())), Ok(Some(key)));
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let forty = "😀".repeat(40);
        assert_eq!(check_screenname(&forty), Ok(forty.as_str()));
        let forty_one = "😀".repeat(41);
        assert_eq!(
            check_screenname(&forty_one),
            Err(LineError::TooLong {
                field: Field::ScreenName,
                chars: 41,
                max: 40
            })
        );
        assert!(check_text(&"é".repeat(100)).is_ok());
        assert!(check_text(&"é".repeat(101)).is_err());
    }

    #[test]
    fn trims_before_checking() {
        assert_eq!(check_screenname("  ann \t"), Ok("ann"));
        let padded = format!("  {}  ", "x".repeat(100));
        assert_eq!(check_text(&padded).map(str::len), Ok(100));
    }

    #[test]
    fn empty_after_trimming_is_invalid() {
        for raw in ["", "   ", "\t\n ", "\u{3000}"] {
            assert_eq!(
                check_screenname(raw),
                Err(LineError::Empty(Field::ScreenName))
            );
            assert_eq!(check_text(raw), Err(LineError::Empty(Field::Text)));
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            check_text("two\nlines"),
            Err(LineError::ControlCharacter(Field::Text))
        );
        assert_eq!(
            check_text("one\u{2028}two"),
            Err(LineError::ControlCharacter(Field::Text))
        );
        assert_eq!(
            check_screenname("a\u{7}b"),
            Err(LineError::ControlCharacter(Field::ScreenName))
        );
    }

    #[test]
    fn invisible_characters_are_refused_in_names_only() {
        assert_eq!(
            check_screenname("ann\u{200B}"),
            Err(LineError::InvisibleCharacter(Field::ScreenName))
        );
        assert_eq!(
            check_screenname("\u{202E}nna"),
            Err(LineError::InvisibleCharacter(Field::ScreenName))
        );
        // Emoji sequences joined by U+200D are ordinary text in a message.
        assert!(check_text("👩\u{200D}💻 at work").is_ok());
    }

    #[test]
    fn blank_and_format_characters_are_refused_in_names() {
        for hidden in [
            '\u{00AD}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{180E}',
            '\u{115F}',
            '\u{1160}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{0600}',
            '\u{FFF9}',
        ] {
            assert_eq!(
                check_screenname(&format!("ann{hidden}x")),
                Err(LineError::InvisibleCharacter(Field::ScreenName)),
                "U+{:04X}",
                hidden as u32
            );
        }
    }

    #[test]
    fn a_field_of_blank_looking_characters_is_empty() {
        for blank in [
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{00AD}",
            " \u{200B} ",
        ] {
            assert_eq!(
                check_text(blank),
                Err(LineError::Empty(Field::Text)),
                "{blank:?}"
            );
            assert_eq!(
                check_screenname(blank),
                Err(LineError::Empty(Field::ScreenName)),
                "{blank:?}"
            );
        }
        assert!(
            check_text("\u{2800}x").is_ok(),
            "Braille art with a letter is text"
        );
    }

    #[test]
    fn new_line_keeps_trimmed_values() {
        let line = NewLine::parse(" ann ", " hello ").unwrap();
        assert_eq!((line.screenname(), line.text()), ("ann", "hello"));
    }

    #[test]
    fn idempotency_keys_are_short_and_plain() {
        assert_eq!(IdempotencyKey::parse(None), Ok(None));
        assert_eq!(IdempotencyKey::parse(Some("")), Ok(None));
        let key = IdempotencyKey::parse(Some("aZ09_-")).unwrap().unwrap();
        assert_eq!(key.as_str(), "aZ09_-");
        assert!(IdempotencyKey::parse(Some(&"k".repeat(64))).is_ok());
        for bad in ["k".repeat(65), "a b".into(), "é".into(), "a/b".into()] {
            assert_eq!(
                IdempotencyKey::parse(Some(&bad)),
                Err(LineError::BadKey),
                "{bad}"
            );
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn stored_text_is_nfc() {
        // "é" written as e + combining acute: one character once composed.
        let decomposed = "e\u{301}".repeat(100);
        let line = NewLine::parse("Jose\u{301}", &decomposed).unwrap();
        assert_eq!(line.screenname(), "José");
        assert_eq!(line.text().chars().count(), 100);
    }

    #[test]
    fn errors_read_well() {
        let err = check_text(&"x".repeat(101)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Message is 101 characters long; the limit is 100."
        );
    }
}
