//! The `server` subcommands' arguments, as clap parses them.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mdmlink::Portal;

use crate::keys::bits_parser;

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
    #[arg(long, value_parser = parse_portal, conflicts_with = "via_api")]
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
    /// Where to write the certificate to upload (default: NAME.pem here;
    /// with --via-api, written only when given).
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
    /// Create it in the portal through the organization's API account
    /// (`mdmlink api add`; Apple Business only) instead of uploading the
    /// certificate by hand; the portal's id is kept with the server.
    #[arg(long)]
    pub via_api: bool,
    /// With --via-api: the API's base URL (default by the account's scope:
    /// https://api-business.apple.com or https://api-school.apple.com).
    #[arg(long, value_name = "URL", requires = "via_api")]
    pub base_url: Option<String>,
    /// With --via-api: the token endpoint (default
    /// https://account.apple.com/auth/oauth2/token).
    #[arg(long, value_name = "URL", requires = "via_api")]
    pub token_url: Option<String>,
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
    /// Where to write the new certificate to upload (default: NAME-new.pem
    /// here; with --via-api, written only when given).
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// Write the certificate as DER (default file NAME-new.der).
    #[arg(long)]
    pub der: bool,
    /// Replace a keypair already staged (not with --via-api), and an
    /// existing --cert-out file.
    #[arg(long)]
    pub force: bool,
    /// Stage at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Replace the server's certificate in the portal through the
    /// organization's API account (Apple Business only) instead of
    /// uploading it by hand.
    #[arg(long)]
    pub via_api: bool,
    /// With --via-api: the API's base URL (default by the account's scope:
    /// https://api-business.apple.com or https://api-school.apple.com).
    #[arg(long, value_name = "URL", requires = "via_api")]
    pub base_url: Option<String>,
    /// With --via-api: the token endpoint (default
    /// https://account.apple.com/auth/oauth2/token).
    #[arg(long, value_name = "URL", requires = "via_api")]
    pub token_url: Option<String>,
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
