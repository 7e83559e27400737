//! Reading the 0.1.0 tables.

use rusqlite::{Connection, OptionalExtension};
use time::OffsetDateTime;

use super::{StoreError, StoredOrganization, TokenFile};
use crate::store::sqlite::map_err;
use crate::{organization::OrganizationRecord, portal::Portal};

/// Reads the 0.1.0 tables (named `org_table` and `servers_table`).
pub(crate) fn read_tables(
    conn: &Connection,
    store: &str,
    org_table: &str,
    servers_table: &str,
) -> Result<Option<StoredOrganization>, StoreError> {
    let err = |e: rusqlite::Error| map_err(store, e);
    let corrupt = |reason: String| StoreError::Corrupt {
        store: store.to_owned(),
        reason: format!("in its mdmlink 0.1.0 tables: {reason}"),
    };
    let org: Option<(String, String)> = conn
        .query_row(
            &format!("SELECT name, portal FROM {org_table} WHERE id = 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    let Some((name, portal)) = org else {
        return Ok(None);
    };
    let portal: Portal = portal
        .parse()
        .map_err(|_| corrupt(format!("unknown portal {portal:?}")))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT name, record, token_file, token_installed_at, token_downloaded_by,
                    token_certificate_serial
             FROM {servers_table} ORDER BY position"
        ))
        .map_err(err)?;
    type Row = (
        String,
        String,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows = stmt
        .query_map([], |r| -> rusqlite::Result<Row> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .map_err(err)?;
    let mut stored = StoredOrganization::new(OrganizationRecord {
        name,
        portal,
        servers: Vec::new(),
    });
    for row in rows {
        let (name, record, file, installed_at, downloaded_by, serial) = row.map_err(err)?;
        // The JSON may hold a private key: zeroize it once parsed.
        let record = zeroize::Zeroizing::new(record);
        let record =
            serde_json::from_str(&record).map_err(|e| corrupt(format!("server {name:?}: {e}")))?;
        stored.record.servers.push(record);
        if let Some(data) = file {
            let installed_at = installed_at
                .as_deref()
                .and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                })
                .ok_or_else(|| corrupt(format!("server {name:?}: bad token install time")))?;
            stored.token_files.insert(
                name,
                TokenFile {
                    data,
                    installed_at,
                    downloaded_by,
                    certificate_serial: serial,
                },
            );
        }
    }
    Ok(Some(stored))
}
