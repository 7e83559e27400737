//! `mdmlink`: link MDM servers to Apple Business Manager, Apple School
//! Manager and Apple Business Essentials from a terminal.
//!
//! Each command is a few lines over the library: `files.rs` reads and writes
//! key, certificate and token files; `state.rs` opens the store-backed
//! `Registry` over the SQLite store; `org.rs` the `org` and `store` commands; `keys.rs` holds `keygen`, `open`,
//! `seal` and `status`; `server.rs` the `server` commands and `check`; `jwt.rs` Access
//! Management JWTs;
//! `devices.rs` the device assignment service (`devices`, `profile`);
//! `api.rs` the School and Business Manager API account (`api`), and
//! `portal.rs` the commands that talk to that API;
//! `demo.rs` the end-to-end demo.
#![deny(unsafe_code)]

/// `println!` that treats a closed pipe as the end of the reader's interest,
/// not as an error: `mdmlink check | head -1` still exits with the health
/// code. Defined before the modules so that theirs is this one.
macro_rules! println {
    () => {
        $crate::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod api;
mod demo;
mod devices;
mod files;
mod jwt;
mod keys;
mod org;
mod portal;
mod server;
mod state;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Link MDM servers to Apple Business Manager, Apple School Manager and
/// Apple Business Essentials: keys, certificates, server tokens, expiry.
#[derive(Parser, Debug)]
#[command(name = "mdmlink", version, about, long_about = None)]
pub struct Cli {
    /// The store: a SQLite file (PATH or sqlite:PATH), or a PostgreSQL
    /// database (postgres://USER:PASSWORD@HOST/DB?sslmode=require) shared by
    /// several instances; default: $XDG_DATA_HOME/mdmlink/store.sqlite or
    /// ~/.local/share/mdmlink/store.sqlite.
    #[arg(
        long,
        global = true,
        env = "MDMLINK_STORE",
        value_name = "PATH|URL",
        hide_env_values = true
    )]
    store: Option<PathBuf>,

    /// Read the password for private keys from this environment variable
    /// (for the store, MDMLINK_PASSPHRASE is read when this is not given).
    #[arg(long, global = true, value_name = "VAR")]
    password_env: Option<String>,

    /// The store's master key: a file of 32 random bytes (raw, hex or
    /// base64); MDMLINK_MASTER_KEY holds the same as text.
    #[arg(long, global = true, value_name = "PATH")]
    master_key_file: Option<PathBuf>,

    /// The organization (portal account) a command applies to; may be
    /// omitted when the store holds one. Filters `server list` and `check`.
    #[arg(long, global = true, value_name = "NAME")]
    org: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a keypair: the private key and the certificate to upload.
    Keygen(keys::KeygenArgs),
    /// Open a server token file and show (or print as JSON) its credentials.
    Open(keys::OpenArgs),
    /// Seal a token JSON to a certificate the way the portal does (tests, demos).
    Seal(keys::SealArgs),
    /// A token's health; exit 0 valid, 1 renew soon, 2 expired, 3 could not tell.
    Status(keys::StatusArgs),
    /// Manage the organizations (portal accounts) in the store.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Manage the servers in the store.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// The store itself: its master key.
    #[command(subcommand)]
    Store(org::StoreCommand),
    /// Every server's health; exit 0 all valid, 1 renew soon, 2 expired or
    /// must replace, 3 could not tell.
    Check(server::CheckArgs),
    /// Sign an Access Management JWT (`com.apple.maid`) with a server's current key.
    Jwt(jwt::JwtArgs),
    /// The devices assigned to a server (fetch/sync, list).
    #[command(subcommand)]
    Devices(devices::DevicesCommand),
    /// Enrollment profiles: define, assign to serial numbers.
    #[command(subcommand)]
    Profile(devices::ProfileCommand),
    /// The organization's School and Business Manager API account.
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// The whole link, end to end, in a temporary store.
    Demo(demo::DemoArgs),
}

/// A failure: the one line printed on stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code (1 for errors; 3 for `status`/`check` when they cannot tell).
    pub code: u8,
    /// The message, naming the file and the problem, never a secret.
    pub message: String,
}

impl Failure {
    /// Exit code 1 with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }

    /// `path: problem`.
    pub fn file(path: &std::path::Path, problem: impl std::fmt::Display) -> Self {
        Self::new(format!("{}: {problem}", path.display()))
    }

    /// The same failure with another exit code.
    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
}

impl From<mdmlink::store::StoreError> for Failure {
    fn from(e: mdmlink::store::StoreError) -> Self {
        // The cause chain too: causes are not repeated in messages.
        let text = mdmlink::error::report(&e);
        match state::hint(&mdmlink::store::registry::RegistryError::Store(e)) {
            Some(hint) => Failure::new(format!("{text} ({hint})")),
            None => Failure::new(text),
        }
    }
}

/// Options shared by every command.
pub struct Globals {
    store: Option<PathBuf>,
    password_env: Option<String>,
    master_key_file: Option<PathBuf>,
    org: Option<String>,
}

/// A name or label as one printable line: control characters escaped, so a
/// stored name cannot rewrite the terminal or forge table rows.
pub fn label(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

impl Globals {
    /// `--org NAME`, if given.
    pub fn org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    /// The store's master key: `--master-key-file`, `MDMLINK_MASTER_KEY`,
    /// or a passphrase (`--password-env VAR`, `MDMLINK_PASSPHRASE`).
    pub fn master_key_source(
        &self,
    ) -> Result<Option<mdmlink::store::master_key::MasterKeySource>, Failure> {
        use mdmlink::store::master_key::{MasterKey, MasterKeySource};
        if let Some(path) = &self.master_key_file {
            return state::read_key_file(path).map(Some);
        }
        if let Ok(text) = std::env::var("MDMLINK_MASTER_KEY")
            && !text.is_empty()
        {
            let text = zeroize::Zeroizing::new(text);
            return MasterKey::parse(text.as_bytes(), "MDMLINK_MASTER_KEY")
                .map(|k| Some(MasterKeySource::Key(k)))
                .map_err(|e| {
                    Failure::new(format!("{e} (generate one with `mdmlink store keygen`)"))
                });
        }
        Ok(self.store_passphrase()?.map(MasterKeySource::Passphrase))
    }

    /// Where the store is: `--store`, `$MDMLINK_STORE`, or the user's data dir.
    pub fn store_location(&self) -> Result<mdmlink::store::StoreLocation, Failure> {
        match &self.store {
            Some(p) => mdmlink::store::StoreLocation::parse(p.as_os_str())
                .map_err(|e| Failure::new(format!("--store (or MDMLINK_STORE): {e}"))),
            None => self
                .default_store_path()
                .map(mdmlink::store::StoreLocation::Sqlite),
        }
    }

    /// The SQLite store's path: `--store`, `$MDMLINK_STORE`, or the user's
    /// data dir. A PostgreSQL URL there is refused: the caller needs a file.
    pub fn store_path(&self) -> Result<PathBuf, Failure> {
        if self.store.is_some() {
            return match self.store_location()? {
                mdmlink::store::StoreLocation::Sqlite(path) => Ok(path),
                _ => Err(Failure::new(
                    "this command needs a SQLite store (--store PATH); the PostgreSQL store does not support it yet",
                )),
            };
        }
        self.default_store_path()
    }

    /// The default store's path: the user's data dir.
    fn default_store_path(&self) -> Result<PathBuf, Failure> {
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })
            .ok_or_else(|| {
                Failure::new(
                    "no store given: pass --store PATH or set MDMLINK_STORE (HOME is not set)",
                )
            })?;
        let dir = base.join("mdmlink");
        files::create_private_dir(&dir)?;
        Ok(dir.join("store.sqlite"))
    }

    /// The password from `--password-env VAR`, if given (an unset VAR is an error).
    pub fn password(&self) -> Result<Option<mdmlink::SecretString>, Failure> {
        match &self.password_env {
            Some(var) => read_env_secret(var).map(Some),
            None => Ok(None),
        }
    }

    /// The store's passphrase: `--password-env VAR`, else
    /// `$MDMLINK_PASSPHRASE`, without trailing line endings (as read from a
    /// file: `MDMLINK_PASSPHRASE=$(cat f)` keeps none, `$(< f)`-less tools
    /// may keep one), as `MDMLINK_MASTER_KEY` is trimmed.
    pub fn store_passphrase(&self) -> Result<Option<mdmlink::SecretString>, Failure> {
        if self.password_env.is_some() {
            return Ok(self.password()?.map(trim_line_end));
        }
        Ok(std::env::var("MDMLINK_PASSPHRASE")
            .ok()
            .filter(|v| !v.is_empty())
            .map(mdmlink::SecretString::new)
            .map(trim_line_end))
    }
}

/// A passphrase without the line endings (`\n`, `\r\n`) that reading it
/// from a file leaves at its end.
pub fn trim_line_end(pass: mdmlink::SecretString) -> mdmlink::SecretString {
    let text = pass.expose();
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.len() == text.len() {
        return pass;
    }
    mdmlink::SecretString::new(trimmed.to_owned())
}

/// Writes one line to stdout. A reader that went away (a closed pipe) is
/// not an error: the rest of the output is dropped and the command ends
/// with its own exit code. Any other write error is (exit 1).
pub fn print_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// The value of environment variable `var`, which must be set and non-empty.
pub fn read_env_secret(var: &str) -> Result<mdmlink::SecretString, Failure> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(mdmlink::SecretString::new(v)),
        Ok(_) => Err(Failure::new(format!(
            "environment variable {var} (--password-env) is empty"
        ))),
        Err(_) => Err(Failure::new(format!(
            "environment variable {var} (--password-env) is not set or not UTF-8"
        ))),
    }
}

/// Parses the time given to `flag` (`--now`, `--at`; RFC 3339) or returns
/// the current time.
pub fn now_or(now: Option<&str>, flag: &str) -> Result<time::OffsetDateTime, Failure> {
    match now {
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                Failure::new(format!(
                    "{flag} {s:?} is not an RFC 3339 time such as 2026-01-17T11:02:21Z ({e})"
                ))
                .with_code(2)
            }),
        None => Ok(time::OffsetDateTime::now_utc()),
    }
}

/// Exit code of `status` and `check` when they cannot tell (monitoring
/// convention: 3 is UNKNOWN).
const CANNOT_TELL: u8 = 3;

/// Whether the command line asks for `status` or `check`, whose every
/// failure (usage, internal, closed output) must be "could not tell" (3).
fn is_monitoring_command(args: &[std::ffi::OsString]) -> bool {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let Some(a) = arg.to_str() else { return false };
        match a {
            // Global options that take a value in the next argument.
            "--store" | "--password-env" | "--master-key-file" | "--org" => {
                rest.next();
            }
            _ if a.starts_with('-') => {}
            _ => return a == "status" || a == "check",
        }
    }
    false
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let monitoring = is_monitoring_command(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ if monitoring => CANNOT_TELL,
                _ => 2,
            };
            return ExitCode::from(code);
        }
    };
    let globals = Globals {
        store: cli.store,
        password_env: cli.password_env,
        master_key_file: cli.master_key_file,
        org: cli.org,
    };
    // `println!` panics when stdout is closed (`mdmlink server list | head -1`);
    // that, or any other panic, becomes a one-line message and exit 1, never
    // a backtrace. The hook prints nothing: the payload may not be fit to show.
    std::panic::set_hook(Box::new(|_| {}));
    let dispatch = std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Keygen(a) => keys::keygen(&globals, &a),
        Command::Open(a) => keys::open(&globals, &a),
        Command::Seal(a) => keys::seal(&globals, &a),
        Command::Status(a) => keys::status(&globals, &a),
        Command::Org(c) => org::run(&globals, &c),
        Command::Server(c) => server::run(&globals, &c),
        Command::Store(c) => org::store(&globals, &c),
        Command::Check(a) => server::check(&globals, &a),
        Command::Jwt(a) => jwt::run(&globals, &a),
        Command::Devices(c) => devices::run(&globals, &c),
        Command::Profile(c) => devices::run_profile(&globals, &c),
        Command::Api(c) => api::run(&globals, &c),
        Command::Demo(a) => demo::run(&a),
    });
    let result = std::panic::catch_unwind(dispatch).unwrap_or_else(|_| {
        let failure = Failure::new(
            "internal error or closed output; nothing was left half-written in the store",
        );
        Err(if monitoring {
            failure.with_code(CANNOT_TELL)
        } else {
            failure
        })
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // One line, and nothing in it (a file name, a label) can forge
            // output: controls and bidi overrides are escaped.
            let line = f.message.replace(['\n', '\r'], " ");
            // A closed stderr is not worth a panic: the exit code still tells.
            let _ = writeln!(std::io::stderr(), "mdmlink: {}", files::escape_label(&line));
            ExitCode::from(f.code)
        }
    }
}
