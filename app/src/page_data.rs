//! How a page carries the data it was rendered from to the browser that hydrates it.

use leptos::server::codee::{Decoder, Encoder};
use serde::{Serialize, de::DeserializeOwned};

/// JSON, as Leptos's default codec writes it, but read back from bytes: the server functions'
/// answers are read that way too, so the wasm carries one JSON reader for each type instead
/// of two (Leptos's own codec reads from `&str`; the README's wasm levers).
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, ErrorKind};

    #[test]
    fn what_is_encoded_decodes_to_the_same() {
        let value: Result<Vec<i64>, ApiError> = Ok(vec![1, -2, 3]);
        let text = <Json as Encoder<_>>::encode(&value).unwrap();
        let back: Result<Vec<i64>, ApiError> = Json::decode(&text).unwrap();
        assert_eq!(back, value);
        let err: Result<Vec<i64>, ApiError> = Err(ApiError::new(ErrorKind::BadRequest, "no"));
        let text = <Json as Encoder<_>>::encode(&err).unwrap();
        assert_eq!(Json::decode(&text).ok(), Some(err));
        assert!(<Json as Decoder<Vec<i64>>>::decode("[1,").is_err());
    }
}
