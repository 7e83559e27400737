//! Opening a store from where it is: one call for the `mdmlink` command and
//! the C API alike.
//!
//! - [`StoreLocation::parse`] reads one string: a `postgres://` or
//!   `postgresql://` URL (the scheme in any case), `sqlite:PATH`, or a path.
//!   Text that looks like another kind of URL (`://`), or like libpq's
//!   `keyword=value` connection string, is refused without being quoted:
//!   it may hold a password, and taking it as a file name would create a
//!   file named after it.
//! - [`open_store`] opens it for reading ([`OpenMode::ReadOnly`]: nothing is
//!   created, converted or migrated; no store there is `Ok(None)`) or for
//!   writing ([`OpenMode::ReadWrite`]: a missing SQLite file is created,
//!   mode 0600, and an older schema is migrated).
//! - A SQLite path is checked before anything touches it (a symbolic link,
//!   a directory, a device or FIFO, a file that is not an SQLite database, a
//!   truncated one, another program's database, an empty file readable by
//!   others), then narrowed to owner-only if others could read it
//!   ([`OpenedStore::narrowed_mode`] says so). SQLite sees the path as a path,
//!   never as a `file:` URI or `:memory:`.
//! - [`open_registry`] adds the master key and converts a store of
//!   mdmlink 0.1.0 (when opened for writing).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::master_key::MasterKeySource;
use super::registry::{Registry, RegistryError};
use super::{AnyStore, StoreError};
use crate::SecretString;

/// Where a store is, parsed from one string.
///
/// Its `Debug` never shows a PostgreSQL URL (which may hold a password).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL, its scheme as given.
    Postgres(zeroize::Zeroizing<String>),
}

impl core::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            StoreLocation::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// Why a store location was refused. The message never quotes the
/// location: it may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// A URL of a kind that is not a store (`mysql://`, `postgress://`, ...).
    #[error(
        "the store location is a URL{}, not a PostgreSQL one; give postgres://USER:PASSWORD@HOST/DB or a file path",
        scheme.as_deref().map(|s| format!(" of scheme \"{s}\"")).unwrap_or_default()
    )]
    UnknownScheme {
        /// The scheme, when it is short and plain enough to show.
        scheme: Option<String>,
    },
    /// libpq's `host=... password=...` form.
    #[error(
        "the store location looks like a keyword=value connection string; give it as a URL: postgres://USER:PASSWORD@HOST:PORT/DB"
    )]
    KeywordString,
    /// White space around a URL or a path (a copy-and-paste slip).
    #[error(
        "the store location starts or ends with white space; remove it (a path with such a name: write it as ./NAME)"
    )]
    Whitespace,
    /// Empty.
    #[error("the store location is empty")]
    Empty,
}

impl From<LocationError> for StoreError {
    fn from(e: LocationError) -> Self {
        StoreError::Io {
            store: "store".into(),
            reason: e.to_string(),
        }
    }
}

/// libpq's connection keywords: a word `KEY=` with one of these keys means a
/// keyword string, never a file name.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "options",
    "application_name",
    "service",
    "target_session_attrs",
];

impl StoreLocation {
    /// Reads a location: a PostgreSQL URL, `sqlite:PATH`, or a path; text
    /// that only looks like a URL or a connection string is refused.
    pub fn parse(location: &OsStr) -> Result<Self, LocationError> {
        let Some(text) = location.to_str() else {
            // Not UTF-8: not a URL either; but the checks below apply to
            // its bytes all the same.
            let lossy = location.to_string_lossy();
            check_not_url_like(&lossy)?;
            return Ok(StoreLocation::Sqlite(PathBuf::from(location)));
        };
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if text.trim() != text {
            return Err(LocationError::Whitespace);
        }
        if postgres_scheme_len(text).is_some() {
            return Ok(StoreLocation::Postgres(zeroize::Zeroizing::new(
                text.to_owned(),
            )));
        }
        let path = match text.get(..7) {
            Some(head) if head.eq_ignore_ascii_case("sqlite:") => &text[7..],
            _ => text,
        };
        check_not_url_like(text)?;
        if path.is_empty() {
            return Err(LocationError::Empty);
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(path)))
    }

    /// [`StoreLocation::parse`] of a `&str`.
    pub fn parse_str(location: &str) -> Result<Self, LocationError> {
        Self::parse(OsStr::new(location))
    }
}

/// Refuses `://` anywhere (a SQLite path never holds one) and libpq's
/// `keyword=value` words.
fn check_not_url_like(text: &str) -> Result<(), LocationError> {
    if let Some(at) = text.find("://") {
        let scheme = &text[..at];
        // Shown only when it reads like a scheme (lower-case letters), never
        // a fragment of a secret pasted in front of `://`.
        let plain = !scheme.is_empty()
            && scheme.len() <= 12
            && scheme
                .chars()
                .all(|c| c.is_ascii_lowercase() || matches!(c, '+' | '-' | '.'));
        return Err(LocationError::UnknownScheme {
            scheme: plain.then(|| scheme.to_owned()),
        });
    }
    let lower = text.to_ascii_lowercase();
    let keyword = lower.split_whitespace().any(|word| {
        word.split_once('=')
            .is_some_and(|(key, _)| LIBPQ_KEYWORDS.contains(&key))
    });
    if keyword || lower.contains("password=") {
        return Err(LocationError::KeywordString);
    }
    Ok(())
}

/// The scheme's length when `url` starts with `postgres://` or
/// `postgresql://` in any case (schemes are case-insensitive).
pub(crate) fn postgres_scheme_len(url: &str) -> Option<usize> {
    ["postgres://", "postgresql://"].iter().find_map(|p| {
        url.get(..p.len())
            .filter(|head| head.eq_ignore_ascii_case(p))
            .map(|_| p.len())
    })
}

/// Whether the caller will write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// Only reads: nothing is created (no file, no PostgreSQL schema or
    /// table), converted or migrated; a location with no store is `None`.
    ReadOnly,
    /// May write: a missing SQLite file is created (mode 0600), an older
    /// schema migrated, a PostgreSQL schema and tables created.
    ReadWrite,
}

/// An open store and what opening it changed.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedStore {
    /// The store.
    pub store: AnyStore,
    /// How messages name it: the file's path, or the URL without its
    /// password.
    pub shown: String,
    /// A SQLite file whose mode let others read it was narrowed: (old, new)
    /// permission bits. Worth a warning to the user.
    pub narrowed_mode: Option<(u32, u32)>,
}

/// Opens the store at `location` for `mode`; `Ok(None)` when opening for
/// reading finds no store there (no file, an empty file, or a PostgreSQL
/// database or schema without mdmlink's tables). A kind this build lacks is
/// a clear error.
pub fn open_store(
    location: &StoreLocation,
    mode: OpenMode,
) -> Result<Option<OpenedStore>, StoreError> {
    match location {
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => open_sqlite(path, mode),
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite(path) => Err(missing_feature(&path.display().to_string(), "sqlite")),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            let url = super::PostgresUrl::parse(url).map_err(|e| StoreError::Io {
                store: "postgres://".into(),
                reason: e.to_string(),
            })?;
            let shown = url.to_string();
            let store = match mode {
                OpenMode::ReadWrite => super::PostgresStore::open_url(url)?,
                OpenMode::ReadOnly => match super::PostgresStore::open_url_existing(url)? {
                    Some(s) => s,
                    None => return Ok(None),
                },
            };
            Ok(Some(OpenedStore {
                store: AnyStore::Postgres(store),
                shown,
                narrowed_mode: None,
            }))
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => Err(missing_feature("postgres://", "postgres")),
    }
}

#[allow(dead_code)]
fn missing_feature(store: &str, feature: &str) -> StoreError {
    StoreError::Io {
        store: store.to_owned(),
        reason: format!("this build of mdmlink has no {feature} store (feature `{feature}`)"),
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &Path, mode: OpenMode) -> Result<Option<OpenedStore>, StoreError> {
    let shown = path.display().to_string();
    let found = inspect_sqlite_file(path, &shown)?;
    if found == (SqliteFile::Empty { shared: true }) {
        // Only we make an empty store file, and we make it owner-only.
        return Err(StoreError::Io {
            store: shown,
            reason: "is an empty file readable by others, not an mdmlink store; nothing was changed (give the path of a store, or a new file)".into(),
        });
    }
    let narrowed_mode = match (found, mode) {
        (SqliteFile::Missing | SqliteFile::Empty { .. }, OpenMode::ReadOnly) => return Ok(None),
        (_, OpenMode::ReadWrite) => create_private(path, &shown)?,
        (SqliteFile::Database, OpenMode::ReadOnly) => narrow_mode(path, &shown)?,
    };
    let store = super::SqliteStore::connect(path, mode == OpenMode::ReadWrite)?;
    Ok(Some(OpenedStore {
        store: AnyStore::Sqlite(store),
        shown,
        narrowed_mode,
    }))
}

/// Opens the store at `location` as a [`Registry`] with `master_key`; when
/// opened for writing, a store of mdmlink 0.1.0 is converted first, its
/// encrypted private keys read with `legacy_passphrase` (returned in
/// [`OpenedRegistry::converted`]). `Ok(None)` as for [`open_store`].
pub fn open_registry(
    location: &StoreLocation,
    mode: OpenMode,
    master_key: Option<MasterKeySource>,
    legacy_passphrase: Option<&SecretString>,
    now: OffsetDateTime,
) -> Result<Option<OpenedRegistry>, RegistryError> {
    let Some(opened) = open_store(location, mode)? else {
        return Ok(None);
    };
    let OpenedStore {
        store,
        shown,
        narrowed_mode,
    } = opened;
    let mut converted = None;
    let store = match store {
        // Only a SQLite file can be a store of mdmlink 0.1.0.
        #[cfg(feature = "sqlite")]
        AnyStore::Sqlite(sqlite) if mode == OpenMode::ReadWrite && sqlite.has_legacy()? => {
            let mut registry = Registry::new(sqlite, master_key.clone());
            converted = registry.migrate_legacy(legacy_passphrase, now)?;
            AnyStore::Sqlite(registry.into_store())
        }
        other => other,
    };
    let _ = (legacy_passphrase, now);
    Ok(Some(OpenedRegistry {
        registry: Registry::new(store, master_key),
        shown,
        narrowed_mode,
        converted,
    }))
}

/// A [`Registry`] over an opened store, and what opening it did.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedRegistry {
    /// The registry.
    pub registry: Registry<AnyStore>,
    /// How messages name the store (see [`OpenedStore::shown`]).
    pub shown: String,
    /// See [`OpenedStore::narrowed_mode`].
    pub narrowed_mode: Option<(u32, u32)>,
    /// The organization converted from a store of mdmlink 0.1.0, if any.
    pub converted: Option<String>,
}

/// What is at a SQLite store's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteFile {
    /// Nothing.
    Missing,
    /// An empty file; one that others may read is no store of ours (we
    /// make it owner-only).
    Empty {
        /// Others may read it.
        shared: bool,
    },
    /// An SQLite database that is no other program's.
    Database,
}

/// "a directory", "a FIFO (named pipe)", ... for messages.
pub fn file_type_name(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

fn permission_bits(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0o600
    }
}

/// Looks at `path` without changing it: a symbolic link, a directory, a
/// device, a FIFO, an empty file others may read, a file that is not an
/// SQLite database, a truncated one, or another program's database is
/// refused.
fn inspect_sqlite_file(path: &Path, shown: &str) -> Result<SqliteFile, StoreError> {
    use std::io::Read as _;
    let not_a_store = |what: &str| StoreError::Io {
        store: shown.to_owned(),
        reason: format!(
            "{what}, not an mdmlink store; nothing was changed (give the path of a store, or a new file)"
        ),
    };
    let io = |e: std::io::Error| StoreError::Io {
        store: shown.to_owned(),
        reason: format!("cannot read: {e}"),
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SqliteFile::Missing),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_file() {
        return Err(not_a_store(&format!("is {}", file_type_name(&meta))));
    }
    if meta.len() == 0 {
        return Ok(SqliteFile::Empty {
            shared: permission_bits(&meta) & 0o077 != 0,
        });
    }
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let complete = file.read_exact(&mut header).is_ok();
    let corrupt = |reason: String| StoreError::Corrupt {
        store: shown.to_owned(),
        reason,
    };
    if !header.starts_with(b"SQLite format 3\0") {
        return Err(corrupt(
            "not an SQLite database; nothing was changed (give the path of a store, or a new file)"
                .into(),
        ));
    }
    if !complete {
        return Err(corrupt("the file is shorter than an SQLite header".into()));
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
        return Err(corrupt(format!(
            "the file is truncated: {len} bytes, but its header counts {pages} pages of {page_size} bytes"
        )));
    }
    #[cfg(feature = "sqlite")]
    check_not_foreign(path, shown)?;
    Ok(SqliteFile::Database)
}

/// The checks [`SqliteStore::open`](super::SqliteStore::open) makes before
/// it opens `path` for writing: [`inspect_sqlite_file`] (an empty file is
/// taken whatever its mode), then [`create_private`].
#[cfg(feature = "sqlite")]
pub(crate) fn prepare_sqlite_file(path: &Path, shown: &str) -> Result<(), StoreError> {
    inspect_sqlite_file(path, shown)?;
    create_private(path, shown).map(|_| ())
}

/// Refuses, before anything is changed (mode included), an SQLite database
/// that belongs to another program: it has tables but no mdmlink schema
/// version. Migrating it would add our tables to someone else's file.
#[cfg(feature = "sqlite")]
fn check_not_foreign(path: &Path, shown: &str) -> Result<(), StoreError> {
    use rusqlite::{Connection, OpenFlags};
    // A read-only look; if even that cannot be had (a read-only directory
    // for a WAL store), the real open reports what is wrong.
    let Ok(conn) = Connection::open_with_flags(
        literal_path(path),
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
            store: shown.to_owned(),
            reason: format!(
                "an SQLite database of another program ({tables} tables, no mdmlink schema version); nothing was changed"
            ),
        }),
        _ => Ok(()),
    }
}

/// Narrows an existing file's mode to at most 0600 (never widening it: a
/// 0400 store stays 0400); returns (old, new) when it changed.
fn narrow_mode(path: &Path, shown: &str) -> Result<Option<(u32, u32)>, StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::symlink_metadata(path).map_err(|e| StoreError::Io {
            store: shown.to_owned(),
            reason: e.to_string(),
        })?;
        let mode = permission_bits(&meta);
        if mode & !0o600 == 0 {
            return Ok(None);
        }
        // A file we may not change (another user's, read-only to us) is
        // read as it is.
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o600)) {
            Ok(()) => Ok(Some((mode, mode & 0o600))),
            Err(_) => Ok(None),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, shown);
        Ok(None)
    }
}

/// Creates `path` with mode 0600 if it does not exist (so the database never
/// exists with a wider mode), and narrows an existing file's mode to at most
/// 0600. A symbolic link, directory, device or FIFO is refused before it is
/// opened. Returns (old, new) mode when an existing file was narrowed.
pub(crate) fn create_private(path: &Path, shown: &str) -> Result<Option<(u32, u32)>, StoreError> {
    let io = |e: std::io::Error| StoreError::Io {
        store: shown.to_owned(),
        reason: e.to_string(),
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return Err(StoreError::Io {
            store: shown.to_owned(),
            reason: format!(
                "is {}, not an mdmlink store; nothing was changed (give the path of a store, or a new file)",
                file_type_name(&meta)
            ),
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
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    let mode = permission_bits(&meta);
    #[cfg(unix)]
    if mode & !0o600 != 0 {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o600))
            .map_err(io)?;
        return Ok(Some((mode, mode & 0o600)));
    }
    let _ = mode;
    Ok(None)
}

/// The path as SQLite must see it: a relative path gets a `./` in front, so
/// that `file:NAME?mode=ro` is a file of that name (never a URI) and
/// `:memory:` a file too.
pub(crate) fn literal_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(".").join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StoreLocation, LocationError> {
        StoreLocation::parse_str(s)
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse("sqlite:/tmp/a.sqlite").unwrap(),
            StoreLocation::Sqlite("/tmp/a.sqlite".into())
        );
        assert_eq!(
            parse("store.sqlite").unwrap(),
            StoreLocation::Sqlite("store.sqlite".into())
        );
        assert_eq!(
            parse("file:s.sqlite?mode=ro").unwrap(),
            StoreLocation::Sqlite("file:s.sqlite?mode=ro".into())
        );
        let pg = parse("postgres://u:s3cret@h/db").unwrap();
        assert!(matches!(pg, StoreLocation::Postgres(_)));
        assert!(!format!("{pg:?}").contains("s3cret"));
        for url in ["postgresql://h/db", "Postgres://h/db", "POSTGRESQL://h/db"] {
            assert!(
                matches!(parse(url), Ok(StoreLocation::Postgres(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn url_like_and_keyword_strings_are_refused_unquoted() {
        const SECRET: &str = "Zq8kXwLEAKpw";
        for bad in [
            format!("postgress://mdm:{SECRET}@host/db"),
            format!("pgsql://mdm:{SECRET}@host/db"),
            format!("mysql://mdm:{SECRET}@host/db"),
            format!(" postgres://mdm:{SECRET}@host/db"),
            format!("postgres://mdm:{SECRET}@host/db "),
            format!("host=db.example.com password={SECRET} dbname=links"),
            format!("dbname=links user=mdm password={SECRET}"),
            format!("sqlite:x?password={SECRET}"),
            format!("://{SECRET}"),
            format!("{SECRET}://x"),
        ] {
            let err = parse(&bad).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains(SECRET), "{bad:?} -> {text}");
        }
        assert!(matches!(
            parse("mysql://a@b/c"),
            Err(LocationError::UnknownScheme { scheme: Some(s) }) if s == "mysql"
        ));
        assert_eq!(
            parse("host=h password=p"),
            Err(LocationError::KeywordString)
        );
    }

    #[test]
    fn relative_paths_are_never_uris() {
        assert_eq!(
            literal_path(Path::new("file:s.sqlite?mode=ro")),
            PathBuf::from("./file:s.sqlite?mode=ro")
        );
        assert_eq!(
            literal_path(Path::new(":memory:")),
            PathBuf::from("./:memory:")
        );
        assert_eq!(literal_path(Path::new("/a/b")), PathBuf::from("/a/b"));
    }
}
