//! Reconciling an organization with the portal: which of the store's
//! servers the portal lacks, which portal servers the store does not know,
//! and which are named differently.
//!
//! A store server is matched to a portal server by the portal id kept with
//! it when there is one, otherwise by name as the portal compares names
//! (trimmed, case-insensitive, NFC). Portal entries that are not MDM
//! servers (Apple Configurator's, `serverType` other than `MDM`) are not
//! expected in a store and are left out of "unknown to the store".

use serde::Serialize;

use super::client::PortalApiClient;
use super::servers::MdmServer;
use crate::expiry::ExpiryPolicy;
use crate::name::ServerName;
use crate::store::Store;
use crate::store::registry::Registry;

/// A server as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoreServer {
    /// Its name.
    pub name: String,
    /// The portal's id for it, when kept.
    pub portal_server_id: Option<String>,
}

impl StoreServer {
    /// A server named `name`, with the portal's id if known.
    pub fn new(name: &str, portal_server_id: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            portal_server_id: portal_server_id.map(str::to_owned),
        }
    }
}

/// A server as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PortalServer {
    /// The portal's id.
    pub id: String,
    /// `serverName`.
    pub server_name: String,
    /// `serverType`.
    pub server_type: Option<String>,
}

/// A store server and its portal server under different names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NameDifference {
    /// The name in the store.
    pub store_name: String,
    /// The name in the portal.
    pub portal_name: String,
    /// The portal's id.
    pub portal_server_id: String,
}

/// How the store and the portal differ. Lists are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconcileReport {
    /// Store servers with no portal server.
    pub missing_in_portal: Vec<String>,
    /// Portal MDM servers the store does not hold.
    pub unknown_to_store: Vec<PortalServer>,
    /// Servers matched but named differently.
    pub names_differ: Vec<NameDifference>,
    /// Servers that agree: (store name, portal id).
    pub matched: Vec<(String, String)>,
}

/// A [`ReconcileReport`] as JSON: what `mdmlink api reconcile --json`
/// prints and `mdmlink_store_api_reconcile_json` returns. Keys: `agrees`
/// (bool), `missingInPortal` (store names), `unknownToStore` (objects `id`,
/// `serverName`, `serverType`), `namesDiffer` (objects `storeName`,
/// `portalName`, `portalServerId`), `matched` (pairs `[store name, portal
/// id]`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ReconcileJson<'a> {
    /// [`ReconcileReport::agrees`].
    pub agrees: bool,
    /// The report's lists.
    #[serde(flatten)]
    pub report: &'a ReconcileReport,
}

impl ReconcileReport {
    /// The report with its verdict, for JSON.
    pub fn to_json(&self) -> ReconcileJson<'_> {
        ReconcileJson {
            agrees: self.agrees(),
            report: self,
        }
    }

    /// `true` when the store and the portal agree.
    pub fn agrees(&self) -> bool {
        self.missing_in_portal.is_empty()
            && self.unknown_to_store.is_empty()
            && self.names_differ.is_empty()
    }

    /// One line per difference, for people.
    pub fn differences(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in &self.missing_in_portal {
            out.push(format!("\"{name}\" is in the store but not in the portal"));
        }
        for s in &self.unknown_to_store {
            out.push(format!(
                "\"{}\" (id {}) is in the portal but not in the store",
                s.server_name, s.id
            ));
        }
        for d in &self.names_differ {
            out.push(format!(
                "\"{}\" is named \"{}\" in the portal (id {})",
                d.store_name, d.portal_name, d.portal_server_id
            ));
        }
        out
    }
}

fn key(name: &str) -> String {
    ServerName::parse(name)
        .map(|n| n.comparison_key().to_owned())
        .unwrap_or_else(|_| name.trim().to_lowercase())
}

/// Compares the store's servers with the portal's.
pub fn compare(store: &[StoreServer], portal: &[MdmServer]) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    let mut unmatched: Vec<PortalServer> = portal
        .iter()
        .map(|s| PortalServer {
            id: s.id.clone(),
            server_name: s.attributes.server_name.clone().unwrap_or_default(),
            server_type: s.attributes.server_type.clone(),
        })
        .collect();
    for server in store {
        let position = match &server.portal_server_id {
            Some(id) => unmatched.iter().position(|p| &p.id == id),
            None => {
                let k = key(&server.name);
                unmatched.iter().position(|p| key(&p.server_name) == k)
            }
        };
        match position {
            None => report.missing_in_portal.push(server.name.clone()),
            Some(i) => {
                let p = unmatched.remove(i);
                if p.server_name != server.name {
                    report.names_differ.push(NameDifference {
                        store_name: server.name.clone(),
                        portal_name: p.server_name.clone(),
                        portal_server_id: p.id.clone(),
                    });
                }
                report.matched.push((server.name.clone(), p.id));
            }
        }
    }
    report.unknown_to_store = unmatched
        .into_iter()
        .filter(|p| p.server_type.as_deref().is_none_or(|t| t == "MDM"))
        .collect();
    report.missing_in_portal.sort();
    report
        .unknown_to_store
        .sort_by(|a, b| a.server_name.cmp(&b.server_name));
    report
        .names_differ
        .sort_by(|a, b| a.store_name.cmp(&b.store_name));
    report.matched.sort();
    report
}

/// Reconciles `organization` in the store with the portal the client
/// reaches. A server is matched by the portal id kept with it in the store,
/// else by the id `portal_ids` gives for its stored name (for a caller that
/// keeps ids elsewhere; `&|_| None` otherwise), else by name.
pub fn reconcile<S: Store>(
    registry: &mut Registry<S>,
    client: &PortalApiClient,
    organization: Option<&str>,
    portal_ids: &dyn Fn(&str) -> Option<String>,
    now: time::OffsetDateTime,
) -> Result<ReconcileReport, super::link::LinkError> {
    let org = registry.organization(organization)?;
    client.account().check_portal(org.portal)?;
    let store: Vec<StoreServer> = registry
        .servers(Some(&org.name), &ExpiryPolicy::default(), now)?
        .into_iter()
        .map(|s| StoreServer {
            portal_server_id: s
                .summary
                .portal_server_id
                .or_else(|| portal_ids(&s.summary.name)),
            name: s.summary.name,
        })
        .collect();
    let portal = client.all_servers()?;
    Ok(compare(&store, &portal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal_api::document::parse;

    fn portal() -> Vec<MdmServer> {
        parse(
            br#"[{"type":"mdmServers","id":"P1","attributes":{"serverName":"Main MDM","serverType":"MDM"}},
                 {"type":"mdmServers","id":"P2","attributes":{"serverName":"Lab Macs","serverType":"MDM"}},
                 {"type":"mdmServers","id":"P3","attributes":{"serverName":"Old Server","serverType":"MDM"}},
                 {"type":"mdmServers","id":"P4","attributes":{"serverName":"Devices Added by Apple Configurator","serverType":"APPLE_CONFIGURATOR"}},
                 {"type":"mdmServers","id":"P5","attributes":{"serverName":"Renamed in portal","serverType":"MDM"}}]"#,
            "servers",
        )
        .unwrap()
    }

    #[test]
    fn differences_are_named() {
        let store = [
            StoreServer::new("Main MDM", None),
            StoreServer::new("lab macs", None),
            StoreServer::new("Student iPads", None),
            StoreServer::new("Staff", Some("P5")),
        ];
        let report = compare(&store, &portal());
        assert_eq!(report.missing_in_portal, ["Student iPads"]);
        assert_eq!(report.unknown_to_store.len(), 1);
        assert_eq!(report.unknown_to_store[0].id, "P3");
        let renamed: Vec<_> = report
            .names_differ
            .iter()
            .map(|d| (d.store_name.as_str(), d.portal_name.as_str()))
            .collect();
        assert_eq!(
            renamed,
            [("Staff", "Renamed in portal"), ("lab macs", "Lab Macs")]
        );
        assert!(!report.agrees());
        assert_eq!(report.differences().len(), 4);
        let agree = compare(&[StoreServer::new("Main MDM", Some("P1"))], &portal()[..1]);
        assert!(agree.agrees());
        assert_eq!(agree.matched, [("Main MDM".to_owned(), "P1".to_owned())]);
    }

    #[test]
    fn the_json_has_the_verdict_and_every_list() {
        let report = compare(
            &[
                StoreServer::new("Main MDM", Some("P1")),
                StoreServer::new("Gone", None),
            ],
            &portal()[..2],
        );
        assert_eq!(
            serde_json::to_value(report.to_json()).unwrap(),
            serde_json::json!({
                "agrees": false,
                "missingInPortal": ["Gone"],
                "unknownToStore": [{"id": "P2", "serverName": "Lab Macs", "serverType": "MDM"}],
                "namesDiffer": [],
                "matched": [["Main MDM", "P1"]],
            })
        );
    }
}
