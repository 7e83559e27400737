//! `server add|import|list|install-token|rotate-key|replace-key|discard-staging|remove|events|set-uuid|fetch-account|export-cert`
//! and `check`: argument parsing, one [`mdmlink::store::registry::Registry`]
//! call, output formatting.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mdmlink::{
    Portal, ServerKeypair,
    expiry::ReplacementReason,
    keypair::{CertificateParams, KeySize, common_name_for},
    name::ServerName,
    organization::{InstallOptions, InstallOutcome, OrganizationError, ServerOptions},
    store::registry::{RegistryError, ServerListing},
};

use crate::{
    Failure, Globals, files,
    keys::{bits_parser, certificate_bytes, format_time},
    now_or, state,
};

/// `mdmlink server ...`.
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Add a server: check its name, generate its keypair, write the certificate to upload.
    Add(AddArgs),
    /// Bring in a server already linked by another MDM product: its key,
    /// and optionally its certificate and current token (no new upload).
    Import(ImportArgs),
    /// Write a server's certificate (current, or the staged one) to a file.
    ExportCert(ExportCertArgs),
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
    /// The portal: for a store without organizations, creates one (named
    /// by --org, or "My organization"); otherwise must match the organization's.
    #[arg(long, value_parser = parse_portal)]
    pub portal: Option<Portal>,
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
    /// Write the certificate as DER (default file NAME.der).
    #[arg(long)]
    pub der: bool,
    /// Replace an existing --cert-out file.
    #[arg(long)]
    pub force: bool,
    /// Add the server at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `server import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The server's name, as in the portal.
    pub name: String,
    /// Its private key: PKCS#1 or PKCS#8, PEM or DER, encrypted (password
    /// from --password-env) or not.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Its current token file (`*_smime.p7m`), which must open with the key.
    #[arg(long, value_name = "FILE")]
    pub token: Option<PathBuf>,
    /// Its certificate (PEM or DER), which must match the key.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Environment variable holding the key file's password.
    #[arg(long, value_name = "VAR")]
    pub key_password_env: Option<String>,
    /// The portal user who downloaded the token, if known.
    #[arg(long, value_name = "USER")]
    pub downloaded_by: Option<String>,
    /// The server may release devices from the organization.
    #[arg(long)]
    pub release_devices: bool,
    /// For MSPs: the customer's site.
    #[arg(long, value_name = "S")]
    pub site: Option<String>,
    /// Import at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `server export-cert`.
#[derive(Args, Debug)]
pub struct ExportCertArgs {
    /// The server.
    pub name: String,
    /// Where to write it.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The staged certificate (during a rotation) instead of the current one.
    #[arg(long)]
    pub staged: bool,
    /// Write DER instead of PEM.
    #[arg(long)]
    pub der: bool,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
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
    /// Write the certificate as DER (default file NAME-new.der).
    #[arg(long)]
    pub der: bool,
    /// Replace a keypair already staged, and an existing --cert-out file.
    #[arg(long)]
    pub force: bool,
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
    /// Print the servers that need action as a JSON array.
    #[arg(long)]
    pub json: bool,
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
        ServerCommand::Import(a) => import(g, a),
        ServerCommand::ExportCert(a) => export_cert(g, a),
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
    // The portals take a public key certificate file ending in .pem or .der.
    let ext = if der { "der" } else { "pem" };
    PathBuf::from(format!(
        "{}{suffix}.{ext}",
        files::safe_file_stem(name.as_str())
    ))
}

pub fn add(g: &Globals, a: &AddArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let name = ServerName::parse(&a.name).map_err(|e| Failure::new(e.to_string()))?;
    let mut st = state::open(g)?;
    // A store without organizations gets one from --portal (and --org).
    let org = match st.registry.check_new_server(g.org(), &a.name) {
        Err(RegistryError::NoOrganization | RegistryError::UnknownOrganization(_))
            if a.portal.is_some() =>
        {
            let portal = a
                .portal
                .ok_or_else(|| st.fail(RegistryError::NoOrganization))?;
            let org_name = g.org().unwrap_or("My organization");
            match st
                .registry
                .add_organization(org_name, portal, a.customer.as_deref(), now)
            {
                // Another process created it meanwhile: use theirs.
                Ok(_)
                | Err(RegistryError::Store(mdmlink::store::StoreError::DuplicateName { .. })) => {}
                Err(e) => return Err(st.fail(e)),
            }
            st.registry
                .check_new_server(Some(org_name), &a.name)
                .map_err(|e| st.fail(e))?
                .0
        }
        other => other.map_err(|e| st.fail(e))?.0,
    };
    if let Some(p) = a.portal
        && p != org.portal
    {
        return Err(Failure::file(
            &st.path,
            format!(
                "organization \"{}\" uses {}, not {}",
                org.name, org.portal, p
            ),
        ));
    }
    // Key generation is slow: it happens outside any transaction.
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
    // Refuse to overwrite before anything is stored.
    if !a.force {
        files::check_absent(&cert_out)?;
    }
    let mut options = ServerOptions::default().with_release_devices(a.release_devices);
    if let Some(c) = &a.customer {
        options = options.with_customer(c.clone());
    }
    if let Some(s) = &a.site {
        options = options.with_site(s.clone());
    }
    let org = st
        .registry
        .add_server(Some(&org.name), &a.name, keypair, options, now)
        .map_err(|e| st.fail(e))?;
    warn_unencrypted(&mut st);
    files::write(&cert_out, &cert, files::PUBLIC, a.force)?;
    let portal = org.portal;
    println!("added \"{name}\" to \"{}\" ({portal})", org.name);
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

fn label(s: &str) -> String {
    files::escape_label(s).into_owned()
}

/// One warning line when secrets go into a store without a master key.
fn warn_unencrypted(st: &mut state::Opened) {
    if let Ok(false) = st.registry.is_encrypted() {
        eprintln!(
            "warning: {}: private keys and tokens are stored unencrypted (protected by the file's mode 0600); set MDMLINK_PASSPHRASE or MDMLINK_MASTER_KEY and run `mdmlink store rekey` to encrypt them",
            st.path.display()
        );
    }
}

pub fn import(g: &Globals, a: &ImportArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let key = zeroize::Zeroizing::new(files::read(&a.key, files::Kind::Key)?);
    let password = a
        .key_password_env
        .as_deref()
        .map(crate::read_env_secret)
        .transpose()?;
    let cert = a
        .cert
        .as_deref()
        .map(|p| files::read(p, files::Kind::Certificate))
        .transpose()?;
    let token = a
        .token
        .as_deref()
        .map(|p| files::read(p, files::Kind::Token))
        .transpose()?;
    let token_name = a
        .token
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut st = state::open(g)?;
    let mut options = ServerOptions::default().with_release_devices(a.release_devices);
    if let Some(s) = &a.site {
        options = options.with_site(s.clone());
    }
    let (org, installed) = st
        .registry
        .import_server(
            g.org(),
            &a.name,
            &key,
            password.as_ref().map(|p| p.expose().as_bytes()),
            cert.as_deref(),
            token.as_deref().map(|t| (token_name.as_str(), t)),
            options,
            a.downloaded_by.clone(),
            now,
        )
        .map_err(|e| st.fail(e))?;
    warn_unencrypted(&mut st);
    println!("imported \"{}\" into \"{}\"", a.name.trim(), org.name);
    if let Some(i) = installed {
        for warning in &i.report.warnings {
            eprintln!("warning: {warning}");
        }
        println!("its token expires {}", format_time(i.expires_at));
    }
    Ok(0)
}

pub fn export_cert(g: &Globals, a: &ExportCertArgs) -> Result<u8, Failure> {
    let mut st = state::open(g)?;
    let pem = st
        .registry
        .certificate_pem(g.org(), &a.name, a.staged)
        .map_err(|e| st.fail(e))?
        .ok_or_else(|| {
            Failure::file(
                &st.path,
                if a.staged {
                    format!("server \"{}\" has no staged keypair", a.name)
                } else {
                    format!("server \"{}\" has no certificate", a.name)
                },
            )
        })?;
    let cert = mdmlink::ServerCertificate::from_pem(pem.as_bytes())
        .map_err(|e| Failure::file(&st.path, e))?;
    let bytes = if a.der {
        cert.to_der().to_vec()
    } else {
        pem.into_bytes()
    };
    files::write(&a.out, &bytes, files::PUBLIC, a.force)?;
    println!("wrote {} (serial {})", a.out.display(), cert.serial_hex());
    Ok(0)
}

pub fn list(g: &Globals, a: &ListArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let policy = crate::keys::policy(a.warn_days)?;
    let Some(mut st) = state::open_existing(g)? else {
        if a.json {
            println!("[]");
        } else {
            println!("no servers yet; add one with `mdmlink server add NAME --portal ...`");
        }
        return Ok(0);
    };
    st.verify_key(g)?;
    let rows = st
        .registry
        .servers(g.org(), &policy, now)
        .map_err(|e| st.fail(e))?;
    if a.json {
        println!(
            "{}",
            serde_json::Value::Array(rows.iter().map(ServerListing::to_json).collect())
        );
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no servers yet; add one with `mdmlink server add NAME --portal ...`");
        return Ok(0);
    }
    print_table(&rows);
    Ok(0)
}

/// The servers as a table.
pub fn print_table(listings: &[ServerListing]) {
    let header = [
        "ORG",
        "NAME",
        "PORTAL",
        "CUSTOMER/SITE",
        "EXPIRES",
        "DAYS",
        "HEALTH",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    for l in listings {
        let s = &l.summary;
        let customer = s.options.customer.clone().or_else(|| l.customer.clone());
        let cs = match (&customer, &s.options.site) {
            (Some(c), Some(site)) => format!("{c}/{site}"),
            (Some(c), None) => c.clone(),
            (None, Some(site)) => format!("-/{site}"),
            _ => "-".into(),
        };
        // The same health `check` reports: the worst of token and certificate.
        let mut health = l.status.worst().label().to_owned();
        if l.status.staging_pending_since.is_some() {
            health.push_str(" (new key staged)");
        }
        rows.push([
            label(&l.organization),
            label(&s.name),
            l.portal.slug().to_owned(),
            label(&cs),
            s.token_expires_at
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| "-".into()),
            l.status
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
            out.push_str(c);
            if i + 1 != cells.len() {
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
    let now = now_or(a.now.as_deref(), "--now")?;
    let data = files::read(&a.file, files::Kind::Token)?;
    // Apple names the file `<server>_Token_<time>_smime.p7m`: a name that
    // points at another server gets a warning, not a refusal.
    let file_name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut st = state::open(g)?;
    let installed = st
        .registry
        .install_token(
            g.org(),
            &a.name,
            &file_name,
            &data,
            {
                let o = InstallOptions::default().with_force(a.force);
                match &a.downloaded_by {
                    Some(user) => o.with_downloaded_by(user.clone()),
                    None => o,
                }
            },
            now,
        )
        .map_err(|e| match e {
            // What is wrong with the token is about the file.
            RegistryError::Organization(e) => Failure::file(&a.file, e),
            e => st.fail(e),
        })?;
    for warning in &installed.report.warnings {
        eprintln!("warning: {}: {warning}", a.file.display());
    }
    let what = match installed.report.outcome {
        InstallOutcome::First => "installed the first token",
        InstallOutcome::Renewed => "renewed the token",
        InstallOutcome::KeyPromoted => {
            "installed the token for the new key; the new key is now current and the old one is retired"
        }
        _ => "installed the token",
    };
    println!(
        "\"{}\": {what} (expires {})",
        installed.server,
        format_time(installed.expires_at)
    );
    Ok(0)
}

pub fn rotate_key(g: &Globals, a: &RotateArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let mut st = state::open(g)?;
    // The server must exist, and have no staged key unless --force, before
    // the (slow) key generation; the transaction checks again.
    let org = st.registry.organization(g.org()).map_err(|e| st.fail(e))?;
    let stored = if a.force {
        st.registry
            .certificate_pem(Some(&org.name), &a.name, false)
            .map(|_| a.name.clone())
    } else {
        st.registry.check_stage(Some(&org.name), &a.name)
    }
    .map_err(|e| with_force_hint(&st, e))?;
    let name = ServerName::parse(&stored).map_err(|e| Failure::new(e.to_string()))?;
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
    if !a.force {
        files::check_absent(&cert_out)?;
    }
    st.registry
        .stage_keypair(Some(&org.name), &a.name, keypair, a.force, now)
        .map_err(|e| with_force_hint(&st, e))?;
    files::write(&cert_out, &cert, files::PUBLIC, a.force)?;
    println!("\"{name}\": staged a new keypair; the current key and token keep working");
    println!(
        "wrote {} (new certificate to upload, serial {serial})",
        cert_out.display()
    );
    println!(
        "next: in {}, edit the server, upload it, Download Token, and run `mdmlink server install-token \"{name}\" FILE`",
        org.portal.product_name()
    );
    Ok(0)
}

/// A refusal to replace a staged keypair names the option that overrides it.
fn with_force_hint(st: &state::Opened, e: RegistryError) -> Failure {
    match e {
        RegistryError::Organization(e @ OrganizationError::AlreadyStaged { .. }) => {
            Failure::file(&st.path, format!("{e} (mdmlink server rotate-key --force)"))
        }
        e => st.fail(e),
    }
}

pub fn discard_staging(g: &Globals, a: &NameArg) -> Result<u8, Failure> {
    let mut st = state::open(g)?;
    let serial = st
        .registry
        .discard_staged(g.org(), &a.name)
        .map_err(|e| st.fail(e))?;
    println!(
        "\"{}\": discarded the staged keypair (certificate serial {}); the current key stays",
        a.name,
        serial.unwrap_or_default()
    );
    Ok(0)
}

pub fn remove(g: &Globals, a: &NameArg) -> Result<u8, Failure> {
    let mut st = state::open(g)?;
    let name = st
        .registry
        .remove_server(g.org(), &a.name)
        .map_err(|e| st.fail(e))?;
    println!("removed \"{name}\" (its keys and token are deleted from the store)");
    Ok(0)
}

pub fn events(g: &Globals, a: &EventArgs) -> Result<u8, Failure> {
    let at = now_or(a.at.as_deref(), "--at")?;
    let reason = match a.event {
        Event::PasswordChanged => ReplacementReason::DownloaderPasswordChanged,
        Event::UserLeft => ReplacementReason::DownloaderLeftOrganization,
        Event::NewToken => ReplacementReason::NewTokenGenerated,
    };
    let mut st = state::open(g)?;
    let name = st
        .registry
        .record_event(g.org(), &a.name, reason, at)
        .map_err(|e| st.fail(e))?;
    println!("\"{name}\": recorded: {reason}; its token must be replaced");
    Ok(0)
}

pub fn set_uuid(g: &Globals, a: &SetUuidArgs) -> Result<u8, Failure> {
    let mut st = state::open(g)?;
    let name = st
        .registry
        .set_server_uuid(g.org(), &a.name, &a.uuid)
        .map_err(|e| st.fail(e))?;
    println!("\"{name}\": server UUID {}", a.uuid.trim());
    Ok(0)
}

pub fn fetch_account(g: &Globals, a: &FetchAccountArgs) -> Result<u8, Failure> {
    use mdmlink::session::{self, client::Client};
    let mut st = state::open(g)?;
    let token = st
        .registry
        .token(g.org(), &a.name)
        .map_err(|e| st.fail(e))?
        .ok_or_else(|| {
            Failure::file(
                &st.path,
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
    st.registry
        .set_server_uuid(g.org(), &a.name, &uuid)
        .map_err(|e| st.fail(e))?;
    println!(
        "\"{}\": Apple knows it as {:?} of {:?}; server UUID {uuid} recorded",
        a.name,
        account.server_name.as_deref().unwrap_or("?"),
        account.org_name.as_deref().unwrap_or("?"),
    );
    Ok(0)
}

pub fn check(g: &Globals, a: &CheckArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now").map_err(|f| f.with_code(3))?;
    let policy = crate::keys::policy(a.warn_days).map_err(|f| f.with_code(3))?;
    let Some(mut st) = state::open_existing(g).map_err(|f| f.with_code(3))? else {
        let path = match g.store_location().map_err(|f| f.with_code(3))? {
            mdmlink::store::StoreLocation::Sqlite(path) => path,
            _ => PathBuf::from("store"),
        };
        return Err(
            Failure::file(&path, "no store here: the store has no servers to check").with_code(3),
        );
    };
    st.verify_key(g).map_err(|f| f.with_code(3))?;
    let (listings, items) = st
        .registry
        .health_report(g.org(), &policy, now)
        .map_err(|e| st.fail(e).with_code(3))?;
    if listings.is_empty() {
        return Err(Failure::file(&st.path, "the store has no servers to check").with_code(3));
    }
    let code = listings
        .iter()
        .map(|l| l.status.worst().exit_code())
        .max()
        .unwrap_or(0);
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
        );
        return Ok(code as u8);
    }
    if items.is_empty() {
        println!(
            "OK: all {} server(s) valid for more than {} days",
            listings.len(),
            policy.warning_window().whole_days()
        );
    }
    let many = listings
        .iter()
        .any(|l| l.organization != listings[0].organization);
    for i in items {
        let org = if many {
            format!("[{}] ", label(&i.organization))
        } else {
            String::new()
        };
        println!(
            "{}: {org}\"{}\": {}; {}",
            i.item.health.label().to_uppercase(),
            label(&i.item.server),
            i.item.health,
            i.item.advice
        );
    }
    Ok(code as u8)
}
