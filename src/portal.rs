//! The three Apple portals, their vocabulary, and who may link a server.

use core::{fmt, str::FromStr};
use serde::{Deserialize, Serialize};

/// An Apple portal an MDM server can be linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Portal {
    /// Apple Business Manager (business.apple.com).
    BusinessManager,
    /// Apple School Manager (school.apple.com).
    SchoolManager,
    /// Apple Business Essentials, which links through a Business Manager account.
    BusinessEssentials,
}

/// A portal user's role, as the portals name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Role {
    /// Administrator: every privilege.
    Administrator,
    /// Site Manager (School Manager only).
    SiteManager,
    /// Device Enrollment Manager.
    DeviceEnrollmentManager,
    /// People Manager.
    PeopleManager,
    /// Content Manager.
    ContentManager,
    /// Manager (School Manager).
    Manager,
    /// Staff.
    Staff,
    /// Instructor (School Manager).
    Instructor,
    /// Student (School Manager).
    Student,
}

/// Something a portal user does to a linked server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Add the server, upload its certificate, download its first token.
    LinkServer,
    /// Upload a new certificate or download a new token for an existing server.
    ReplaceToken,
}

/// A role may not perform an action in a portal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error(
    "the {role} role may not {action} in {portal}; ask a user with one of these roles: {allowed}"
)]
pub struct RoleError {
    /// The role that was refused.
    pub role: Role,
    /// What it tried to do.
    pub action: Action,
    /// Where.
    pub portal: Portal,
    /// The roles that may, comma separated.
    pub allowed: String,
}

const ABM_ROLES: &[Role] = &[Role::Administrator, Role::DeviceEnrollmentManager];
const ASM_ROLES: &[Role] = &[
    Role::Administrator,
    Role::SiteManager,
    Role::DeviceEnrollmentManager,
];

impl Portal {
    /// Every portal, in a stable order.
    pub const ALL: [Portal; 3] = [
        Portal::BusinessManager,
        Portal::SchoolManager,
        Portal::BusinessEssentials,
    ];

    /// The product's name, e.g. "Apple School Manager".
    pub fn product_name(self) -> &'static str {
        match self {
            Portal::BusinessManager => "Apple Business Manager",
            Portal::SchoolManager => "Apple School Manager",
            Portal::BusinessEssentials => "Apple Business Essentials",
        }
    }

    /// What the portal calls a linked server: "device management service" in
    /// Business Manager, "MDM server" elsewhere.
    pub fn server_noun(self) -> &'static str {
        match self {
            Portal::BusinessManager => "device management service",
            Portal::SchoolManager | Portal::BusinessEssentials => "MDM server",
        }
    }

    /// What the portal calls the downloaded token file.
    pub fn token_noun(self) -> &'static str {
        match self {
            Portal::BusinessManager => "Device Management Service Token",
            Portal::SchoolManager | Portal::BusinessEssentials => "server token",
        }
    }

    /// Where in the portal an administrator adds a server.
    pub fn settings_path(self) -> &'static str {
        match self {
            Portal::BusinessManager => "Preferences > Device Management Service Assignment > Add",
            Portal::SchoolManager | Portal::BusinessEssentials => {
                "Preferences > MDM Server Assignment > Add"
            }
        }
    }

    /// The short, stable identifier used on command lines and in stores:
    /// `business-manager`, `school-manager`, `business-essentials`.
    pub fn slug(self) -> &'static str {
        match self {
            Portal::BusinessManager => "business-manager",
            Portal::SchoolManager => "school-manager",
            Portal::BusinessEssentials => "business-essentials",
        }
    }

    /// The roles that may link a server or replace its token here.
    pub fn roles_allowed(self, action: Action) -> &'static [Role] {
        // The portals grant both actions to the same roles.
        let _ = action;
        match self {
            Portal::SchoolManager => ASM_ROLES,
            Portal::BusinessManager | Portal::BusinessEssentials => ABM_ROLES,
        }
    }

    /// Refuses `role` unless it may perform `action` in this portal.
    ///
    /// ```
    /// use mdmlink::portal::{Action, Portal, Role};
    /// assert!(Portal::SchoolManager.check_role(Role::SiteManager, Action::LinkServer).is_ok());
    /// assert!(Portal::BusinessManager.check_role(Role::SiteManager, Action::LinkServer).is_err());
    /// ```
    pub fn check_role(self, role: Role, action: Action) -> Result<(), RoleError> {
        let allowed = self.roles_allowed(action);
        if allowed.contains(&role) {
            return Ok(());
        }
        Err(RoleError {
            role,
            action,
            portal: self,
            allowed: allowed
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl fmt::Display for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.product_name())
    }
}

/// An unknown portal or role identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("unknown {kind} \"{given}\"; expected one of: {expected}")]
pub struct ParseError {
    kind: &'static str,
    given: String,
    expected: &'static str,
}

impl FromStr for Portal {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Portal::ALL
            .into_iter()
            .find(|p| p.slug().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseError {
                kind: "portal",
                given: s.to_owned(),
                expected: "business-manager, school-manager, business-essentials",
            })
    }
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 9] = [
        Role::Administrator,
        Role::SiteManager,
        Role::DeviceEnrollmentManager,
        Role::PeopleManager,
        Role::ContentManager,
        Role::Manager,
        Role::Staff,
        Role::Instructor,
        Role::Student,
    ];

    /// The role's name as the portals show it.
    pub fn title(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::SiteManager => "Site Manager",
            Role::DeviceEnrollmentManager => "Device Enrollment Manager",
            Role::PeopleManager => "People Manager",
            Role::ContentManager => "Content Manager",
            Role::Manager => "Manager",
            Role::Staff => "Staff",
            Role::Instructor => "Instructor",
            Role::Student => "Student",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
        Role::ALL
            .into_iter()
            .find(|r| {
                let t: String = r.title().chars().filter(|c| c.is_alphanumeric()).collect();
                t.eq_ignore_ascii_case(&wanted)
            })
            .ok_or_else(|| ParseError {
                kind: "role",
                given: s.to_owned(),
                expected: "administrator, site-manager, device-enrollment-manager, people-manager, content-manager, manager, staff, instructor, student",
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::LinkServer => "link a server",
            Action::ReplaceToken => "replace a server's token",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_per_portal() {
        assert_eq!(
            Portal::BusinessManager.server_noun(),
            "device management service"
        );
        assert_eq!(
            Portal::BusinessManager.token_noun(),
            "Device Management Service Token"
        );
        assert_eq!(Portal::SchoolManager.server_noun(), "MDM server");
        assert_eq!(Portal::BusinessEssentials.token_noun(), "server token");
    }

    #[test]
    fn role_matrix() {
        for portal in Portal::ALL {
            for action in [Action::LinkServer, Action::ReplaceToken] {
                for role in Role::ALL {
                    let ok = portal.check_role(role, action).is_ok();
                    let expected =
                        matches!(role, Role::Administrator | Role::DeviceEnrollmentManager)
                            || (portal == Portal::SchoolManager && role == Role::SiteManager);
                    assert_eq!(ok, expected, "{portal:?} {role:?} {action:?}");
                }
            }
        }
    }

    #[test]
    fn refusal_is_clear() {
        let e = Portal::BusinessManager
            .check_role(Role::Staff, Action::LinkServer)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the Staff role may not link a server in Apple Business Manager; ask a user with one of these roles: Administrator, Device Enrollment Manager"
        );
    }

    #[test]
    fn parse_round_trip() {
        for p in Portal::ALL {
            assert_eq!(p.slug().parse::<Portal>().unwrap(), p);
        }
        for r in Role::ALL {
            assert_eq!(r.title().parse::<Role>().unwrap(), r);
        }
        assert_eq!(
            "device-enrollment-manager".parse::<Role>().unwrap(),
            Role::DeviceEnrollmentManager
        );
        assert!("apple-tv-manager".parse::<Portal>().is_err());
    }
}
