//! The name the portal gives a downloaded token file:
//! `<server name>_Token_<YYYY-MM-DDTHH-MM-SSZ>_smime.p7m`, e.g.
//! `Main MDM_Token_2026-01-17T11-02-21Z_smime.p7m`.
//!
//! [`parse`] reads it back into the server name it suggests and when the
//! token was downloaded (UTC). It accepts a path (`/` or `\` separated), a
//! browser's duplicate marker before the extension (`_smime (1).p7m`,
//! `_smime(2).p7m`, `_smime-3.p7m`) and any case of `.p7m`. The server name
//! may hold spaces, underscores (the name ends at the *last* `_Token_`) and
//! any Unicode.

use time::{OffsetDateTime, PrimitiveDateTime, format_description::BorrowedFormatItem};

/// `YYYY-MM-DDTHH-MM-SSZ`: RFC 3339 with `-` for `:` (file names cannot hold `:`).
const STAMP: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");

/// What a token file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFileName {
    /// The server the portal made the token for (as written in the file name).
    pub server_name: String,
    /// When the token was downloaded (UTC).
    pub downloaded_at: OffsetDateTime,
    /// A browser's duplicate number (`(1)`, `-2`) when the file was saved twice.
    pub duplicate: Option<u32>,
}

impl TokenFileName {
    /// Whether the file name names `server` (compared as the portal compares
    /// server names: ignoring case, Unicode normalization and surrounding
    /// spaces).
    pub fn names_server(&self, server: &str) -> bool {
        match (
            crate::name::ServerName::parse(&self.server_name),
            crate::name::ServerName::parse(server),
        ) {
            (Ok(a), Ok(b)) => a.comparison_key() == b.comparison_key(),
            _ => self.server_name.trim() == server.trim(),
        }
    }

    /// The expiry a token downloaded then carries: one year later.
    pub fn expected_expiry(&self) -> OffsetDateTime {
        crate::expiry::expected_expiry(self.downloaded_at)
    }
}

/// Why a file name is not a token file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{file_name}\" is not a token file name like <server name>_Token_2026-01-17T11-02-21Z_smime.p7m: {reason}"
)]
#[non_exhaustive]
pub struct FileNameError {
    /// The file name (without its directory).
    pub file_name: String,
    /// What was wrong.
    pub reason: &'static str,
}

/// Parses a token file name (or a path ending in one).
///
/// ```
/// use mdmlink::token::filename;
/// let f = filename::parse("/tmp/Café_Nord_Token_2026-01-17T11-02-21Z_smime (1).p7m")?;
/// assert_eq!(f.server_name, "Café_Nord");
/// assert_eq!(f.downloaded_at, time::macros::datetime!(2026-01-17 11:02:21 UTC));
/// assert_eq!(f.duplicate, Some(1));
/// # Ok::<(), filename::FileNameError>(())
/// ```
pub fn parse(path: &str) -> Result<TokenFileName, FileNameError> {
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let err = |reason| FileNameError {
        file_name: file_name.to_owned(),
        reason,
    };
    let stem = strip_suffix_ignore_case(file_name, ".p7m").ok_or(err("it does not end in .p7m"))?;
    let (stem, duplicate) = strip_duplicate(stem);
    let stem = stem
        .strip_suffix("_smime")
        .ok_or(err("there is no _smime before .p7m"))?;
    let (server_name, stamp) = stem.rsplit_once("_Token_").ok_or(err(
        "there is no _Token_ between the server name and the date",
    ))?;
    if server_name.trim().is_empty() {
        return Err(err("the server name is empty"));
    }
    let downloaded_at = PrimitiveDateTime::parse(stamp, STAMP)
        .map_err(|_| err("the date is not YYYY-MM-DDTHH-MM-SSZ"))?
        .assume_utc();
    Ok(TokenFileName {
        server_name: server_name.to_owned(),
        downloaded_at,
        duplicate,
    })
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Strips ` (N)`, `(N)` or `-N` (a browser's "saved twice" marker).
fn strip_duplicate(stem: &str) -> (&str, Option<u32>) {
    let number = |digits: &str| -> Option<u32> {
        (!digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    };
    if let Some(inner) = stem.strip_suffix(')')
        && let Some((head, digits)) = inner.rsplit_once('(')
        && let Some(n) = number(digits)
    {
        return (head.strip_suffix(' ').unwrap_or(head), Some(n));
    }
    if let Some((head, digits)) = stem.rsplit_once('-')
        && head.ends_with("_smime")
        && let Some(n) = number(digits)
    {
        return (head, Some(n));
    }
    (stem, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);

    #[test]
    fn apple_form() {
        let f = parse("Main MDM_Token_2026-01-17T11-02-21Z_smime.p7m").unwrap();
        assert_eq!(f.server_name, "Main MDM");
        assert_eq!(f.downloaded_at, T);
        assert_eq!(f.duplicate, None);
        assert_eq!(f.expected_expiry(), datetime!(2027-01-17 11:02:21 UTC));
    }

    #[test]
    fn names_with_spaces_underscores_and_unicode() {
        for name in [
            "Building A",
            "lab_mdm",
            "a_Token_b",
            "Café Nord",
            "東京 サーバー",
            "  padded  ",
            "x_Token_2026-01-17T11-02-21Z_smime",
        ] {
            let file = format!("{name}_Token_2026-01-17T11-02-21Z_smime.p7m");
            let f = parse(&file).unwrap();
            assert_eq!(f.server_name, name, "{file}");
            assert_eq!(f.downloaded_at, T);
        }
    }

    #[test]
    fn paths_duplicates_and_case() {
        for (path, dup) in [
            (
                "/home/me/Downloads/Lab_Token_2026-01-17T11-02-21Z_smime.p7m",
                None,
            ),
            (
                r"C:\Users\me\Downloads\Lab_Token_2026-01-17T11-02-21Z_smime.p7m",
                None,
            ),
            ("Lab_Token_2026-01-17T11-02-21Z_smime (1).p7m", Some(1)),
            ("Lab_Token_2026-01-17T11-02-21Z_smime(12).p7m", Some(12)),
            ("Lab_Token_2026-01-17T11-02-21Z_smime-2.p7m", Some(2)),
            ("Lab_Token_2026-01-17T11-02-21Z_smime.P7M", None),
        ] {
            let f = parse(path).unwrap();
            assert_eq!(
                (f.server_name.as_str(), f.duplicate),
                ("Lab", dup),
                "{path}"
            );
        }
    }

    #[test]
    fn other_names_are_refused_with_a_reason() {
        for (name, reason) in [
            ("token.p7m", "there is no _smime before .p7m"),
            (
                "Lab_Token_2026-01-17T11-02-21Z_smime.pem",
                "it does not end in .p7m",
            ),
            (
                "Lab_2026-01-17T11-02-21Z_smime.p7m",
                "there is no _Token_ between the server name and the date",
            ),
            (
                "_Token_2026-01-17T11-02-21Z_smime.p7m",
                "the server name is empty",
            ),
            (
                "Lab_Token_2026-01-17T11:02:21Z_smime.p7m",
                "the date is not YYYY-MM-DDTHH-MM-SSZ",
            ),
            (
                "Lab_Token_2026-13-17T11-02-21Z_smime.p7m",
                "the date is not YYYY-MM-DDTHH-MM-SSZ",
            ),
            (
                "Lab_Token_2026-01-17_smime.p7m",
                "the date is not YYYY-MM-DDTHH-MM-SSZ",
            ),
            (
                "Lab_Token_2026-01-17T11-02-21Z_smime (x).p7m",
                "there is no _smime before .p7m",
            ),
            ("", "it does not end in .p7m"),
            ("é.p7m", "there is no _smime before .p7m"),
        ] {
            let e = parse(name).unwrap_err();
            assert_eq!(e.reason, reason, "{name}");
            assert!(e.to_string().contains(reason));
        }
        assert_eq!(parse("/dir/x.p7m").unwrap_err().file_name, "x.p7m");
    }

    #[test]
    fn arbitrary_pieces_never_panic() {
        let pieces = [
            "",
            "_Token_",
            "_smime",
            ".p7m",
            ".P7m",
            " (",
            "(",
            ")",
            "1",
            "-",
            "é",
            "東",
            "2026-01-17T11-02-21Z",
            "/",
            "\\",
            " ",
            "_",
            "\u{0}",
            "\u{FEFF}",
        ];
        let n = pieces.len();
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    for d in 0..n {
                        let name = [pieces[a], pieces[b], pieces[c], pieces[d]].concat();
                        if let Ok(f) = parse(&name) {
                            assert!(!f.server_name.trim().is_empty(), "{name:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_server_compares_like_the_portal() {
        let f = parse("Café Nord_Token_2026-01-17T11-02-21Z_smime.p7m").unwrap();
        assert!(f.names_server("CAFE\u{301} NORD "));
        assert!(!f.names_server("Café Sud"));
    }
}
