//! The `server` command handlers: read the arguments and files, make one
//! [`Registry`](mdmlink::store::registry::Registry) call, hand the result
//! to [`output`](super::output).

use std::path::PathBuf;

use mdmlink::{
    ServerKeypair,
    expiry::ReplacementReason,
    keypair::KeySize,
    name::ServerName,
    organization::{InstallOptions, OrganizationError, ServerOptions},
    store::registry::RegistryError,
};

use super::{args::*, output};
use crate::{
    Failure, Globals, files,
    keys::{certificate_bytes, format_time},
    now_or, state,
};

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
    ServerKeypair::generate_for_server(&mut mdmlink::SystemRng::default(), size, name, now)
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
    if a.via_api {
        return super::via_api::add(g, a);
    }
    let now = now_or(a.now.as_deref(), "--now")?;
    let name = ServerName::parse(&a.name).map_err(|e| Failure::new(e.to_string()))?;
    // Only --portal may create a store (with its organization).
    let mut st = if a.portal.is_some() {
        state::open(g)?
    } else {
        state::open_present(g)?
    };
    // A store without organizations gets one from --portal (and --org):
    // the library's policy.
    let (org, _) = st
        .registry
        .organization_for_new_server(g.org(), &a.name, a.portal, a.customer.as_deref(), now)
        .map_err(|e| st.fail(e))?;
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
    output::warn_unencrypted(&mut st);
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
    let mut st = state::open_present(g)?;
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
    output::warn_unencrypted(&mut st);
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
    let mut st = state::open_present(g)?;
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
            output::print_no_servers();
        }
        return Ok(0);
    };
    st.verify_key(g)?;
    if a.json {
        // Streamed: one server at a time from the store to stdout.
        return output::stream_listings_json(&mut st, g.org(), &policy, now).map(|()| 0);
    }
    let rows = st
        .registry
        .servers(g.org(), &policy, now)
        .map_err(|e| st.fail(e))?;
    output::print_listings(&rows);
    Ok(0)
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
    let mut st = state::open_present(g)?;
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
    let what = output::install_outcome(installed.report.outcome);
    println!(
        "\"{}\": {what} (expires {})",
        installed.server,
        format_time(installed.expires_at)
    );
    Ok(0)
}

pub fn rotate_key(g: &Globals, a: &RotateArgs) -> Result<u8, Failure> {
    if a.via_api {
        return super::via_api::rotate_key(g, a);
    }
    let now = now_or(a.now.as_deref(), "--now")?;
    let mut st = state::open_present(g)?;
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
    let mut st = state::open_present(g)?;
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
    let mut st = state::open_present(g)?;
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
    let mut st = state::open_present(g)?;
    let name = st
        .registry
        .record_event(g.org(), &a.name, reason, at)
        .map_err(|e| st.fail(e))?;
    println!("\"{name}\": recorded: {reason}; its token must be replaced");
    Ok(0)
}

pub fn set_uuid(g: &Globals, a: &SetUuidArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let name = st
        .registry
        .set_server_uuid(g.org(), &a.name, &a.uuid)
        .map_err(|e| st.fail(e))?;
    let uuid = mdmlink::organization::canonical_server_uuid(&a.uuid).unwrap_or_default();
    println!("\"{name}\": server UUID {uuid}");
    Ok(0)
}

pub fn fetch_account(g: &Globals, a: &FetchAccountArgs) -> Result<u8, Failure> {
    use mdmlink::session::{self, client::Client};
    let mut st = state::open_present(g)?;
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
    let report = st
        .registry
        .health_summary(g.org(), &policy, now)
        .map_err(|e| st.fail(e).with_code(3))?;
    if report.servers == 0 {
        return Err(Failure::file(&st.path, "the store has no servers to check").with_code(3));
    }
    let code = report.exit_code();
    output::print_check_report(&report, policy.warning_window().whole_days(), a.json);
    Ok(code as u8)
}
