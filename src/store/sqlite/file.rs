//! The database file before SQLite opens it: its mode, its kind (a regular
//! file, not a link), its header, and whether it belongs to another program.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// Creates `path` with mode 0600 if it does not exist (so the database never
/// exists with a wider mode), and narrows an existing file's mode to at most
/// 0600 (never widening it: a 0400 store stays 0400). A symbolic link,
/// directory, device or FIFO is refused before it is opened.
pub(super) fn create_private(path: &Path, name: &str) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Io {
        store: name.to_owned(),
        reason: e.to_string(),
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return Err(StoreError::Io {
            store: name.to_owned(),
            reason: "not a regular file (a symbolic link, directory, device or FIFO); nothing was changed".into(),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = match options.open(path) {
        Ok(f) => f,
        // A store the user made read-only is opened read-only (listing and
        // checking still work); its mode is left as it is.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_file() => {
            return Ok(());
        }
        Err(e) => return Err(io(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = file.metadata().map_err(io)?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & !0o600 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o600))
                .map_err(io)?;
        }
    }
    drop(file);
    Ok(())
}

/// Refuses, before anything is changed (mode included), an SQLite database
/// that belongs to another program: it has tables but no mdmlink schema
/// version. Migrating it would add our tables to someone else's file.
pub(super) fn check_not_foreign(path: &Path, name: &str) -> Result<(), StoreError> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(());
    }
    // A read-only look; if even that cannot be had (a read-only directory
    // for a WAL store), the real open below reports what is wrong.
    let Ok(conn) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Ok(());
    };
    let look = || -> rusqlite::Result<(i64, i64)> {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        Ok((version, tables))
    };
    match look() {
        Ok((0, tables)) if tables > 0 => Err(StoreError::Corrupt {
            store: name.to_owned(),
            reason: format!(
                "an SQLite database of another program ({tables} tables, no mdmlink schema version); nothing was changed"
            ),
        }),
        _ => Ok(()),
    }
}

/// Refuses, before SQLite sees it, a non-empty file that is not an SQLite
/// database or is shorter than its header claims.
pub(super) fn check_header(path: &Path, name: &str) -> Result<(), StoreError> {
    use std::io::Read as _;
    let corrupt = |reason: &str| StoreError::Corrupt {
        store: name.to_owned(),
        reason: reason.to_owned(),
    };
    let io = |e: std::io::Error| StoreError::Io {
        store: name.to_owned(),
        reason: e.to_string(),
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Ok(meta) if !meta.is_file() => {
            return Err(StoreError::Io {
                store: name.to_owned(),
                reason: "not a regular file (a symbolic link, directory, device or FIFO); nothing was changed".into(),
            });
        }
        _ => {}
    }
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    if len < 100 || file.read_exact(&mut header).is_err() {
        return Err(corrupt("the file is shorter than an SQLite header"));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Err(corrupt("not an SQLite database"));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let valid_for = &header[92..96];
    let change_counter = &header[24..28];
    if page_size >= 512
        && pages > 0
        && valid_for == change_counter
        && len < pages.saturating_mul(page_size)
    {
        return Err(corrupt(&format!(
            "the file is truncated: {len} bytes, but its header counts {pages} pages of {page_size} bytes"
        )));
    }
    Ok(())
}
