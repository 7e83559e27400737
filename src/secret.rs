//! Secret strings: zeroized on drop, never printed.

use core::fmt;
use zeroize::Zeroizing;

/// A string that holds a secret (an OAuth secret, a password, key material in PEM).
///
/// The memory is overwritten with zeros when the value is dropped, and `Debug`
/// and `Display` print `[redacted]`. Use [`SecretString::expose`] to read it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `value`, taking ownership so no unzeroized copy is left behind.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself. Keep the borrow short and do not copy it into
    /// unprotected memory.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Length in bytes (not secret: it is visible in the token file's size).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = SecretString::from("CS_hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "CS_hunter2");
        assert_eq!(s.len(), 10);
    }
}
