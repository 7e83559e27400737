//! Reading and writing key, certificate and token files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::Failure;

/// Mode of private key and token files.
pub const PRIVATE: u32 = 0o600;
/// Mode of certificates (public).
pub const PUBLIC: u32 = 0o644;

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::file(path, format!("cannot read: {e}")))
}

/// Reads a UTF-8 file.
pub fn read_text(path: &Path) -> Result<zeroize::Zeroizing<String>, Failure> {
    let bytes = zeroize::Zeroizing::new(read(path)?);
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

/// Creates `dir` (and parents) and makes the last one owner-only.
pub fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Failure::file(dir, format!("cannot create: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Failure::file(dir, format!("cannot set the mode: {e}")))?;
    }
    Ok(())
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
