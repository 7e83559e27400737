//! [`NotFound`]: the one "no such thing" of every layer.
//!
//! The organization model, the store and the store-backed registry all look
//! things up by name or id; when the thing is missing they report the same
//! type, so a caller (or the C API's status mapping) tests one case, whichever
//! layer noticed: [`crate::Error::not_found`] finds it in any error.

use core::fmt;

/// What kind of thing was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Missing {
    /// An organization (a portal account), by name.
    Organization,
    /// A server of an organization, by name.
    Server,
    /// A device of a server, by serial number.
    Device,
    /// An organization's School and Business Manager API account, by the
    /// organization's name.
    ApiAccount,
    /// A store, by its location.
    Store,
}

impl Missing {
    /// The word for it in messages (`"organization"`, `"server"`, ...).
    pub const fn word(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Server => "server",
            Self::Device => "device",
            Self::ApiAccount => "API account",
            Self::Store => "store",
        }
    }
}

/// A thing that was looked up and does not exist (any more).
///
/// ```
/// use mdmlink::not_found::{Missing, NotFound};
/// let e = NotFound::server("Main MDM").in_organization("Contoso");
/// assert_eq!(e.missing(), Missing::Server);
/// assert_eq!(e.to_string(), "no server named \"Main MDM\" in organization \"Contoso\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    missing: Missing,
    key: String,
    by_id: bool,
    organization: Option<String>,
}

impl NotFound {
    /// `missing`, looked up by `key` (a name, serial or id).
    pub fn new(missing: Missing, key: impl Into<String>) -> Self {
        Self {
            missing,
            key: key.into(),
            by_id: false,
            organization: None,
        }
    }

    /// `missing`, looked up by a store's row id: it was removed meanwhile,
    /// by another writer.
    pub fn id(missing: Missing, id: impl fmt::Display) -> Self {
        Self {
            by_id: true,
            ..Self::new(missing, id.to_string())
        }
    }

    /// An organization, by name.
    pub fn organization(name: impl Into<String>) -> Self {
        Self::new(Missing::Organization, name)
    }

    /// A server, by name (add its organization with [`Self::in_organization`]).
    pub fn server(name: impl Into<String>) -> Self {
        Self::new(Missing::Server, name)
    }

    /// The same, looked for in the organization named `organization`.
    #[must_use]
    pub fn in_organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// What kind of thing is missing.
    pub fn missing(&self) -> Missing {
        self.missing
    }

    /// The name, serial, location or id it was looked up by.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether it was looked up by a store's row id (rather than by name).
    pub fn by_id(&self) -> bool {
        self.by_id
    }

    /// The organization it was looked for in, when one was named.
    pub fn organization_name(&self) -> Option<&str> {
        self.organization.as_deref()
    }
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.missing {
            m if self.by_id => write!(
                f,
                "no {} with id {} (another writer removed it meanwhile)",
                m.word(),
                self.key
            )?,
            Missing::Store => write!(f, "no store at {}", self.key)?,
            Missing::ApiAccount => write!(f, "organization \"{}\" has no API account", self.key)?,
            m => write!(f, "no {} named \"{}\"", m.word(), self.key)?,
        }
        if let Some(organization) = &self.organization {
            write!(f, " in organization \"{organization}\"")?;
        }
        Ok(())
    }
}

impl std::error::Error for NotFound {}
