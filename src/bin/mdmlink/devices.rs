//! `devices sync|list` and `profile define|assign`: the device assignment
//! service for a server in the store.
//!
//! The cursor and the devices (with tombstones for deleted ones) are kept in
//! the store, SQLite or PostgreSQL, through the library's `Registry`
//! (`sync_devices`, `devices`); each page is stored with its cursor in one
//! transaction.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mdmlink::{
    ServerToken,
    dep::{
        ProfileDefinition,
        client::DepClient,
        syncer::{Restart, SyncError},
    },
    store::registry::{DevicePageOutcome, DeviceSyncOptions},
};

use crate::{Failure, Globals, state};

/// `mdmlink devices ...`.
#[derive(Subcommand, Debug)]
pub enum DevicesCommand {
    /// Fetch (first time) or sync (after) the devices assigned to a server,
    /// and print what changed.
    Sync(SyncArgs),
    /// The devices stored for a server (deleted ones left out).
    List(ListArgs),
}

/// `mdmlink profile ...`.
#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Define an enrollment profile from a JSON file; prints its UUID.
    Define(DefineArgs),
    /// Assign a profile to serial numbers; prints each serial's status.
    Assign(AssignArgs),
}

/// `devices sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The server.
    pub name: String,
    /// Fetch every device again, ignoring the saved cursor; devices the
    /// service no longer lists are marked deleted.
    #[arg(long)]
    pub full: bool,
    /// Print the serial number of every device added, modified or deleted
    /// (by default only the counts).
    #[arg(long, short)]
    pub verbose: bool,
    /// The device assignment service (Apple's by default; a simulator's URL for tests).
    #[arg(long, value_name = "URL", default_value = mdmlink::session::DEFAULT_BASE_URL)]
    pub base_url: String,
}

/// `devices list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// The server.
    pub name: String,
    /// Print JSON (one array of device records) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `profile define`.
#[derive(Args, Debug)]
pub struct DefineArgs {
    /// The server.
    pub name: String,
    /// The profile (JSON with at least "profile_name").
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The device assignment service.
    #[arg(long, value_name = "URL", default_value = mdmlink::session::DEFAULT_BASE_URL)]
    pub base_url: String,
}

/// `profile assign`.
#[derive(Args, Debug)]
pub struct AssignArgs {
    /// The server.
    pub name: String,
    /// The profile's UUID (from `profile define`).
    pub uuid: String,
    /// Serial numbers.
    pub serials: Vec<String>,
    /// A file with more serial numbers, one per line.
    #[arg(long, value_name = "FILE")]
    pub serials_file: Option<PathBuf>,
    /// The device assignment service.
    #[arg(long, value_name = "URL", default_value = mdmlink::session::DEFAULT_BASE_URL)]
    pub base_url: String,
}

fn token_of(st: &mut state::Opened, g: &Globals, name: &str) -> Result<ServerToken, Failure> {
    st.registry
        .token(g.org(), name)
        .map_err(|e| st.fail(e))?
        .ok_or_else(|| {
            Failure::file(
                &st.path,
                format!("\"{name}\" has no token installed; run `mdmlink server install-token`"),
            )
        })
}

fn client(g: &Globals, name: &str, base_url: &str) -> Result<DepClient, Failure> {
    let mut st = state::open_present(g)?;
    DepClient::new(token_of(&mut st, g, name)?, base_url)
        .map_err(|e| Failure::new(format!("{base_url}: {e}")))
}

/// `mdmlink devices ...`.
pub fn run(g: &Globals, c: &DevicesCommand) -> Result<u8, Failure> {
    match c {
        DevicesCommand::Sync(a) => sync(g, a),
        DevicesCommand::List(a) => list(g, a),
    }
}

/// `mdmlink profile ...`.
pub fn run_profile(g: &Globals, c: &ProfileCommand) -> Result<u8, Failure> {
    match c {
        ProfileCommand::Define(a) => define(g, a),
        ProfileCommand::Assign(a) => assign(g, a),
    }
}

fn print_page(outcome: &DevicePageOutcome, a: &SyncArgs) {
    if let Some(why) = outcome.restart {
        let why = match why {
            Restart::NoCursor if a.full => "--full",
            other => other.describe(),
        };
        println!("fetching every device ({why})");
    }
    if a.verbose {
        for (what, serials) in [
            ("added", &outcome.added),
            ("modified", &outcome.modified),
            ("deleted", &outcome.deleted),
        ] {
            for s in serials {
                println!("{what} {}", crate::label(s));
            }
        }
    }
}

fn sync(g: &Globals, a: &SyncArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let client = DepClient::new(token_of(&mut st, g, &a.name)?, &a.base_url)
        .map_err(|e| Failure::new(format!("{}: {e}", a.base_url)))?;
    let options = DeviceSyncOptions::default().full(a.full);
    let result = st.registry.sync_devices(
        g.org(),
        &a.name,
        &client,
        &options,
        time::OffsetDateTime::now_utc,
        |outcome| print_page(outcome, a),
    );
    match result {
        Ok(r) => {
            println!(
                "\"{}\": {} fetched; {} added, {} modified, {} deleted, {} unchanged",
                crate::label(&a.name),
                r.fetched,
                r.added,
                r.modified,
                r.deleted,
                r.unchanged
            );
            Ok(0)
        }
        Err(SyncError::Rejected(e)) => Err(st.fail(e)),
        Err(e) => Err(Failure::new(format!(
            "{}: {e}; the pages stored so far are kept, the next sync goes on from there",
            a.base_url
        ))),
    }
}

fn list(g: &Globals, a: &ListArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let devices: Vec<_> = st
        .registry
        .devices(g.org(), &a.name)
        .map_err(|e| st.fail(e))?
        .into_iter()
        .filter(|d| !d.deleted)
        .map(|d| d.device)
        .collect();
    if a.json {
        let text =
            serde_json::to_string_pretty(&devices).map_err(|e| Failure::new(e.to_string()))?;
        println!("{text}");
        return Ok(0);
    }
    println!(
        "{:<14} {:<10} {:<9} {:<10} MODEL",
        "SERIAL", "FAMILY", "OS", "PROFILE"
    );
    for d in &devices {
        let s = |v: &Option<String>| crate::label(v.as_deref().unwrap_or("-"));
        println!(
            "{:<14} {:<10} {:<9} {:<10} {}",
            crate::label(&d.serial_number),
            s(&d.device_family),
            s(&d.os),
            s(&d.profile_status),
            s(&d.model)
        );
    }
    println!("{} devices", devices.len());
    Ok(0)
}

fn define(g: &Globals, a: &DefineArgs) -> Result<u8, Failure> {
    let bytes = crate::files::read(&a.file, crate::files::Kind::Profile)?;
    let profile = ProfileDefinition::from_json(&bytes).map_err(|e| Failure::file(&a.file, e))?;
    let defined = client(g, &a.name, &a.base_url)?
        .define_profile(&profile)
        .map_err(|e| Failure::new(format!("{}: {e}", a.base_url)))?;
    println!("{}", defined.profile_uuid);
    for (serial, status) in &defined.devices {
        println!("{serial} {status}");
    }
    Ok(0)
}

fn assign(g: &Globals, a: &AssignArgs) -> Result<u8, Failure> {
    let mut serials = Vec::new();
    for (i, s) in a.serials.iter().enumerate() {
        let s = s.trim();
        check_serial(s).map_err(|why| Failure::new(format!("serial argument {}: {why}", i + 1)))?;
        serials.push(s.to_owned());
    }
    if let Some(file) = &a.serials_file {
        serials.extend(read_serials(file)?);
    }
    if serials.is_empty() {
        return Err(Failure::new(
            "give serial numbers (arguments or --serials-file FILE)",
        ));
    }
    let result = client(g, &a.name, &a.base_url)?
        .assign_profile(&a.uuid, &serials)
        .map_err(|e| Failure::new(format!("{}: {e}", a.base_url)))?;
    for serial in &serials {
        let status = result.devices.get(serial).map_or("MISSING", |s| s.as_str());
        println!("{serial} {status}");
    }
    let failed = result.devices.values().filter(|s| !s.is_success()).count();
    if failed > 0 {
        let throttled = result.throttled().count();
        eprintln!(
            "mdmlink: {failed} of {} serials were not assigned{}",
            serials.len(),
            if throttled > 0 {
                format!(" ({throttled} THROTTLED: retry them later)")
            } else {
                String::new()
            }
        );
        return Ok(1);
    }
    Ok(0)
}

/// Why `s` is not a serial number, showing it with every character that is
/// not printable ASCII escaped (a fullwidth letter, an invisible mark).
pub(crate) fn check_serial(s: &str) -> Result<(), String> {
    use mdmlink::dep::request::MAX_SERIAL_LEN;
    if !s.is_empty() && s.len() <= MAX_SERIAL_LEN && s.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    let shown: String = s.chars().take(80).flat_map(char::escape_default).collect();
    Err(format!(
        "\"{shown}\" is not a serial number (1 to {MAX_SERIAL_LEN} printable ASCII characters)"
    ))
}

/// Serial numbers from `file`, one per line (a regular file of bounded
/// size; a UTF-8 byte order mark and blank lines ignored); an error names
/// the file and the line.
pub(crate) fn read_serials(file: &std::path::Path) -> Result<Vec<String>, Failure> {
    let bytes = crate::files::read(file, crate::files::Kind::Serials)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Failure::file(file, format!("line {line}: not UTF-8 text"))
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let mut serials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        check_serial(line).map_err(|why| Failure::file(file, format!("line {}: {why}", i + 1)))?;
        serials.push(line.to_owned());
    }
    Ok(serials)
}
