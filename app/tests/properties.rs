//! Property tests: any input either parses to a valid value or gives a typed error, and nothing
//! panics.

use app::api::{Cursor, LinesSince, MAX_LIMIT, MAX_WAIT_SECS, PollParams};
use app::line::{
    IdempotencyKey, LineError, MAX_SCREENNAME_CHARS, MAX_TEXT_CHARS, NewLine, check_screenname,
    check_text,
};
use proptest::prelude::*;

/// What the rules call a line break or control character.
fn is_break(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

fn valid_text(value: &str, max: usize) -> bool {
    let chars = value.chars().count();
    (1..=max).contains(&chars) && value == value.trim() && !value.chars().any(is_break)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None, // failures are printed; nothing is written into the tree
        ..ProptestConfig::default()
    })]

    #[test]
    fn text_is_valid_or_refused_for_a_reason(raw in any::<String>()) {
        match check_text(&raw) {
            Ok(text) => {
                prop_assert!(valid_text(text, MAX_TEXT_CHARS));
                prop_assert_eq!(text, raw.trim());
            }
            Err(LineError::Empty(_)) => prop_assert!(raw.trim().is_empty()),
            Err(LineError::TooLong { chars, max, .. }) => {
                prop_assert_eq!(max, MAX_TEXT_CHARS);
                prop_assert!(chars > max);
            }
            Err(LineError::ControlCharacter(_)) => prop_assert!(raw.trim().chars().any(is_break)),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    /// And what is within the rules is accepted, not refused.
    #[test]
    // (An alphabet that NFC leaves alone: some characters, such as U+FB1D, grow under NFC, and
    // the limits count what is stored.)
    fn valid_lines_are_accepted(name in "[a-zA-Z0-9 😀é_.-]{0,38}[a-z😀]", text in "[a-zA-Z0-9 😀é,.!?<>&\"'-]{0,99}[a-z!?😀]") {
        let line = NewLine::parse(&name, &text);
        prop_assert!(line.is_ok(), "{:?} / {:?}: {:?}", name, text, line);
    }

    #[test]
    fn names_are_valid_or_refused(raw in "\\PC{0,60}|[\\u{200B}-\\u{202E}a-z ]{0,50}") {
        if let Ok(name) = check_screenname(&raw) {
            prop_assert!(valid_text(name, MAX_SCREENNAME_CHARS));
            let invisible = ['\u{200B}', '\u{200D}', '\u{202E}', '\u{FEFF}'];
            prop_assert!(!name.contains(invisible), "invisible character in {:?}", name);
        }
    }

    #[test]
    fn new_lines_hold_valid_values(name in any::<String>(), text in any::<String>()) {
        if let Ok(line) = NewLine::parse(&name, &text) {
            prop_assert!(valid_text(line.screenname(), MAX_SCREENNAME_CHARS));
            prop_assert!(valid_text(line.text(), MAX_TEXT_CHARS));
        }
    }

    #[test]
    fn keys_are_short_and_plain_or_refused(raw in any::<String>()) {
        match IdempotencyKey::parse(Some(&raw)) {
            Ok(Some(key)) => {
                prop_assert!(key.as_str().len() <= 64);
                prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            }
            Ok(None) => prop_assert!(raw.is_empty()),
            Err(err) => prop_assert_eq!(err, LineError::BadKey),
        }
    }

    #[test]
    fn poll_parameters_are_in_range_or_refused(
        after in proptest::option::of("[0-9]{0,25}|-?[0-9a-z.]{0,5}"),
        limit in proptest::option::of("[0-9]{0,25}|-?[0-9a-z.]{0,5}"),
        wait in proptest::option::of("[0-9]{0,25}|-?[0-9a-z.]{0,5}"),
    ) {
        if let Ok(params) = PollParams::parse(None, after.as_deref(), None, limit.as_deref(), wait.as_deref()) {
            prop_assert!(matches!(params.cursor, Cursor::After(after) if after >= 0));
            prop_assert!((1..=MAX_LIMIT).contains(&params.limit));
            prop_assert!(params.wait <= MAX_WAIT_SECS);
        }
    }

    /// The query string as the server reads it: any text either decodes to parameters (then
    /// validated as above) or is refused; nothing panics.
    #[test]
    fn any_query_string_decodes_or_is_refused(query in "[a-z=&%0-9+\\-.]{0,40}|\\PC{0,40}") {
        if let Ok(args) = serde_qs::from_str::<LinesSince>(&query) {
            let _ = PollParams::parse(
                args.room.as_deref(),
                args.after.as_deref(),
                args.before.as_deref(),
                args.limit.as_deref(),
                args.wait.as_deref(),
            );
        }
    }
}
