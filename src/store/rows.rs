//! The row codec every backend shares: one list of a server's columns, one
//! decoder, one encoder, and the checks a store makes before it writes a
//! server (the name, the certificate limit).
//!
//! SQLite and PostgreSQL keep the same columns under the same names; each
//! backend only says how to read one column of its driver's row
//! ([`ColumnReader`]) and how to bind one [`Value`]. A column added here is
//! added to both (with a migration in each).
// The column lists and SQL builders serve the SQL stores only; a build
// without them (the memory store alone) keeps the shared checks.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::borrow::Cow;

use time::OffsetDateTime;

use super::{
    ApiAccountRow, MAX_CERTIFICATES, OrganizationId, OrganizationRow, SealedSecret, ServerRow,
    ServerSummary, StoreError, columns,
};
use crate::portal_api::ApiScope;

/// A server's columns, in the order the codec reads and writes them: the
/// summary's ([`SUMMARY_COLUMNS`] of them) first, then the certificates and
/// the sealed secrets.
pub(crate) const SERVER_COLUMNS: [&str; 26] = [
    "id",
    "organization_id",
    "name",
    "name_key",
    "options",
    "created_at",
    "certificate_serial",
    "certificate_not_after",
    "staged_certificate_serial",
    "staged_certificate_not_after",
    "staged_at",
    "token_expires_at",
    "token_installed_at",
    "token_downloaded_by",
    "token_issued_at",
    "token_certificate_serial",
    "token_consumer_key_hint",
    "replacement_reason",
    "replacement_at",
    "server_uuid",
    "portal_server_id",
    "certificate_pem",
    "staged_certificate_pem",
    "private_key",
    "staged_private_key",
    "token",
];

/// How many of [`SERVER_COLUMNS`] make a [`ServerSummary`].
pub(crate) const SUMMARY_COLUMNS: usize = 21;

/// An organization's columns, in the order [`decode_organization`] reads them.
pub(crate) const ORGANIZATION_COLUMNS: &str = "id, name, name_key, portal, customer, created_at";

/// `SELECT` of a server's columns (the summary's, or all with `secrets`)
/// from `table`, followed by `rest` (`WHERE ...`).
pub(crate) fn select_servers(table: &str, secrets: bool, rest: &str) -> String {
    let n = if secrets {
        SERVER_COLUMNS.len()
    } else {
        SUMMARY_COLUMNS
    };
    format!(
        "SELECT {} FROM {table} {rest}",
        SERVER_COLUMNS[..n].join(", ")
    )
}

/// `INSERT` of every column but `id`; the values are [`encode_server`]'s
/// `[1..]`, bound as `placeholder(1)` to `placeholder(25)`.
pub(crate) fn insert_server(table: &str, placeholder: fn(usize) -> String) -> String {
    let columns = &SERVER_COLUMNS[1..];
    let values: Vec<String> = (1..=columns.len()).map(placeholder).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        values.join(", ")
    )
}

/// `UPDATE` of every column but `id` and `organization_id` (a server never
/// moves), of the row with that id and organization: bound as
/// [`encode_server`]'s `[1..]` then its `[0]` (the id), `placeholder(1)` to
/// `placeholder(26)`.
pub(crate) fn update_server(table: &str, placeholder: fn(usize) -> String) -> String {
    let set: Vec<String> = SERVER_COLUMNS
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, c)| format!("{c} = {}", placeholder(i)))
        .collect();
    format!(
        "UPDATE {table} SET {} WHERE organization_id = {} AND id = {}",
        set.join(", "),
        placeholder(1),
        placeholder(SERVER_COLUMNS.len())
    )
}

/// One column of a driver's row, as the decoder asks for it.
pub(crate) trait ColumnReader {
    /// An integer column (never NULL).
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A text column.
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// A binary column.
    fn blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
}

fn corrupt(store: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        store: store.to_owned(),
        reason: reason.into(),
    }
}

fn required(store: &str, r: &impl ColumnReader, i: usize) -> Result<String, StoreError> {
    r.text(i)?
        .ok_or_else(|| corrupt(store, format!("{} is empty", SERVER_COLUMNS[i])))
}

fn time(
    store: &str,
    r: &impl ColumnReader,
    i: usize,
) -> Result<Option<OffsetDateTime>, StoreError> {
    r.text(i)?
        .map(|t| columns::time_from_text(store, &t))
        .transpose()
}

/// A [`ServerSummary`] from the first [`SUMMARY_COLUMNS`] columns.
pub(crate) fn decode_summary(
    store: &str,
    r: &impl ColumnReader,
) -> Result<ServerSummary, StoreError> {
    let replacement = match (r.text(17)?, time(store, r, 18)?) {
        (Some(reason), Some(at)) => Some((columns::reason_from_text(store, &reason)?, at)),
        (None, None) => None,
        _ => return Err(corrupt(store, "a replacement reason without its time")),
    };
    Ok(ServerSummary {
        id: r.int(0)?,
        organization_id: r.int(1)?,
        name: required(store, r, 2)?,
        name_key: required(store, r, 3)?,
        options: columns::options_from_json(store, &required(store, r, 4)?)?,
        created_at: time(store, r, 5)?,
        certificate_serial: r.text(6)?,
        certificate_not_after: time(store, r, 7)?,
        staged_certificate_serial: r.text(8)?,
        staged_certificate_not_after: time(store, r, 9)?,
        staged_at: time(store, r, 10)?,
        token_expires_at: time(store, r, 11)?,
        token_installed_at: time(store, r, 12)?,
        token_downloaded_by: r.text(13)?,
        token_issued_at: time(store, r, 14)?,
        token_certificate_serial: r.text(15)?,
        token_consumer_key_hint: r.text(16)?,
        replacement,
        server_uuid: r.text(19)?,
        portal_server_id: r.text(20)?,
    })
}

/// A whole [`ServerRow`] from all of [`SERVER_COLUMNS`].
pub(crate) fn decode_server(store: &str, r: &impl ColumnReader) -> Result<ServerRow, StoreError> {
    let secret = |i: usize| Ok::<_, StoreError>(r.blob(i)?.map(SealedSecret::from_bytes));
    Ok(ServerRow {
        summary: decode_summary(store, r)?,
        certificate_pem: r.text(21)?,
        staged_certificate_pem: r.text(22)?,
        private_key: secret(23)?,
        staged_private_key: secret(24)?,
        token: secret(25)?,
    })
}

/// An [`OrganizationRow`] from [`ORGANIZATION_COLUMNS`].
pub(crate) fn decode_organization(
    store: &str,
    r: &impl ColumnReader,
) -> Result<OrganizationRow, StoreError> {
    let text = |i: usize, what: &str| {
        r.text(i)?
            .ok_or_else(|| corrupt(store, format!("an organization without its {what}")))
    };
    let portal = text(3, "portal")?;
    Ok(OrganizationRow {
        id: r.int(0)?,
        name: text(1, "name")?,
        name_key: text(2, "name key")?,
        portal: portal
            .parse()
            .map_err(|_| corrupt(store, format!("unknown portal {portal:?}")))?,
        customer: r.text(4)?,
        created_at: columns::time_from_text(store, &text(5, "creation time")?)?,
    })
}

/// An API account's columns, in the order [`decode_api_account`] reads
/// them and [`encode_api_account`] gives them.
pub(crate) const API_ACCOUNT_COLUMNS: &str =
    "organization_id, client_id, key_id, scope, created_at, private_key";

/// An [`ApiAccountRow`] from [`API_ACCOUNT_COLUMNS`].
pub(crate) fn decode_api_account(
    store: &str,
    r: &impl ColumnReader,
) -> Result<ApiAccountRow, StoreError> {
    let text = |i: usize, what: &str| {
        r.text(i)?
            .ok_or_else(|| corrupt(store, format!("an API account without its {what}")))
    };
    let scope = text(3, "scope")?;
    Ok(ApiAccountRow {
        organization_id: r.int(0)?,
        client_id: text(1, "client ID")?,
        key_id: text(2, "key ID")?,
        scope: ApiScope::from_oauth(&scope)
            .ok_or_else(|| corrupt(store, format!("unknown API scope {scope:?}")))?,
        created_at: columns::time_from_text(store, &text(4, "creation time")?)?,
        private_key: SealedSecret::from_bytes(
            r.blob(5)?
                .ok_or_else(|| corrupt(store, "an API account without its private key"))?,
        ),
    })
}

/// The row's values, in [`API_ACCOUNT_COLUMNS`]'s order.
pub(crate) fn encode_api_account(row: &ApiAccountRow) -> [Value<'_>; 6] {
    [
        Value::Int(row.organization_id),
        Value::Text(Some(Cow::Borrowed(&row.client_id))),
        Value::Text(Some(Cow::Borrowed(&row.key_id))),
        Value::Text(Some(Cow::Borrowed(row.scope.as_str()))),
        Value::Text(Some(Cow::Owned(columns::time_to_text(row.created_at)))),
        Value::Blob(Some(row.private_key.as_bytes())),
    ]
}

/// [`StoreError::NotFound`] for an organization's API account.
pub(crate) fn api_account_not_found(organization: OrganizationId) -> StoreError {
    not_found(crate::not_found::Missing::ApiAccount, organization)
}

/// One column's value to bind, as [`encode_server`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'r> {
    /// An integer (the ids).
    Int(i64),
    /// Text, or NULL.
    Text(Option<Cow<'r, str>>),
    /// Bytes, or NULL.
    Blob(Option<&'r [u8]>),
}

/// The row's values, one per [`SERVER_COLUMNS`] entry, in that order.
pub(crate) fn encode_server(row: &ServerRow) -> [Value<'_>; 26] {
    fn borrowed(v: &Option<String>) -> Value<'_> {
        Value::Text(v.as_deref().map(Cow::Borrowed))
    }
    fn owned(v: Option<String>) -> Value<'static> {
        Value::Text(v.map(Cow::Owned))
    }
    fn t(v: Option<OffsetDateTime>) -> Value<'static> {
        owned(v.map(columns::time_to_text))
    }
    fn blob(v: &Option<SealedSecret>) -> Value<'_> {
        Value::Blob(v.as_ref().map(SealedSecret::as_bytes))
    }
    let s = &row.summary;
    [
        Value::Int(s.id),
        Value::Int(s.organization_id),
        Value::Text(Some(Cow::Borrowed(&s.name))),
        Value::Text(Some(Cow::Borrowed(&s.name_key))),
        owned(Some(columns::options_to_json(&s.options))),
        t(s.created_at),
        borrowed(&s.certificate_serial),
        t(s.certificate_not_after),
        borrowed(&s.staged_certificate_serial),
        t(s.staged_certificate_not_after),
        t(s.staged_at),
        t(s.token_expires_at),
        t(s.token_installed_at),
        borrowed(&s.token_downloaded_by),
        t(s.token_issued_at),
        borrowed(&s.token_certificate_serial),
        borrowed(&s.token_consumer_key_hint),
        owned(s.replacement.map(|(r, _)| columns::reason_to_text(r))),
        t(s.replacement.map(|(_, at)| at)),
        borrowed(&s.server_uuid),
        borrowed(&s.portal_server_id),
        borrowed(&row.certificate_pem),
        borrowed(&row.staged_certificate_pem),
        blob(&row.private_key),
        blob(&row.staged_private_key),
        blob(&row.token),
    ]
}

/// The certificate limit: an organization holding `count` certificates, one
/// of whose servers goes from `old` to `new` certificates, stays within
/// [`MAX_CERTIFICATES`] (a change that does not add one always passes, so a
/// store already over the limit can still shrink).
pub(crate) fn check_certificate_limit(
    count: usize,
    old: usize,
    new: usize,
) -> Result<(), StoreError> {
    if new > old && count - old.min(count) + new > MAX_CERTIFICATES {
        return Err(StoreError::LimitReached {
            count,
            max: MAX_CERTIFICATES,
        });
    }
    Ok(())
}

/// [`StoreError::NotFound`] for a row by id (another writer removed it).
pub(crate) fn not_found(
    missing: crate::not_found::Missing,
    id: impl core::fmt::Display,
) -> StoreError {
    StoreError::NotFound(crate::not_found::NotFound::id(missing, id))
}

/// [`StoreError::DuplicateName`] for a server.
pub(crate) fn duplicate_server(existing: impl Into<String>) -> StoreError {
    StoreError::DuplicateName {
        what: "server",
        existing: existing.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cells(Vec<Option<String>>, Vec<Option<Vec<u8>>>);

    impl ColumnReader for Cells {
        fn int(&self, i: usize) -> Result<i64, StoreError> {
            Ok(self.0[i].as_deref().unwrap_or("0").parse().unwrap_or(0))
        }
        fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
            Ok(self.0[i].clone())
        }
        fn blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.1[i].clone())
        }
    }

    fn cells(values: &[Value<'_>]) -> Cells {
        let text = values
            .iter()
            .map(|v| match v {
                Value::Int(i) => Some(i.to_string()),
                Value::Text(t) => t.as_deref().map(str::to_owned),
                Value::Blob(_) => None,
            })
            .collect();
        let blob = values
            .iter()
            .map(|v| match v {
                Value::Blob(b) => b.map(<[u8]>::to_vec),
                _ => None,
            })
            .collect();
        Cells(text, blob)
    }

    #[test]
    fn encode_then_decode_gives_the_row_back() {
        let mut row = crate::store::conformance::server_row(7, "Main MDM", 2);
        row.summary.id = 42;
        let back = decode_server("s", &cells(&encode_server(&row))).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn an_api_account_encodes_then_decodes() {
        let row = crate::store::conformance::api_account_row(7, b"sealed");
        let back = decode_api_account("s", &cells(&encode_api_account(&row))).unwrap();
        assert_eq!(back, row);
        let mut c = cells(&encode_api_account(&row));
        c.0[3] = Some("other.api".into());
        assert!(matches!(
            decode_api_account("s", &c),
            Err(StoreError::Corrupt { ref reason, .. }) if reason.contains("other.api")
        ));
        c.0[3] = Some("school.api".into());
        c.1[5] = None;
        assert!(matches!(
            decode_api_account("s", &c),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_reason_without_its_time_is_corrupt() {
        let row = crate::store::conformance::server_row(7, "Main MDM", 1);
        let mut c = cells(&encode_server(&row));
        c.0[18] = None;
        assert!(matches!(
            decode_summary("s", &c),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn statements_name_every_column_once() {
        let q = |i: usize| format!("${i}");
        let insert = insert_server("t", q);
        assert!(insert.contains("$25)") && !insert.contains("$26"));
        let update = update_server("t", q);
        assert!(update.ends_with("WHERE organization_id = $1 AND id = $26"));
        assert!(!update.contains("SET id") && update.contains("token = $25"));
        assert_eq!(
            select_servers("t", false, "").matches(", ").count(),
            SUMMARY_COLUMNS - 1
        );
    }

    #[test]
    fn the_limit_counts_only_growth() {
        assert!(check_certificate_limit(MAX_CERTIFICATES, 1, 1).is_ok());
        assert!(check_certificate_limit(MAX_CERTIFICATES, 2, 1).is_ok());
        assert!(check_certificate_limit(MAX_CERTIFICATES - 1, 0, 1).is_ok());
        assert!(matches!(
            check_certificate_limit(MAX_CERTIFICATES, 1, 2),
            Err(StoreError::LimitReached { count, max }) if count == MAX_CERTIFICATES && max == MAX_CERTIFICATES
        ));
    }
}
