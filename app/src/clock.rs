//! How a line's time reads. The server cannot know the reader's time zone, so the page is
//! rendered (and hydrated) in UTC and switches to local time once hydrated.

/// `HH:MM UTC` from an RFC 3339 UTC timestamp such as `2026-11-23T10:00:00Z`.
pub fn utc_hhmm(created: &str) -> String {
    match created.get(11..16) {
        Some(hhmm) => format!("{hhmm} UTC"),
        None => created.to_owned(),
    }
}

/// `HH:MM` in the browser's time zone; UTC where the timestamp cannot be read.
#[cfg(feature = "hydrate")]
pub fn local_hhmm(created: &str) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(created));
    let (hours, minutes) = (date.get_hours(), date.get_minutes());
    if date.get_time().is_nan() {
        return utc_hhmm(created);
    }
    format!("{hours:02}:{minutes:02}")
}

/// The time as shown: local once `local` is set (only ever in the browser).
pub fn display(created: &str, local: bool) -> String {
    #[cfg(feature = "hydrate")]
    if local {
        return local_hhmm(created);
    }
    let _ = local;
    utc_hhmm(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_is_read_from_the_timestamp() {
        assert_eq!(utc_hhmm("2026-11-23T09:05:59Z"), "09:05 UTC");
        assert_eq!(display("2026-11-23T23:59:00Z", false), "23:59 UTC");
        assert_eq!(utc_hhmm("garbage"), "garbage");
    }
}
