//! `server add|list|install-token|rotate-key|replace-key|discard-staging|remove|events|set-uuid|fetch-account`
//! and `check`: the organization model over the store.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use mdmlink::{
    Portal, ServerKeypair,
    expiry::{ExpiryPolicy, ReplacementReason},
    keypair::{CertificateParams, KeySize, common_name_for},
    name::ServerName,
    organization::{InstallOptions, InstallOutcome, MdmServer, Organization, ServerOptions},
    store::legacy::TokenFile,
};
use serde_json::json;

use crate::{
    Failure, Globals, files,
    keys::{bits_parser, certificate_bytes, format_time},
    now_or,
    state::{self, State},
};

/// `mdmlink server ...`.
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Add a server: check its name, generate its keypair, write the certificate to upload.
    Add(AddArgs),
    /// A table of the servers (name, portal, customer/site, expiry, days left, health).
    List(ListArgs),
    /// Open a token file with the server's key and install it.
    InstallToken(InstallArgs),
    /// Stage a new keypair and write its certificate to upload; the current
    /// key and token keep working until a token for the new certificate is installed.
    RotateKey(RotateArgs),
    /// The same as rotate-key.
    ReplaceKey(RotateArgs),
    /// Abandon a rotation: discard the staged keypair.
    DiscardStaging(NameArg),
    /// Remove a server (and its keys and token) from the store.
    Remove(NameArg),
    /// Record an event that means the server's token must be replaced.
    Events(EventArgs),
    /// Record the server's UUID in Apple's service (`server_uuid`, the
    /// issuer of its Access Management JWTs).
    SetUuid(SetUuidArgs),
    /// Open a session with the device assignment service using the
    /// server's token, fetch the account details and record the server's UUID.
    FetchAccount(FetchAccountArgs),
}

/// `server set-uuid`.
#[derive(Args, Debug)]
pub struct SetUuidArgs {
    /// The server.
    pub name: String,
    /// Its `server_uuid`, as Apple's account details give it.
    pub uuid: String,
}

/// `server fetch-account`.
#[derive(Args, Debug)]
pub struct FetchAccountArgs {
    /// The server.
    pub name: String,
    /// The device assignment service (Apple's by default; a simulator's URL for tests).
    #[arg(long, value_name = "URL", default_value = mdmlink::session::DEFAULT_BASE_URL)]
    pub base_url: String,
}

/// `server add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The server's name, as it will appear in the portal.
    pub name: String,
    /// The portal (required for the store's first server; must match after).
    #[arg(long, value_parser = parse_portal)]
    pub portal: Option<Portal>,
    /// The organization's name, when the store is new.
    #[arg(long, value_name = "NAME")]
    pub org: Option<String>,
    /// For MSPs: the customer this server belongs to.
    #[arg(long, value_name = "C", requires = "site")]
    pub customer: Option<String>,
    /// For MSPs: the customer's site.
    #[arg(long, value_name = "S", requires = "customer")]
    pub site: Option<String>,
    /// The server may release devices from the organization.
    #[arg(long)]
    pub release_devices: bool,
    /// RSA modulus size.
    #[arg(long, default_value_t = 2048, value_parser = bits_parser())]
    pub bits: u32,
    /// Where to write the certificate to upload (default: NAME.pem here).
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// Write the certificate as DER.
    #[arg(long)]
    pub der: bool,
    /// Add the server at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `server list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Evaluate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Warn this many days before expiry.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warn_days: u32,
}

/// `server install-token`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The server.
    pub name: String,
    /// The token file the portal served (`*_smime.p7m`).
    pub file: PathBuf,
    /// Accept a token whose consumer key differs from the installed one.
    #[arg(long)]
    pub force: bool,
    /// The portal user (Managed Apple Account) who downloaded the token.
    #[arg(long, value_name = "USER")]
    pub downloaded_by: Option<String>,
    /// Install at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `server rotate-key` / `replace-key`.
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The server.
    pub name: String,
    /// RSA modulus size.
    #[arg(long, default_value_t = 2048, value_parser = bits_parser())]
    pub bits: u32,
    /// Where to write the new certificate to upload (default: NAME-new.pem here).
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// Write the certificate as DER.
    #[arg(long)]
    pub der: bool,
    /// Stage at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// A server name.
#[derive(Args, Debug)]
pub struct NameArg {
    /// The server.
    pub name: String,
}

/// What happened.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Event {
    /// The portal user who downloaded the token changed their password.
    PasswordChanged,
    /// The portal user who downloaded the token left the organization.
    UserLeft,
    /// A new token was generated for the server in the portal.
    NewToken,
}

/// `server events`.
#[derive(Args, Debug)]
pub struct EventArgs {
    /// The server.
    pub name: String,
    /// The event.
    pub event: Event,
    /// When it happened (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

/// `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Evaluate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Warn this many days before expiry.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warn_days: u32,
}

fn parse_portal(s: &str) -> Result<Portal, String> {
    s.parse::<Portal>().map_err(|e| e.to_string())
}

pub fn run(g: &Globals, c: &ServerCommand) -> Result<u8, Failure> {
    match c {
        ServerCommand::Add(a) => add(g, a),
        ServerCommand::List(a) => list(g, a),
        ServerCommand::InstallToken(a) => install_token(g, a),
        ServerCommand::RotateKey(a) | ServerCommand::ReplaceKey(a) => rotate_key(g, a),
        ServerCommand::DiscardStaging(a) => discard_staging(g, a),
        ServerCommand::Remove(a) => remove(g, a),
        ServerCommand::Events(a) => events(g, a),
        ServerCommand::SetUuid(a) => set_uuid(g, a),
        ServerCommand::FetchAccount(a) => fetch_account(g, a),
    }
}

fn generate(name: &str, bits: u32, now: time::OffsetDateTime) -> Result<ServerKeypair, Failure> {
    let size = KeySize::from_bits(bits).map_err(|e| Failure::new(format!("--bits: {e}")))?;
    ServerKeypair::generate(
        &mut mdmlink::SystemRng::default(),
        size,
        &CertificateParams::new(common_name_for(name), now),
    )
    .map_err(|e| Failure::new(format!("key generation failed: {e}")))
}

fn default_cert_path(name: &ServerName, suffix: &str, der: bool) -> PathBuf {
    let ext = if der { "cer" } else { "pem" };
    PathBuf::from(format!(
        "{}{suffix}.{ext}",
        files::safe_file_stem(name.as_str())
    ))
}

fn org_err(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::file(path, e)
}

pub fn add(g: &Globals, a: &AddArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref())?;
    let name = ServerName::parse(&a.name).map_err(|e| Failure::new(e.to_string()))?;
    // Refuse a taken name before spending time on key generation; the
    // transaction below checks again.
    if let (Some(s), path) = state::read(g)?
        && let Err(e) = s.org.check_name(&a.name)
    {
        return Err(org_err(&path, e));
    }
    let keypair = generate(name.as_str(), a.bits, now)?;
    let cert = certificate_bytes(&keypair, a.der).map_err(Failure::new)?;
    let serial = keypair
        .certificate()
        .map(|c| c.serial_hex())
        .unwrap_or_default();
    let cert_out = a
        .cert_out
        .clone()
        .unwrap_or_else(|| default_cert_path(&name, "", a.der));
    let portal = state::update(g, |st, path| {
        if st.is_none() {
            let portal = a.portal.ok_or_else(|| {
                Failure::file(path, "the store is new: pass --portal business-manager|school-manager|business-essentials")
            })?;
            let org_name = a.org.clone().unwrap_or_else(|| "My organization".into());
            *st = Some(State::new(Organization::new(org_name, portal)));
        }
        let st = state::require(st, path)?;
        if let Some(p) = a.portal
            && p != st.org.portal()
        {
            return Err(Failure::file(
                path,
                format!(
                    "this store's organization uses {}, not {}",
                    st.org.portal(),
                    p
                ),
            ));
        }
        let options = ServerOptions {
            release_devices: a.release_devices,
            customer: a.customer.clone(),
            site: a.site.clone(),
        };
        st.org
            .add_server(&a.name, keypair, options, now)
            .map_err(|e| org_err(path, e))?;
        files::write(&cert_out, &cert, files::PUBLIC, false)?;
        Ok(st.org.portal())
    })?;
    println!("added \"{name}\" ({portal})");
    println!(
        "wrote {} (certificate to upload, serial {serial})",
        cert_out.display()
    );
    println!(
        "next: in {}, {}: upload it, then Download Token and run `mdmlink server install-token \"{name}\" FILE`",
        portal.product_name(),
        portal.settings_path()
    );
    Ok(0)
}

/// One row of `server list`.
fn row_json(
    s: &MdmServer,
    portal: Portal,
    policy: &ExpiryPolicy,
    now: time::OffsetDateTime,
) -> serde_json::Value {
    let status = s.status(policy, now);
    let token = s.token();
    json!({
        "name": s.name().as_str(),
        "portal": portal.slug(),
        "customer": s.options().customer,
        "site": s.options().site,
        "release_devices": s.options().release_devices,
        "consumer_key": token.map(|t| t.token.consumer_key()),
        "expires": token.map(|t| rfc3339(t.token.access_token_expiry())),
        "days_left": status.token.and_then(|h| h.days_left()),
        "health": status.token.map(|h| h.label()).unwrap_or("no-token"),
        "certificate_serial": s.certificate().map(|c| c.serial_hex()),
        "staging_pending_since": status.staging_pending_since.map(rfc3339),
        "replacement": s.replacement().map(|(r, _)| r),
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn list(g: &Globals, a: &ListArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref())?;
    let (st, _path) = state::read(g)?;
    let policy = ExpiryPolicy::warn_days(a.warn_days);
    let Some(st) = st else {
        if a.json {
            println!("[]");
        } else {
            println!("no servers yet; add one with `mdmlink server add NAME --portal ...`");
        }
        return Ok(0);
    };
    if a.json {
        let rows: Vec<_> = st
            .org
            .servers()
            .map(|s| row_json(s, st.org.portal(), &policy, now))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(0);
    }
    print_table(&st.org, &policy, now);
    Ok(0)
}

/// The servers as a table.
pub fn print_table(org: &Organization, policy: &ExpiryPolicy, now: time::OffsetDateTime) {
    let header = [
        "NAME",
        "PORTAL",
        "CUSTOMER/SITE",
        "EXPIRES",
        "DAYS",
        "HEALTH",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    for s in org.servers() {
        let status = s.status(policy, now);
        let token = s.token();
        let cs = match (&s.options().customer, &s.options().site) {
            (Some(c), Some(site)) => format!("{c}/{site}"),
            (Some(c), None) => c.clone(),
            _ => "-".into(),
        };
        let mut health = match status.token {
            Some(h) => h.label().to_owned(),
            None => "no token".to_owned(),
        };
        if status.staging_pending_since.is_some() {
            health.push_str(" (new key staged)");
        }
        rows.push([
            s.name().to_string(),
            org.portal().slug().to_owned(),
            cs,
            token
                .map(|t| t.token.access_token_expiry().date().to_string())
                .unwrap_or_else(|| "-".into()),
            status
                .token
                .and_then(|h| h.days_left())
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            health,
        ]);
    }
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&header.map(String::from));
    for r in &rows {
        line(r);
    }
}

pub fn install_token(g: &Globals, a: &InstallArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref())?;
    let data = files::read(&a.file)?;
    // Apple names the file `<server>_Token_<time>_smime.p7m`: a name that
    // points at another server gets a warning, not a refusal.
    let file_name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (report, name, expiry) = state::update(g, |st, path| {
        let st = state::require(st, path)?;
        let report = st
            .org
            .install_token_file(
                &a.name,
                &file_name,
                &data,
                InstallOptions {
                    downloaded_by: a.downloaded_by.clone(),
                    force: a.force,
                },
                now,
            )
            .map_err(|e| Failure::file(&a.file, e))?;
        let server = st
            .org
            .server(&a.name)
            .ok_or_else(|| Failure::file(path, format!("no server named \"{}\"", a.name)))?;
        let installed = server
            .token()
            .ok_or_else(|| Failure::file(path, "the token was not installed"))?;
        let name = server.name().to_string();
        let expiry = installed.token.access_token_expiry();
        st.files.insert(
            name.clone(),
            TokenFile {
                data: data.clone(),
                installed_at: now,
                downloaded_by: installed.downloaded_by.clone(),
                certificate_serial: installed.certificate_serial.clone(),
            },
        );
        Ok((report, name, expiry))
    })?;
    for warning in &report.warnings {
        eprintln!("warning: {}: {warning}", a.file.display());
    }
    let what = match report.outcome {
        InstallOutcome::First => "installed the first token",
        InstallOutcome::Renewed => "renewed the token",
        InstallOutcome::KeyPromoted => {
            "installed the token for the new key; the new key is now current and the old one is retired"
        }
        _ => "installed the token",
    };
    println!("\"{name}\": {what} (expires {})", format_time(expiry));
    Ok(0)
}

pub fn rotate_key(g: &Globals, a: &RotateArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref())?;
    let (st, path) = state::read(g)?;
    let name = st
        .as_ref()
        .and_then(|s| s.org.server(&a.name))
        .map(|s| s.name().clone())
        .ok_or_else(|| Failure::file(&path, format!("no server named \"{}\"", a.name)))?;
    let keypair = generate(name.as_str(), a.bits, now)?;
    let cert = certificate_bytes(&keypair, a.der).map_err(Failure::new)?;
    let serial = keypair
        .certificate()
        .map(|c| c.serial_hex())
        .unwrap_or_default();
    let cert_out = a
        .cert_out
        .clone()
        .unwrap_or_else(|| default_cert_path(&name, "-new", a.der));
    let portal = state::update(g, |st, path| {
        let st = state::require(st, path)?;
        st.org
            .stage_keypair(&a.name, keypair, now)
            .map_err(|e| org_err(path, e))?;
        files::write(&cert_out, &cert, files::PUBLIC, false)?;
        Ok(st.org.portal())
    })?;
    println!("\"{name}\": staged a new keypair; the current key and token keep working");
    println!(
        "wrote {} (new certificate to upload, serial {serial})",
        cert_out.display()
    );
    println!(
        "next: in {}, edit the server, upload it, Download Token, and run `mdmlink server install-token \"{name}\" FILE`",
        portal.product_name()
    );
    Ok(0)
}

pub fn discard_staging(g: &Globals, a: &NameArg) -> Result<u8, Failure> {
    let serial = state::update(g, |st, path| {
        let st = state::require(st, path)?;
        let staged = st
            .org
            .discard_staged(&a.name)
            .map_err(|e| org_err(path, e))?;
        Ok(staged
            .keypair
            .certificate()
            .map(|c| c.serial_hex())
            .unwrap_or_default())
    })?;
    println!(
        "\"{}\": discarded the staged keypair (certificate serial {serial}); the current key stays",
        a.name
    );
    Ok(0)
}

pub fn remove(g: &Globals, a: &NameArg) -> Result<u8, Failure> {
    let name = state::update(g, |st, path| {
        let st = state::require(st, path)?;
        let server = st
            .org
            .remove_server(&a.name)
            .map_err(|e| org_err(path, e))?;
        let name = server.name().to_string();
        st.files.remove(&name);
        Ok(name)
    })?;
    println!("removed \"{name}\" (its keys and token are deleted from the store)");
    Ok(0)
}

pub fn events(g: &Globals, a: &EventArgs) -> Result<u8, Failure> {
    let at = now_or(a.at.as_deref())?;
    let reason = match a.event {
        Event::PasswordChanged => ReplacementReason::DownloaderPasswordChanged,
        Event::UserLeft => ReplacementReason::DownloaderLeftOrganization,
        Event::NewToken => ReplacementReason::NewTokenGenerated,
    };
    state::update(g, |st, path| {
        let st = state::require(st, path)?;
        st.org
            .record_event(&a.name, reason, at)
            .map_err(|e| org_err(path, e))
    })?;
    println!(
        "\"{}\": recorded: {reason}; its token must be replaced",
        a.name
    );
    Ok(0)
}

pub fn set_uuid(g: &Globals, a: &SetUuidArgs) -> Result<u8, Failure> {
    state::update(g, |st, path| {
        let st = state::require(st, path)?;
        st.org
            .set_server_uuid(&a.name, &a.uuid)
            .map_err(|e| org_err(path, e))
    })?;
    println!("\"{}\": server UUID {}", a.name, a.uuid.trim());
    Ok(0)
}

pub fn fetch_account(g: &Globals, a: &FetchAccountArgs) -> Result<u8, Failure> {
    use mdmlink::session::{self, client::Client};
    let (st, path) = state::read(g)?;
    let token = st
        .as_ref()
        .and_then(|s| s.org.server(&a.name))
        .ok_or_else(|| Failure::file(&path, format!("no server named \"{}\"", a.name)))?
        .token()
        .map(|t| t.token.clone())
        .ok_or_else(|| {
            Failure::file(
                &path,
                format!(
                    "\"{}\" has no token installed; run `mdmlink server install-token`",
                    a.name
                ),
            )
        })?;
    let nonce = session::new_nonce(&mut mdmlink::SystemRng::default())
        .map_err(|e| Failure::new(e.to_string()))?;
    let http = Client::new();
    let account = http
        .obtain_session(&token, &a.base_url, time::OffsetDateTime::now_utc(), &nonce)
        .and_then(|mut s| http.fetch_account(&mut s))
        .map_err(|e| Failure::new(format!("{}: {e}", a.base_url)))?;
    let uuid = account.server_uuid.clone().ok_or_else(|| {
        Failure::new(format!(
            "{}: the account details carry no server_uuid",
            a.base_url
        ))
    })?;
    state::update(g, |st, path| {
        let st = state::require(st, path)?;
        st.org
            .set_server_uuid(&a.name, &uuid)
            .map_err(|e| org_err(path, e))
    })?;
    println!(
        "\"{}\": Apple knows it as {:?} of {:?}; server UUID {uuid} recorded",
        a.name,
        account.server_name.as_deref().unwrap_or("?"),
        account.org_name.as_deref().unwrap_or("?"),
    );
    Ok(0)
}

pub fn check(g: &Globals, a: &CheckArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref()).map_err(|f| f.with_code(3))?;
    let (st, path) = state::read(g).map_err(|f| f.with_code(3))?;
    let Some(st) = st.filter(|s| s.org.servers().len() > 0) else {
        return Err(Failure::file(&path, "the store has no servers to check").with_code(3));
    };
    let policy = ExpiryPolicy::warn_days(a.warn_days);
    let code = st
        .org
        .statuses(&policy, now)
        .iter()
        .map(|s| s.worst().exit_code())
        .max()
        .unwrap_or(0);
    print_actions(&st.org, &policy, now);
    Ok(code as u8)
}

/// What needs action, most urgent first (or that nothing does).
pub fn print_actions(org: &Organization, policy: &ExpiryPolicy, now: time::OffsetDateTime) {
    let items = org.needs_action(policy, now);
    if items.is_empty() {
        println!(
            "OK: all {} server(s) valid for more than {} days",
            org.servers().len(),
            policy_days(policy)
        );
        return;
    }
    for item in items {
        println!(
            "{}: \"{}\": {}; {}",
            item.health.label().to_uppercase(),
            item.server,
            item.health,
            item.advice
        );
    }
}

fn policy_days(policy: &ExpiryPolicy) -> i64 {
    policy.warning_window.whole_days()
}
