//! `org add|list|remove` and `store keygen|rekey`.

use clap::{Args, Subcommand};
use mdmlink::{
    Portal,
    store::master_key::{MasterKey, MasterKeySource},
};

use crate::{Failure, Globals, files, label, now_or, state};

/// `mdmlink org ...`.
#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Add an organization: one Apple Business Manager, Apple School Manager
    /// or Apple Business Essentials account.
    Add(OrgAddArgs),
    /// The organizations, with their portal, customer and server count.
    List(OrgListArgs),
    /// Remove an organization (with --force, also its servers, keys and tokens).
    Remove(OrgRemoveArgs),
}

/// `org add`.
#[derive(Args, Debug)]
pub struct OrgAddArgs {
    /// Its name (unique in the store, ignoring case).
    pub name: String,
    /// Its portal.
    #[arg(long, value_parser = parse_portal)]
    pub portal: Portal,
    /// For MSPs: the customer it belongs to.
    #[arg(long, value_name = "C")]
    pub customer: Option<String>,
}

/// `org list`.
#[derive(Args, Debug)]
pub struct OrgListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `org remove`.
#[derive(Args, Debug)]
pub struct OrgRemoveArgs {
    /// The organization.
    pub name: String,
    /// Also remove its servers, their keys and tokens.
    #[arg(long)]
    pub force: bool,
}

/// `mdmlink store ...`.
#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Print a new random master key (64 hex digits) for MDMLINK_MASTER_KEY
    /// or a key file (write it with --out).
    Keygen(KeygenArgs),
    /// Re-encrypt every secret under a new master key (the current one from
    /// the usual options; the new one from --new-key-file, the variable
    /// MDMLINK_NEW_MASTER_KEY, or the passphrase in --new-passphrase-env VAR),
    /// or store them unencrypted with --decrypt.
    Rekey(RekeyArgs),
    /// Copy everything (organizations, servers, keys, tokens, device state)
    /// into a new, empty store: for example from a SQLite file into the
    /// PostgreSQL database several instances share. Secrets are re-sealed for
    /// the target under the same master key (the usual options).
    Copy(CopyArgs),
    /// Bring a store written by an older mdmlink up to date (commands that
    /// only read refuse to change it).
    Upgrade,
}

/// `store copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The store to read: sqlite:PATH, a path, or postgres://...
    #[arg(long, value_name = "STORE")]
    pub from: std::ffi::OsString,
    /// The empty store to fill: postgres://..., sqlite:PATH or a path.
    #[arg(long, value_name = "STORE")]
    pub to: std::ffi::OsString,
}

/// `store keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the key (hex) to this file, mode 0600, instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// `store rekey`.
#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The new master key's file.
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<std::path::PathBuf>,
    /// The environment variable holding the new passphrase.
    #[arg(long, value_name = "VAR")]
    pub new_passphrase_env: Option<String>,
    /// Store the secrets unencrypted (protected only by the file's mode).
    #[arg(long, conflicts_with_all = ["new_key_file", "new_passphrase_env"])]
    pub decrypt: bool,
}

fn parse_portal(s: &str) -> Result<Portal, String> {
    s.parse::<Portal>().map_err(|e| e.to_string())
}

pub fn run(g: &Globals, c: &OrgCommand) -> Result<u8, Failure> {
    let mut st = match c {
        // Listing creates nothing: no store, no organizations.
        OrgCommand::List(a) => match state::open_existing(g)? {
            Some(st) => st,
            None => {
                if a.json {
                    println!("[]");
                } else {
                    println!(
                        "no organizations yet; add one with `mdmlink org add NAME --portal ...`"
                    );
                }
                return Ok(0);
            }
        },
        OrgCommand::Add(_) => state::open(g)?,
        OrgCommand::Remove(_) => state::open_present(g)?,
    };
    match c {
        OrgCommand::Add(a) => {
            let now = now_or(None, "--now")?;
            let org = st
                .registry
                .add_organization(&a.name, a.portal, a.customer.as_deref(), now)
                .map_err(|e| st.fail(e))?;
            println!("added organization \"{}\" ({})", org.name, org.portal);
        }
        OrgCommand::List(a) => {
            let orgs = st
                .registry
                .organization_listings()
                .map_err(|e| st.fail(e))?;
            if a.json {
                let json = serde_json::to_string(&orgs).map_err(|e| Failure::new(e.to_string()))?;
                println!("{json}");
                return Ok(0);
            }
            if orgs.is_empty() {
                println!("no organizations yet; add one with `mdmlink org add NAME --portal ...`");
            }
            for o in &orgs {
                println!(
                    "{}  {}  {}  {} server(s)",
                    label(&o.name),
                    o.portal.slug(),
                    o.customer
                        .as_deref()
                        .map(label)
                        .unwrap_or_else(|| "-".into()),
                    o.servers
                );
            }
        }
        OrgCommand::Remove(a) => {
            let (name, n) = st
                .registry
                .remove_organization(&a.name, a.force)
                .map_err(|e| st.fail(e))?;
            println!(
                "removed organization \"{}\" and {n} server(s) (their keys and tokens are deleted)",
                label(&name)
            );
        }
    }
    Ok(0)
}

pub fn store(g: &Globals, c: &StoreCommand) -> Result<u8, Failure> {
    match c {
        StoreCommand::Copy(a) => {
            let parse = |flag: &str, s: &std::ffi::OsStr| {
                mdmlink::store::StoreLocation::parse(s)
                    .map_err(|e| Failure::new(format!("{flag}: {e}")))
            };
            let from_location = parse("--from", &a.from)?;
            let to_location = parse("--to", &a.to)?;
            let source = g.master_key_source()?;
            // The source must exist: a typo is an error, never a new empty store.
            let (mut from, from_name) =
                state::open_store(&from_location, mdmlink::store::OpenMode::ReadOnly)?.ok_or_else(
                    || {
                        let shown = match &from_location {
                            mdmlink::store::StoreLocation::Sqlite(p) => p.display().to_string(),
                            _ => "the database".into(),
                        };
                        Failure::new(format!(
                            "--from: no store at {}; nothing was copied",
                            files::escape_label(&shown)
                        ))
                    },
                )?;
            let to_existed = match &to_location {
                mdmlink::store::StoreLocation::Sqlite(p) => std::fs::symlink_metadata(p).is_ok(),
                _ => true,
            };
            let (mut to, to_name) =
                state::open_store(&to_location, mdmlink::store::OpenMode::ReadWrite)?
                    .ok_or_else(|| Failure::new("--to: the store could not be opened"))?;
            let report = mdmlink::store::copy::copy(&mut from, &mut to, source.as_ref());
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    // A target this command created and could not fill goes.
                    drop(to);
                    if let (false, mdmlink::store::StoreLocation::Sqlite(p)) =
                        (to_existed, &to_location)
                    {
                        remove_sqlite_files(p);
                    }
                    return Err(Failure::new(e.to_string()));
                }
            };
            println!(
                "copied {} organization(s), {} server(s), {} API account(s) and {} secret(s) from {} to {}",
                report.organizations,
                report.servers,
                report.api_accounts,
                report.secrets,
                from_name.display(),
                to_name.display()
            );
            Ok(0)
        }
        StoreCommand::Upgrade => {
            let st = state::open_present(g)?;
            println!(
                "{}: the store is up to date",
                files::escape_label(&st.path.display().to_string())
            );
            Ok(0)
        }
        StoreCommand::Keygen(a) => {
            let key = MasterKey::generate().map_err(|e| Failure::new(e.to_string()))?;
            let hex = key.to_hex();
            match &a.out {
                Some(path) => {
                    files::write(path, format!("{}\n", hex.as_str()).as_bytes(), 0o600, false)?;
                    println!("wrote {} (a master key: keep it secret)", path.display());
                }
                None => println!("{}", hex.as_str()),
            }
            Ok(0)
        }
        StoreCommand::Rekey(a) => {
            let new = if a.decrypt {
                None
            } else if let Some(path) = &a.new_key_file {
                Some(state::read_key_file(path)?)
            } else if let Some(var) = &a.new_passphrase_env {
                Some(MasterKeySource::Passphrase(crate::trim_line_end(
                    crate::read_env_secret(var)?,
                )))
            } else if let Ok(text) = std::env::var("MDMLINK_NEW_MASTER_KEY") {
                let text = zeroize::Zeroizing::new(text);
                Some(MasterKeySource::Key(
                    MasterKey::parse(text.as_bytes(), "MDMLINK_NEW_MASTER_KEY")
                        .map_err(|e| Failure::new(e.to_string()))?,
                ))
            } else {
                return Err(Failure::new(
                    "give the new master key: --new-key-file FILE, --new-passphrase-env VAR or MDMLINK_NEW_MASTER_KEY (or --decrypt)",
                )
                .with_code(2));
            };
            let mut st = state::open_present(g)?;
            let encrypted = new.is_some();
            let n = st.registry.rekey(new).map_err(|e| st.fail(e))?;
            println!(
                "{} the secrets of {n} server(s) and the API accounts' keys {}",
                if encrypted {
                    "re-encrypted"
                } else {
                    "decrypted"
                },
                if encrypted {
                    "under the new master key"
                } else {
                    "(now protected only by the file's mode)"
                }
            );
            Ok(0)
        }
    }
}

/// Removes a SQLite store file with its journal files (one this command
/// created).
fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}
