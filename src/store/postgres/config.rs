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

/// How long to wait for the server when the URL does not say
/// (`connect_timeout`), per host, handshake included.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may spend on one statement before it cancels it
/// (`statement_timeout`), unless the URL's `options` set one.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long sent data may stay unacknowledged before the connection is
/// dropped (`tcp_user_timeout`), unless the URL sets it.
const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The query parameters the driver understands, plus mdmlink's own
/// `sslrootcert` and `schema`. Anything else is refused without being
/// quoted (a stray `?SECRET=1` must not reach a message).
const KNOWN_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslrootcert",
    "schema",
];

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
    /// Parses `url` (`postgres://` or `postgresql://`, the scheme in any
    /// case). The URL is taken apart here, strictly, and handed to the
    /// driver re-encoded, so that an unencoded `@`, `/` or `?` in a password
    /// is refused instead of being split into a host or a database name (and
    /// then shown). No refusal quotes any part of the URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let parts = UrlParts::split(url)?;
        let mut driver_url = String::from("postgresql://");
        if let Some(user) = &parts.user {
            driver_url.push_str(&percent_encode(user));
            if let Some(password) = &parts.password {
                driver_url.push(':');
                driver_url.push_str(&percent_encode(password));
            }
            driver_url.push('@');
        }
        driver_url.push_str(parts.hosts);
        driver_url.push('/');
        if let Some(db) = &parts.dbname {
            driver_url.push_str(&percent_encode(db));
        }
        let mut root_cert = None;
        let mut schema = None;
        let mut statement_timeout_set = false;
        let mut sep = '?';
        for (key, value) in &parts.params {
            let value: &str = value;
            match *key {
                "sslrootcert" => {
                    if value.is_empty() {
                        return Err(UrlError::new("sslrootcert is empty"));
                    }
                    root_cert = Some(PathBuf::from(value));
                    continue;
                }
                "schema" => {
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
                    continue;
                }
                "options" if value.contains("statement_timeout") => statement_timeout_set = true,
                _ => {}
            }
            // libpq's verify-ca and verify-full: every TLS connection here
            // verifies the chain and the host name, as verify-full does.
            let value = match (*key, value) {
                ("sslmode", "verify-ca" | "verify-full") => "require",
                _ => value,
            };
            driver_url.push(sep);
            sep = '&';
            driver_url.push_str(key);
            driver_url.push('=');
            driver_url.push_str(&percent_encode(value));
        }
        let driver_url = zeroize::Zeroizing::new(driver_url);
        let mut config: postgres::Config = driver_url.parse().map_err(|e: postgres::Error| {
            // The driver quotes option names (all checked against KNOWN_PARAMS
            // above), never values; the password is scrubbed all the same.
            let text = e.to_string();
            let secrets = parts.password.iter().chain(
                parts
                    .params
                    .iter()
                    .filter(|(k, _)| *k == "password")
                    .map(|(_, v)| v),
            );
            let text = secrets
                .filter(|p| !p.is_empty())
                .fold(text, |t, p| t.replace(p.as_str(), "***"));
            UrlError::new(text)
        })?;
        if config.get_hosts().is_empty() {
            return Err(UrlError::new("no host"));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            // Data the server never acknowledges (a dead link) ends the
            // connection instead of waiting for the kernel's 15 minutes.
            config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("mdmlink");
        }
        // A statement the server cannot finish (a lock held elsewhere, an
        // overloaded server) is cancelled by the server itself; the URL's
        // own `options=-c statement_timeout=...` wins.
        let mut extra = Vec::new();
        if !statement_timeout_set {
            extra.push(format!(
                "-c statement_timeout={}",
                DEFAULT_STATEMENT_TIMEOUT.as_millis()
            ));
        }
        if let Some(schema) = &schema {
            extra.push(format!("-c search_path={schema}"));
        }
        if !extra.is_empty() {
            let mut options = config.get_options().map(str::to_owned).unwrap_or_default();
            for e in extra {
                if !options.is_empty() {
                    options.push(' ');
                }
                options.push_str(&e);
            }
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

    /// How long a connection attempt may take in all, handshake included:
    /// `connect_timeout` for each host.
    pub fn connect_deadline(&self) -> Duration {
        let per_host = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        per_host.saturating_mul(self.config.get_hosts().len().max(1) as u32)
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

    /// Connects, with TLS when the URL allows it, within
    /// [`Self::connect_deadline`]: the driver bounds only the socket's
    /// connect, so a server that accepts and then never answers would hold
    /// the caller forever. The attempt runs on a thread of its own; past the
    /// deadline it is abandoned (the thread ends when the server closes the
    /// connection or the process exits) and the caller gets
    /// [`ConnectError::Timeout`].
    pub(crate) fn connect(&self) -> Result<postgres::Client, ConnectError> {
        let deadline = self.connect_deadline();
        let config = self.config.clone();
        let tls = if self.uses_tls() {
            Some(self.tls()?)
        } else {
            None
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("mdmlink-postgres-connect".into())
            .spawn(move || {
                let result = match tls {
                    Some(tls) => config.connect(tls),
                    None => config.connect(postgres::NoTls),
                };
                // The caller may have given up: then nobody listens.
                let _ = sender.send(result.map_err(ConnectError::Driver));
            })
            .map_err(|e| ConnectError::Tls(format!("cannot start a thread to connect: {e}")))?;
        match receiver.recv_timeout(deadline) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ConnectError::Timeout(deadline)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ConnectError::Tls(
                "the connection attempt ended without a result".into(),
            )),
        }
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
    /// No answer within the deadline (the whole handshake).
    Timeout(Duration),
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

/// `s` without its `%XX` escapes (the crate's one decoder; `+` stays `+`).
fn percent_decode(s: &str) -> Option<String> {
    crate::encoding::percent_decode(s, false)
}

/// `s` with everything but unreserved characters as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL taken apart, each part decoded. The password is zeroized on drop.
struct UrlParts<'a> {
    user: Option<String>,
    password: Option<zeroize::Zeroizing<String>>,
    hosts: &'a str,
    dbname: Option<String>,
    params: Vec<(&'static str, zeroize::Zeroizing<String>)>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Result<Self, UrlError> {
        let rest = crate::store::open::postgres_scheme_len(url)
            .map(|n| &url[n..])
            .ok_or_else(|| UrlError::new("it must start with postgres:// or postgresql://"))?;
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::new(
                "it holds white space or a control character; percent-encode it (a space is %20)",
            ));
        }
        if rest.contains('#') {
            return Err(UrlError::new("it holds an unencoded '#'; write it as %23"));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.matches('@').count() > 1 {
            return Err(UrlError::new(
                "the user name or password holds an unencoded '@'; write it as %40",
            ));
        }
        if tail.contains('@') {
            return Err(UrlError::new(
                "an '@' follows the host: a user name or password with an unencoded '/' or '?' (write %2F, %3F), or an '@' in the database name or a parameter (write %40)",
            ));
        }
        let (userinfo, hosts) = match authority.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = percent_decode(user)
                    .ok_or_else(|| UrlError::new("the user name is not valid percent-encoding"))?;
                let password = password
                    .map(|p| {
                        percent_decode(p)
                            .map(zeroize::Zeroizing::new)
                            .ok_or_else(|| {
                                UrlError::new("the password is not valid percent-encoding")
                            })
                    })
                    .transpose()?;
                (Some(user), password)
            }
        };
        check_hosts(hosts)?;
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        let dbname =
            match path.strip_prefix('/') {
                Some("") | None => None,
                Some(db) => Some(percent_decode(db).ok_or_else(|| {
                    UrlError::new("the database name is not valid percent-encoding")
                })?),
            };
        let mut params = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(UrlError::new("a query parameter has no '=value'"));
            };
            let key = KNOWN_PARAMS
                .iter()
                .copied()
                .find(|k| *k == key)
                .ok_or_else(|| {
                    UrlError::new(format!(
                        "a query parameter is not one mdmlink knows (it knows {})",
                        KNOWN_PARAMS.join(", ")
                    ))
                })?;
            let value = percent_decode(value)
                .map(zeroize::Zeroizing::new)
                .ok_or_else(|| UrlError::new(format!("{key} is not valid percent-encoding")))?;
            params.push((key, value));
        }
        Ok(Self {
            user,
            password,
            hosts,
            dbname,
            params,
        })
    }
}

/// Host names, addresses (`[...]` for IPv6) and `%2F`-encoded socket
/// directories, each with an optional numeric port, separated by commas.
fn check_hosts(hosts: &str) -> Result<(), UrlError> {
    let bad = || {
        UrlError::new(
            "the host list is not host names, addresses or %2F-encoded socket directories with numeric ports",
        )
    };
    if hosts.is_empty() {
        return Ok(());
    }
    for chunk in hosts.split(',') {
        let (host, port) = if let Some(inner) = chunk.strip_prefix('[') {
            let (addr, after) = inner.split_once(']').ok_or_else(bad)?;
            if !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%'))
            {
                return Err(bad());
            }
            match after {
                "" => (addr, None),
                a => (addr, Some(a.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match chunk.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (chunk, None),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '%' | ':'))
            && percent_decode(host).is_some();
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
        if !host_ok || !port_ok {
            return Err(bad());
        }
    }
    Ok(())
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

    /// Property-style: a password with every character a URL treats
    /// specially, placed in every part of many malformed URLs, never shows
    /// (not even three characters of it) in an error, `Display` or `Debug`.
    #[test]
    fn no_malformed_url_shows_any_part_of_the_password() {
        const PASSWORD: &str = "ZqXjLEAKvw";
        let specials = [
            "", "@", "/", "?", "#", ":", "%", "%zz", "&", "=", " ", "[", "]", ",", "\u{0}", "é",
        ];
        let mut checked = 0;
        for special in specials {
            for split in 0..=PASSWORD.len() {
                let pass = format!("{}{special}{}", &PASSWORD[..split], &PASSWORD[split..]);
                for template in [
                    "postgres://mdm:{P}@db.example.com:5432/links",
                    "postgres://mdm:{P}@@db.example.com/links",
                    "postgres://mdm:{P}@db.example.com:{P}/links",
                    "postgresql://mdm:{P}@db.example.com/links?sslmode=require",
                    "POSTGRES://mdm:{P}@db.example.com/links",
                    "postgres://mdm@db.example.com/links?password={P}",
                    "postgres://mdm@db.example.com/links?password={P}&sslmode=bogus",
                    "postgres://mdm@db.example.com/links?{P}=1",
                    "postgres://mdm:{P}@db.example.com/links?sslrootcert=%zz",
                    "postgres://mdm:{P}@/links",
                    "postgres://mdm:{P}@db.example.com/links?schema=Bad",
                    "postgres://mdm:{P}",
                ] {
                    // Text after an '@' that ends the user part is the
                    // host: shown, as it should be.
                    if template.ends_with("{P}") && special == "@" {
                        continue;
                    }
                    let url = template.replace("{P}", &pass);
                    let text = match PostgresUrl::parse(&url) {
                        Ok(parsed) => format!("{parsed} {parsed:?}"),
                        Err(e) => format!("{e} {e:?}"),
                    };
                    for len in 3..=PASSWORD.len() {
                        for start in 0..=PASSWORD.len() - len {
                            let piece = &PASSWORD[start..start + len];
                            assert!(!text.contains(piece), "{url:?} shows {piece:?}: {text}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000);
        // The example: refused, not half shown.
        let err = PostgresUrl::parse("postgres://mdm:P@SS_LEAK@host/db").unwrap_err();
        assert!(!err.to_string().contains("SS_LEAK"), "{err}");
        assert!(err.to_string().contains("%40"), "{err}");
    }

    #[test]
    fn connect_timeout_and_statement_timeout_have_defaults() {
        let url = PostgresUrl::parse("postgres://mdm@h/db").unwrap();
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        assert_eq!(url.connect_deadline(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(
            url.config().get_options(),
            Some("-c statement_timeout=60000")
        );
        let url = PostgresUrl::parse("postgres://mdm@h1,h2/db?connect_timeout=3").unwrap();
        assert_eq!(url.connect_deadline(), Duration::from_secs(6));
        let url =
            PostgresUrl::parse("postgres://mdm@h/db?options=-c%20statement_timeout%3D5s").unwrap();
        assert_eq!(url.config().get_options(), Some("-c statement_timeout=5s"));
        for mode in ["verify-full", "verify-ca"] {
            let url = PostgresUrl::parse(&format!("postgres://mdm@h/db?sslmode={mode}")).unwrap();
            assert_eq!(url.config().get_ssl_mode(), SslMode::Require);
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
        assert_eq!(
            PostgresUrl::parse("postgres://mdm@localhost/links?schema=mdm_links")
                .unwrap()
                .config()
                .get_options(),
            Some("-c statement_timeout=60000 -c search_path=mdm_links")
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
