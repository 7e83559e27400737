//! `api add|list|remove`: an organization's School and Business Manager API
//! account (client ID, key ID, P-256 key), kept in the store with its key
//! sealed under the master key. One registry call each. The commands that
//! talk to Apple with it (`api servers|devices|assign|unassign|reconcile`)
//! are in `portal.rs`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mdmlink::portal_api::ApiAccount;

use crate::{Failure, Globals, files, label, now_or, portal, state};

/// `mdmlink api ...`.
#[derive(Subcommand, Debug)]
pub enum ApiCommand {
    /// Keep the organization's API account: its client ID and key ID, and
    /// the private key file the portal let you download (PEM, PKCS#8 or SEC1).
    Add(ApiAddArgs),
    /// The API accounts: organization, client ID, key ID, scope (never a key).
    List(ApiListArgs),
    /// Remove the organization's API account (its key is deleted from the store).
    Remove,
    /// The portal's device management services (MDM servers): id, type,
    /// dates and name, as Apple gives them.
    Servers(portal::ServersArgs),
    /// The organization's devices, or those assigned to one server, read
    /// page by page.
    Devices(portal::DevicesArgs),
    /// Assign devices to a server and wait for the activity; exit 0 when
    /// it completed for every device, 1 otherwise.
    Assign(portal::ActivityArgs),
    /// Unassign devices from a server and wait for the activity; exit 0
    /// when it completed for every device, 1 otherwise.
    Unassign(portal::ActivityArgs),
    /// Compare the store's servers with the portal's; exit 0 when they
    /// agree, 1 otherwise, naming each difference.
    Reconcile(portal::ReconcileArgs),
}

/// `api add`.
#[derive(Args, Debug)]
pub struct ApiAddArgs {
    /// The client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`), from the API
    /// account's page in the portal.
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// The key ID, from the same page.
    #[arg(long, value_name = "KID")]
    pub key_id: String,
    /// The private key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The environment variable holding the password of an encrypted key
    /// file (`ENCRYPTED PRIVATE KEY`).
    #[arg(long, value_name = "VAR")]
    pub key_password_env: Option<String>,
    /// Replace the account the organization already has.
    #[arg(long)]
    pub replace: bool,
}

/// `api list`.
#[derive(Args, Debug)]
pub struct ApiListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Globals, c: &ApiCommand) -> Result<u8, Failure> {
    match c {
        ApiCommand::Servers(a) => return portal::servers(g, a),
        ApiCommand::Devices(a) => return portal::devices(g, a),
        ApiCommand::Assign(a) => return portal::activity(g, a, true),
        ApiCommand::Unassign(a) => return portal::activity(g, a, false),
        ApiCommand::Reconcile(a) => return portal::reconcile(g, a),
        ApiCommand::Add(a) => {
            let pem = zeroize::Zeroizing::new(files::read(&a.key, files::Kind::Key)?);
            let password = match &a.key_password_env {
                Some(var) => Some(
                    std::env::var(var)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(mdmlink::SecretString::new)
                        .ok_or_else(|| {
                            Failure::new(format!(
                                "environment variable {var} (--key-password-env) is not set, empty or not UTF-8"
                            ))
                        })?,
                ),
                None => None,
            };
            let account = ApiAccount::from_pem(
                &a.client_id,
                &a.key_id,
                &pem,
                password.as_ref().map(|p| p.expose().as_bytes()),
            )
            .map_err(|e| Failure::file(&a.key, e))?;
            let now = now_or(None, "--now")?;
            let mut st = state::open_present(g)?;
            let added = st
                .registry
                .set_api_account(g.org(), &account, a.replace, now)
                .map_err(|e| st.fail(e))?;
            println!(
                "{} the API account of organization \"{}\" (client ID {}, key ID {}, scope {})",
                if a.replace { "set" } else { "added" },
                label(&added.organization),
                label(&added.client_id),
                label(&added.key_id),
                added.scope
            );
        }
        ApiCommand::List(a) => {
            let Some(mut st) = state::open_existing(g)? else {
                if a.json {
                    println!("[]");
                } else {
                    println!("no API accounts yet; add one with `mdmlink api add`");
                }
                return Ok(0);
            };
            let mut accounts = st.registry.api_accounts().map_err(|e| st.fail(e))?;
            if let Some(org) = g.org() {
                // The organization must exist; its name is matched as stored.
                let org = st
                    .registry
                    .organization(Some(org))
                    .map_err(|e| st.fail(e))?;
                accounts.retain(|l| l.organization == org.name);
            }
            if a.json {
                let json =
                    serde_json::to_string(&accounts).map_err(|e| Failure::new(e.to_string()))?;
                println!("{json}");
                return Ok(0);
            }
            if accounts.is_empty() {
                println!("no API accounts yet; add one with `mdmlink api add`");
            }
            for l in &accounts {
                println!(
                    "{}  {}  {}  {}  added {}",
                    label(&l.organization),
                    label(&l.client_id),
                    label(&l.key_id),
                    l.scope,
                    mdmlink::store::columns::time_to_text(l.created_at)
                );
            }
        }
        ApiCommand::Remove => {
            let mut st = state::open_present(g)?;
            let removed = st
                .registry
                .remove_api_account(g.org())
                .map_err(|e| st.fail(e))?;
            println!(
                "removed the API account of organization \"{}\" (client ID {}; its key is deleted from the store)",
                label(&removed.organization),
                label(&removed.client_id)
            );
        }
    }
    Ok(0)
}
