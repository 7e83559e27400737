//! Server names and the rules the portals apply to them.
//!
//! A server's name is what an administrator sees in the portal's device
//! assignment menus. It need not be a hostname. Within one organization's
//! portal account names are unique, compared after trimming, Unicode
//! normalization and case folding (see [`ServerName::comparison_key`]).

use core::{fmt, str::FromStr};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

/// Longest accepted name, in UTF-8 bytes after trimming and NFC normalization.
///
/// The portal names the token file `<name>_Token_<timestamp>_smime.p7m`; the
/// fixed part is 37 bytes, and common file systems allow 255 bytes per file
/// name. 200 bytes keeps every downloaded token file name valid, with room to
/// spare for a browser's ` (1)` suffix.
pub const MAX_NAME_BYTES: usize = 200;

/// Names the portals reserve for their own pseudo-servers, refused in any case.
pub const RESERVED_NAMES: [&str; 2] = ["Unassigned", "Reassigned"];

/// Why a server name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing is left after trimming white space.
    #[error("server name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("server name is {len} bytes long; the limit is {max} bytes")]
    TooLong {
        /// Length in UTF-8 bytes after trimming and normalization.
        len: usize,
        /// The limit, [`MAX_NAME_BYTES`].
        max: usize,
    },
    /// The name contains a control, line-separator or bidirectional-override character.
    #[error("server name contains the control character U+{codepoint:04X} at character {index}")]
    ControlCharacter {
        /// Position, counted in characters of the trimmed name.
        index: usize,
        /// The offending code point.
        codepoint: u32,
    },
    /// The name is one the portals reserve.
    #[error(
        "server name \"{name}\" is reserved by the portal (\"Unassigned\" and \"Reassigned\" are never allowed, in any case)"
    )]
    Reserved {
        /// The name as given, trimmed.
        name: String,
    },
}

/// A validated server name.
///
/// Holds the trimmed, NFC-normalized name; compare names for uniqueness with
/// [`ServerName::comparison_key`] or [`ServerName::same_as`], not with `==`
/// (which compares the spelling as shown).
///
/// ```
/// use mdmlink::name::ServerName;
/// let a = ServerName::parse("  Building A ")?;
/// let b = ServerName::parse("building a")?;
/// assert_eq!(a.as_str(), "Building A");
/// assert!(a.same_as(&b));
/// assert!(ServerName::parse("UNASSIGNED").is_err());
/// # Ok::<(), mdmlink::name::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerName {
    display: String,
    key: String,
}

/// Characters that can make a name render differently from what it is
/// (Trojan Source, CVE-2021-42574) or break lines in logs and tables.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'                 // line and paragraph separators
            | '\u{202A}'..='\u{202E}'               // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}'               // bidi isolates
            | '\u{200E}' | '\u{200F}' | '\u{061C}'  // bidi marks
            | '\u{FEFF}') // byte order mark
}

/// Unicode's `Default_Ignorable_Code_Point` characters (DerivedCoreProperties
/// 16.0) not already refused by [`is_forbidden`]: they render as nothing, so
/// a name holding one would look like another (`Unassigned\u{200B}`,
/// `B\u{200D}ase`). They are removed from the name before it is stored.
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2065}'
        | '\u{206A}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// The key two names are compared by: canonical caseless matching
/// (Unicode §3.13, D145): NFD, full case folding, NFD again, then NFC so the
/// key is compact.
fn caseless_key(s: &str) -> String {
    // ASCII fast path, exactly equal to the general one: NFD and NFC leave
    // ASCII unchanged, and full case folding maps only A-Z within ASCII.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let folded = caseless::default_case_fold_str(&s.nfd().collect::<String>());
    folded.nfd().nfc().collect()
}

impl ServerName {
    /// Validates `raw` and returns the name to store.
    ///
    /// Rules, in the order checked: trimmed of Unicode white space; not empty;
    /// no control, line-separator, bidirectional-control or BOM characters;
    /// invisible (default-ignorable) characters such as U+200B ZERO WIDTH
    /// SPACE or U+00AD SOFT HYPHEN removed (so `B\u{200D}ase` is `Base`, and
    /// nothing invisible is stored); still not empty; at most
    /// [`MAX_NAME_BYTES`] bytes after NFC normalization; not one of
    /// [`RESERVED_NAMES`] in any case or normalization.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some((index, c)) = trimmed.chars().enumerate().find(|&(_, c)| is_forbidden(c)) {
            return Err(NameError::ControlCharacter {
                index,
                codepoint: u32::from(c),
            });
        }
        let visible: String;
        let trimmed = if trimmed.chars().any(is_default_ignorable) {
            visible = trimmed
                .chars()
                .filter(|&c| !is_default_ignorable(c))
                .collect();
            let t = visible.trim();
            if t.is_empty() {
                return Err(NameError::Empty);
            }
            t
        } else {
            trimmed
        };
        // Bound the work before normalizing: NFC never expands more than 3x.
        if trimmed.len() > MAX_NAME_BYTES * 4 {
            return Err(NameError::TooLong {
                len: trimmed.len(),
                max: MAX_NAME_BYTES,
            });
        }
        // NFC leaves ASCII unchanged; skip the normalizer for the common case.
        let display: String = if trimmed.is_ascii() {
            trimmed.to_owned()
        } else {
            trimmed.nfc().collect()
        };
        if display.len() > MAX_NAME_BYTES {
            return Err(NameError::TooLong {
                len: display.len(),
                max: MAX_NAME_BYTES,
            });
        }
        let key = caseless_key(&display);
        // The reserved names are ASCII and `key` is already case-folded, so
        // an ASCII case-insensitive comparison is the caseless comparison.
        if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(&key)) {
            return Err(NameError::Reserved {
                name: trimmed.to_owned(),
            });
        }
        Ok(Self { display, key })
    }

    /// The name as shown in the portal (trimmed, NFC).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The key the portal's uniqueness rule compares: two names collide when
    /// their keys are equal.
    pub fn comparison_key(&self) -> &str {
        &self.key
    }

    /// `true` when the portal would treat `self` and `other` as the same name.
    pub fn same_as(&self, other: &ServerName) -> bool {
        self.key == other.key
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerName").field(&self.display).finish()
    }
}

impl FromStr for ServerName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for ServerName {
    fn as_ref(&self) -> &str {
        &self.display
    }
}

impl Serialize for ServerName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general caseless key, without the ASCII fast path.
    fn general_key(s: &str) -> String {
        let folded = caseless::default_case_fold_str(&s.nfd().collect::<String>());
        folded.nfd().nfc().collect()
    }

    #[test]
    fn ascii_fast_path_equals_general_key() {
        let all_ascii: String = (0u8..=127).map(char::from).collect();
        for s in [all_ascii.as_str(), "Main MDM", "UNASSIGNED", "Kelvin K", ""] {
            assert_eq!(caseless_key(s), general_key(s), "{s:?}");
        }
        // Non-ASCII names still take the general path (Kelvin sign folds to k).
        assert_eq!(caseless_key("\u{212A}elvin"), "kelvin");
    }

    #[test]
    fn reserved_names_are_ascii_so_the_fast_comparison_holds() {
        for r in RESERVED_NAMES {
            assert!(r.is_ascii());
            assert!(ServerName::parse(&r.to_uppercase()).is_err());
            assert!(ServerName::parse(&format!(" {} ", r.to_lowercase())).is_err());
        }
        // Non-ASCII spellings that case-fold to a reserved name are still
        // refused (U+017F LATIN SMALL LETTER LONG S folds to "s").
        assert!(ServerName::parse("Rea\u{17F}\u{17F}igned").is_err());
        // Ones that do not fold to it are accepted (fullwidth U stays fullwidth).
        assert!(ServerName::parse("\u{FF35}nassigned").is_ok());
    }

    #[test]
    fn trims_and_normalizes() {
        let n = ServerName::parse("\t Cafe\u{301} Nord \n").unwrap();
        assert_eq!(n.as_str(), "Caf\u{e9} Nord");
    }

    #[test]
    fn composed_and_decomposed_collide() {
        let a = ServerName::parse("Caf\u{e9}").unwrap();
        let b = ServerName::parse("CAFE\u{301}").unwrap();
        assert!(a.same_as(&b));
    }

    #[test]
    fn case_and_trailing_space_collide() {
        let a = ServerName::parse("Building A").unwrap();
        let b = ServerName::parse("building a ").unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&ServerName::parse("Building B").unwrap()));
    }

    #[test]
    fn full_case_folding() {
        let a = ServerName::parse("Stra\u{df}e").unwrap();
        let b = ServerName::parse("STRASSE").unwrap();
        assert!(a.same_as(&b));
    }

    #[test]
    fn reserved_in_any_case_and_form() {
        for n in ["Unassigned", "unassigned", " REASSIGNED ", "ReAssigned"] {
            let got = ServerName::parse(n);
            assert!(
                matches!(got, Err(NameError::Reserved { .. })),
                "{n}: {got:?}"
            );
        }
        assert!(ServerName::parse("Unassigned devices").is_ok());
    }

    #[test]
    fn empty_and_control() {
        assert_eq!(ServerName::parse("   "), Err(NameError::Empty));
        assert_eq!(ServerName::parse(""), Err(NameError::Empty));
        assert_eq!(
            ServerName::parse("a\nb"),
            Err(NameError::ControlCharacter {
                index: 1,
                codepoint: 10
            })
        );
        assert!(matches!(
            ServerName::parse("abc\u{202E}gpj"),
            Err(NameError::ControlCharacter {
                index: 3,
                codepoint: 0x202E
            })
        ));
    }

    #[test]
    fn length_bound() {
        assert!(ServerName::parse(&"a".repeat(MAX_NAME_BYTES)).is_ok());
        assert_eq!(
            ServerName::parse(&"a".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong {
                len: MAX_NAME_BYTES + 1,
                max: MAX_NAME_BYTES
            })
        );
        // Multi-byte characters count in bytes.
        assert!(ServerName::parse(&"\u{e9}".repeat(101)).is_err());
        assert!(ServerName::parse(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn hostnames_not_required() {
        for n in ["Jamf Pro (Main Campus)", "MDM #2 — Lab", "学校のMDM"] {
            assert!(ServerName::parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert!(
            ServerName::parse("unassigned")
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );
        assert!(
            ServerName::parse("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
