//! Reading and writing key, certificate and token files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::Failure;

/// Mode of private key and token files.
pub const PRIVATE: u32 = 0o600;
/// Mode of certificates (public).
pub const PUBLIC: u32 = 0o644;

/// What a file read by the CLI holds, and the most bytes it may have.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A server token file (`*_smime.p7m`): 1 MiB, as `token::open` allows.
    Token,
    /// A private key: 64 KiB.
    Key,
    /// A certificate: 64 KiB.
    Certificate,
    /// A token's JSON: 64 KiB.
    TokenJson,
    /// The store's master key: 4 KiB.
    MasterKey,
    /// An enrollment profile's JSON: 64 KiB (the service's own limit).
    Profile,
    /// Serial numbers, one per line: 4 MiB (100,000 serials and more).
    Serials,
}

impl Kind {
    /// The size limit in bytes.
    pub fn limit(self) -> u64 {
        match self {
            Kind::Token => mdmlink::token::MAX_TOKEN_FILE_BYTES as u64,
            Kind::Key | Kind::Certificate | Kind::TokenJson => 64 * 1024,
            Kind::MasterKey => 4 * 1024,
            Kind::Profile => mdmlink::dep::profile::MAX_PROFILE_BYTES as u64,
            Kind::Serials => 4 * 1024 * 1024,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Token => "token file",
            Kind::Key => "private key file",
            Kind::Certificate => "certificate file",
            Kind::TokenJson => "token JSON file",
            Kind::MasterKey => "master key file",
            Kind::Profile => "profile JSON file",
            Kind::Serials => "serial number file",
        }
    }
}

/// Reads a file of `kind` in bounded time and memory: only a regular file
/// (a FIFO, device or directory is refused before it is opened, so nothing
/// blocks), at most `kind.limit()` bytes by its metadata, and a read that
/// stops one byte past the limit (a file that grows meanwhile is refused too).
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let limit = kind.limit();
    let cannot = |e: std::io::Error| Failure::file(path, format!("cannot read: {e}"));
    let check = |meta: &std::fs::Metadata| -> Result<(), Failure> {
        if !meta.is_file() {
            return Err(Failure::file(
                path,
                format!(
                    "is {}, not a regular file; give the {} itself",
                    file_type_name(meta),
                    kind.noun()
                ),
            ));
        }
        if meta.len() > limit {
            return Err(too_large(path, kind, Some(meta.len())));
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(cannot)?)?;
    let file = std::fs::File::open(path).map_err(cannot)?;
    check(&file.metadata().map_err(cannot)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        zeroize::Zeroize::zeroize(&mut bytes);
        return Err(too_large(path, kind, None));
    }
    Ok(bytes)
}

fn too_large(path: &Path, kind: Kind, len: Option<u64>) -> Failure {
    let size = len.map_or_else(|| "too large".to_owned(), |n| format!("{n} bytes"));
    Failure::file(
        path,
        format!(
            "is {size}; a {} is at most {} KiB",
            kind.noun(),
            kind.limit() / 1024
        ),
    )
}

/// "a directory", "a FIFO (named pipe)", ... for messages: the library's
/// words, as the store's own file checks print them.
pub use mdmlink::store::open::file_type_name;

/// Reads a UTF-8 file of `kind` (bounded as [`read`]).
pub fn read_text(path: &Path, kind: Kind) -> Result<zeroize::Zeroizing<String>, Failure> {
    let bytes = zeroize::Zeroizing::new(read(path, kind)?);
    std::str::from_utf8(&bytes)
        .map(|s| zeroize::Zeroizing::new(s.to_owned()))
        .map_err(|_| Failure::file(path, "not UTF-8 text"))
}

/// Refuses an existing `path` (before work that should not be wasted).
pub fn check_absent(path: &Path) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::file(
            path,
            "already exists; pass --force to replace it",
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` with exactly `mode` (whatever the umask),
/// atomically: a temporary file in the same directory, then a link (refusing
/// an existing file) or, with `force`, a rename over it.
pub fn write(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), Failure> {
    let err = |what: &str, e: std::io::Error| Failure::file(path, format!("cannot {what}: {e}"));
    if !force && path.exists() {
        return Err(Failure::file(
            path,
            "already exists; pass --force to replace it",
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Failure::file(path, "is not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode & 0o600);
    let result = (|| {
        let mut f = options.open(&tmp).map_err(|e| err("create", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| err("set the mode of", e))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        f.write_all(bytes).map_err(|e| err("write", e))?;
        f.sync_all().map_err(|e| err("write", e))?;
        drop(f);
        if force {
            std::fs::rename(&tmp, path).map_err(|e| err("replace", e))
        } else {
            std::fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Failure::file(path, "already exists; pass --force to replace it")
                } else {
                    err("create", e)
                }
            })
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Creates `dir` and any missing parents, each one owner-only (0700)
/// whatever the umask; directories that exist already are left alone.
pub fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
        .collect();
    for d in missing.into_iter().rev() {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(d) {
            Ok(()) => {}
            // Another process made it meanwhile: theirs to keep.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Failure::file(d, format!("cannot create: {e}"))),
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Failure::file(d, format!("cannot set the mode: {e}")))?;
        }
    }
    if !dir.is_dir() {
        return Err(Failure::file(dir, "is not a directory"));
    }
    Ok(())
}

/// `s` with every character that could forge output escaped as `\u{XXXX}`:
/// controls (newlines, escape sequences), line separators, bidirectional
/// controls (Trojan Source), and invisible characters. For any label the
/// CLI prints that came from a user or a file.
pub fn escape_label(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c,
                '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}')
    }
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A file name made from a server name: letters, digits, `-` and `_` kept,
/// anything else becomes `_`.
pub fn safe_file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "server".into()
    } else {
        stem
    }
}
