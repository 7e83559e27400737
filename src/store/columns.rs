//! Serde helpers for implementations that keep [`ServerOptions`] and
//! [`ReplacementReason`] as text.

use time::OffsetDateTime;

use super::StoreError;
use crate::{expiry::ReplacementReason, organization::ServerOptions};

/// [`ServerOptions`] as JSON text.
pub fn options_to_json(options: &ServerOptions) -> String {
    serde_json::to_string(options).unwrap_or_else(|_| "{}".into())
}

/// [`ServerOptions`] from JSON text.
pub fn options_from_json(store: &str, text: &str) -> Result<ServerOptions, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        store: store.to_owned(),
        reason: format!("server options: {e}"),
    })
}

/// A [`ReplacementReason`]'s stable name (`new-keypair`, ...).
pub fn reason_to_text(reason: ReplacementReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A [`ReplacementReason`] from its stable name.
pub fn reason_from_text(store: &str, text: &str) -> Result<ReplacementReason, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        StoreError::Corrupt {
            store: store.to_owned(),
            reason: format!("unknown replacement reason {text:?}"),
        }
    })
}

/// RFC 3339 text of a time, as the SQLite store keeps times.
pub fn time_to_text(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A time from RFC 3339 text.
pub fn time_from_text(store: &str, text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        StoreError::Corrupt {
            store: store.to_owned(),
            reason: format!("time {text:?}: {e}"),
        }
    })
}
