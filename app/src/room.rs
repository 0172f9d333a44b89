//! Room names: `general` at `/`, any other at `/r/<name>`. The same rules in the browser and on
//! the server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The room at `/`, and the one a request without `room` means.
pub const DEFAULT_ROOM: &str = "general";
/// Longest room name.
pub const MAX_ROOM_CHARS: usize = 32;
/// The most rooms listed (`GET /api/rooms`, a page's room bar): the most recently active.
pub const MAX_ROOMS_LISTED: usize = 50;
/// What a room name may be, for people.
pub const ROOM_RULE: &str = "A room name is 1 to 32 characters of a-z, 0-9 and '-', \
                             not starting or ending with '-'.";

/// A valid room name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(value_type = String, pattern = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"))]
pub struct Room(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a room name. {ROOM_RULE}")]
pub struct RoomError(pub String);

impl Room {
    pub fn general() -> Self {
        Self(DEFAULT_ROOM.to_owned())
    }

    /// `name`, if it is a valid room name exactly as written.
    pub fn parse(name: &str) -> Result<Self, RoomError> {
        let valid = (1..=MAX_ROOM_CHARS).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(RoomError(name.chars().take(40).collect()))
        }
    }

    /// The API's `room` field: absent or empty means the default room.
    pub fn from_field(field: Option<&str>) -> Result<Self, RoomError> {
        match field {
            None | Some("") => Ok(Self::general()),
            Some(name) => Self::parse(name),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_general(&self) -> bool {
        self.0 == DEFAULT_ROOM
    }

    /// Where the room's page is: `/` for the default room, `/r/<name>` for others.
    pub fn path(&self) -> String {
        if self.is_general() {
            "/".to_owned()
        } else {
            format!("/r/{}", self.0)
        }
    }

    /// The API's `room` value for this room: none for the default room.
    pub fn field(&self) -> Option<String> {
        (!self.is_general()).then(|| self.0.clone())
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Room {
    type Error = RoomError;
    fn try_from(name: String) -> Result<Self, RoomError> {
        Self::parse(&name)
    }
}

impl From<Room> for String {
    fn from(room: Room) -> Self {
        room.0
    }
}

/// A room with lines, as `GET /api/rooms` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoomActivity {
    pub name: Room,
    /// The id of the room's newest line.
    pub newest_id: i64,
    /// When it was posted (RFC 3339, UTC).
    pub newest_at: String,
}

/// What a room URL segment asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomPath {
    /// A valid name, as written.
    Room(Room),
    /// A name that is valid once lower-cased: redirect there.
    Redirect(Room),
    /// Not a room name.
    Invalid,
}

impl RoomPath {
    /// `segment` from `/r/<segment>`.
    pub fn of(segment: &str) -> Self {
        if let Ok(room) = Room::parse(segment) {
            return Self::Room(room);
        }
        match Room::parse(&segment.to_ascii_lowercase()) {
            Ok(room) => Self::Redirect(room),
            Err(_) => Self::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for good in ["general", "a", "rust-lang", "x1", &"a".repeat(32)] {
            assert_eq!(Room::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a b",
            "é",
            "a_b",
            &"a".repeat(33),
            "a/b",
            "..",
        ] {
            assert!(Room::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_room_is_at_the_root() {
        assert_eq!(Room::from_field(None).unwrap(), Room::general());
        assert_eq!(Room::from_field(Some("")).unwrap(), Room::general());
        assert_eq!(Room::general().path(), "/");
        assert_eq!(Room::parse("dev").unwrap().path(), "/r/dev");
        assert_eq!(Room::general().field(), None);
    }

    #[test]
    fn capitals_redirect_and_garbage_is_invalid() {
        assert_eq!(
            RoomPath::of("Dev"),
            RoomPath::Redirect(Room::parse("dev").unwrap())
        );
        assert_eq!(
            RoomPath::of("dev"),
            RoomPath::Room(Room::parse("dev").unwrap())
        );
        assert_eq!(RoomPath::of("no_way"), RoomPath::Invalid);
    }

    #[test]
    fn errors_say_what_a_name_may_be() {
        let err = Room::parse("Bad Name").unwrap_err().to_string();
        assert!(err.contains("1 to 32 characters"), "{err}");
    }
}
