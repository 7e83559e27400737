//! Where the PostgreSQL store lives: a `postgres://` URL, parsed once, with
//! the password kept out of every message.
//!
//! The URL is libpq's (`postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require`)
//! as the `postgres` crate reads it, plus two parameters handled here:
//! - `sslrootcert=PATH`: a PEM file of certificate authorities to trust
//!   besides the Mozilla roots (a server with a private CA or a self-signed
//!   certificate);
//! - `schema=NAME`: keep mdmlink's tables in that schema (created on open),
//!   for a database shared with other software; lower-case letters, digits
//!   and `_`, starting with a letter or `_`, at most 63 characters.
//!
//! TLS: `sslmode=disable` never encrypts; `prefer` (the default, as in libpq)
//! encrypts when the server offers it; `require` refuses a server that does
//! not. Whenever TLS is used the server's certificate is verified, chain and
//! host name, through rustls: unlike libpq's `require`, an unverified
//! certificate is refused, since this database holds the link's secrets.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};

/// How long to wait for the server when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `postgres://` URL. Its [`Display`](fmt::Display) and
/// [`Debug`](fmt::Debug) never show the password.
#[derive(Clone)]
pub struct PostgresUrl {
    config: postgres::Config,
    root_cert: Option<PathBuf>,
    schema: Option<String>,
    shown: String,
}

/// Why a `postgres://` URL was refused. The message never holds the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a usable PostgreSQL URL ({reason}); expected postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require]"
)]
pub struct UrlError {
    reason: String,
}

impl UrlError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl PostgresUrl {
    /// Parses `url` (`postgres://` or `postgresql://`).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        else {
            return Err(UrlError::new(
                "it must start with postgres:// or postgresql://",
            ));
        };
        let (base, query) = match rest.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (rest, None),
        };
        // `sslrootcert` is ours; everything else goes to the driver as written.
        let mut root_cert = None;
        let mut schema = None;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("sslrootcert", value)) => {
                    let value = crate::encoding::percent_decode(value, false).ok_or_else(|| {
                        UrlError::new("sslrootcert is not valid percent-encoding")
                    })?;
                    if value.is_empty() {
                        return Err(UrlError::new("sslrootcert is empty"));
                    }
                    root_cert = Some(PathBuf::from(value));
                }
                Some(("schema", value)) => {
                    let valid = value.len() <= 63
                        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                        && value
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !valid {
                        return Err(UrlError::new(
                            "schema must be lower-case letters, digits and _, starting with a letter or _, at most 63 characters",
                        ));
                    }
                    schema = Some(value.to_owned());
                }
                _ => kept.push(pair),
            }
        }
        let mut driver_url = format!("postgresql://{base}");
        if !kept.is_empty() {
            driver_url.push('?');
            driver_url.push_str(&kept.join("&"));
        }
        let mut config: postgres::Config = driver_url
            .parse()
            .map_err(|e: postgres::Error| UrlError::new(redact(&e.to_string(), url)))?;
        if config.get_hosts().is_empty() {
            return Err(UrlError::new("no host"));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("mdmlink");
        }
        if let Some(schema) = &schema {
            let options = match config.get_options() {
                Some(o) => format!("{o} -c search_path={schema}"),
                None => format!("-c search_path={schema}"),
            };
            config.options(&options);
        }
        if root_cert.is_some() && config.get_ssl_mode() == SslMode::Disable {
            return Err(UrlError::new("sslrootcert was given with sslmode=disable"));
        }
        let shown = shown(&config, root_cert.is_some(), schema.as_deref());
        Ok(Self {
            config,
            root_cert,
            schema,
            shown,
        })
    }

    /// The driver's configuration.
    #[cfg(test)]
    pub(crate) fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// The schema that holds mdmlink's tables, when the URL names one.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Whether the connection may or must use TLS.
    pub fn uses_tls(&self) -> bool {
        self.config.get_ssl_mode() != SslMode::Disable
    }

    /// Connects, with TLS when the URL allows it.
    pub(crate) fn connect(&self) -> Result<postgres::Client, ConnectError> {
        if !self.uses_tls() {
            return self
                .config
                .connect(postgres::NoTls)
                .map_err(ConnectError::Driver);
        }
        let tls = self.tls()?;
        self.config.connect(tls).map_err(ConnectError::Driver)
    }

    fn tls(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, ConnectError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &self.root_cert {
            use rustls_pki_types::{CertificateDer, pem::PemObject as _};
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ConnectError::RootCert {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(ConnectError::RootCert {
                    path: path.clone(),
                    reason: "no PEM certificate in the file".into(),
                });
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ConnectError::RootCert {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

impl std::str::FromStr for PostgresUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        Self::parse(s)
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl").field(&self.shown).finish()
    }
}

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The `sslrootcert` file could not be read.
    RootCert { path: PathBuf, reason: String },
    /// rustls refused the configuration.
    Tls(String),
    /// The driver's error (connection refused, authentication, TLS handshake).
    Driver(postgres::Error),
}

/// The URL as shown in messages: user, hosts, ports, database and TLS mode,
/// rebuilt from the parsed configuration so that no password can slip through.
fn shown(config: &postgres::Config, root_cert: bool, schema: Option<&str>) -> String {
    let mut s = String::from("postgres://");
    if let Some(user) = config.get_user() {
        s.push_str(user);
        if config.get_password().is_some() {
            s.push_str(":***");
        }
        s.push('@');
    }
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match host {
            Host::Tcp(name) if name.contains(':') => {
                s.push('[');
                s.push_str(name);
                s.push(']');
            }
            Host::Tcp(name) => s.push_str(name),
            #[cfg(unix)]
            Host::Unix(path) => s.push_str(&path.display().to_string().replace('/', "%2F")),
        }
        let port = ports.get(i).or(ports.first());
        if let Some(port) = port {
            s.push_str(&format!(":{port}"));
        }
    }
    s.push('/');
    if let Some(db) = config.get_dbname() {
        s.push_str(db);
    }
    let mode = match config.get_ssl_mode() {
        SslMode::Disable => Some("disable"),
        SslMode::Require => Some("require"),
        _ => None,
    };
    let mut sep = '?';
    if let Some(mode) = mode {
        s.push_str(&format!("{sep}sslmode={mode}"));
        sep = '&';
    }
    if root_cert {
        s.push_str(&format!("{sep}sslrootcert=..."));
        sep = '&';
    }
    if let Some(schema) = schema {
        s.push_str(&format!("{sep}schema={schema}"));
    }
    s
}

/// `message` with any password-looking part of `url` replaced, for the
/// driver's parse errors (which quote the option at fault, not the value,
/// but this makes sure).
fn redact(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if let Some((userinfo, _)) = rest.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, "***");
    }
    for pair in rest.split(['?', '&']) {
        if let Some(("password", value)) = pair.split_once('=')
            && !value.is_empty()
        {
            out = out.replace(value, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn parses_and_shows_no_password() {
        let url = PostgresUrl::parse(&format!(
            "postgres://mdm:{SECRET}@db.example.com:5433/links?sslmode=require"
        ))
        .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://mdm:***@db.example.com:5433/links?sslmode=require"
        );
        assert!(!format!("{url:?}").contains(SECRET));
        assert!(url.uses_tls());
        assert_eq!(url.config().get_password(), Some(SECRET.as_bytes()));
        assert_eq!(url.config().get_dbname(), Some("links"));
        assert_eq!(url.config().get_application_name(), Some("mdmlink"));
    }

    #[test]
    fn password_as_a_parameter_is_hidden_too() {
        let url = PostgresUrl::parse(&format!(
            "postgresql://mdm@127.0.0.1/links?password={SECRET}"
        ))
        .unwrap();
        assert_eq!(url.to_string(), "postgres://mdm:***@127.0.0.1:5432/links");
        assert!(!format!("{url:?}").contains(SECRET));
    }

    #[test]
    fn refusals_never_show_the_password() {
        for bad in [
            format!("postgres://mdm:{SECRET}@host:notaport/db"),
            format!("postgres://mdm:{SECRET}@host/db?sslmode=sometimes"),
            format!("postgres://mdm:{SECRET}@host/db?{SECRET}=1"),
            format!("postgres://mdm:{SECRET}@host/db?password={SECRET}&bogus=1"),
            format!("postgres://mdm:{SECRET}@host/db?sslmode=disable&sslrootcert=/ca.pem"),
            format!("postgres://mdm:{SECRET}@host/db?sslrootcert=%zz"),
            format!("mysql://mdm:{SECRET}@host/db"),
            format!("postgres://mdm:{SECRET}@/db"),
        ] {
            let err = PostgresUrl::parse(&bad).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains(SECRET), "{bad} -> {text}");
            assert!(text.contains("PostgreSQL URL"), "{text}");
        }
    }

    #[test]
    fn a_signed_or_short_escape_is_refused() {
        // `u8::from_str_radix` would read `%+f` as 0x0f: the shared decoder
        // takes exactly two hexadecimal digits.
        for bad in ["%+f", "%-1", "% f", "%f"] {
            assert!(
                PostgresUrl::parse(&format!("postgres://mdm@localhost/links?sslrootcert={bad}"))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn sslrootcert_is_ours_and_tls_follows_sslmode() {
        let url = PostgresUrl::parse(
            "postgres://mdm@localhost/links?sslmode=require&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(
            url.root_cert.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert_eq!(
            url.to_string(),
            "postgres://mdm@localhost:5432/links?sslmode=require&sslrootcert=..."
        );
        let plain = PostgresUrl::parse("postgres://mdm@localhost/links?sslmode=disable").unwrap();
        // A schema of its own: shown, and set as the search path.
        let url = PostgresUrl::parse(
            "postgres://mdm@localhost/links?schema=mdm_links&options=-c%20statement_timeout%3D5000",
        )
        .unwrap();
        assert_eq!(url.schema(), Some("mdm_links"));
        assert_eq!(
            url.to_string(),
            "postgres://mdm@localhost:5432/links?schema=mdm_links"
        );
        assert_eq!(
            url.config().get_options(),
            Some("-c statement_timeout=5000 -c search_path=mdm_links")
        );
        for bad in ["Links", "1links", "a-b", "x;drop", ""] {
            assert!(
                PostgresUrl::parse(&format!("postgres://h/db?schema={bad}")).is_err(),
                "{bad}"
            );
        }
        assert!(!plain.uses_tls());
        // A missing CA file is a clear error before any connection.
        let missing = PostgresUrl::parse(
            "postgres://mdm@localhost/links?sslmode=require&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        assert!(matches!(missing.tls(), Err(ConnectError::RootCert { .. })));
    }
}
