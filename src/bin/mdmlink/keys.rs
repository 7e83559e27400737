//! `keygen`, `open`, `seal` and `status`: files in, files out, no store.

use std::path::{Path, PathBuf};

use clap::Args;
use mdmlink::{
    expiry::{ExpiryPolicy, Health},
    keypair::{KeySize, ServerCertificate, ServerKeypair},
    name::ServerName,
    token::{self, SealOptions, ServerToken},
};

use crate::{Failure, Globals, files, now_or};

/// `mdmlink keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The MDM server's name (the certificate's common name).
    #[arg(long)]
    name: String,
    /// RSA modulus size.
    #[arg(long, default_value_t = 2048, value_parser = bits_parser())]
    bits: u32,
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    key_out: PathBuf,
    /// Where to write the certificate to upload (mode 0644).
    #[arg(long, value_name = "FILE")]
    cert_out: PathBuf,
    /// Write the certificate as DER instead of PEM.
    #[arg(long)]
    der: bool,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

/// `mdmlink open`.
#[derive(Args, Debug)]
pub struct OpenArgs {
    /// The server's private key (PEM or DER; PKCS#8, encrypted PKCS#8 or PKCS#1).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The server's certificate, for clearer errors about a token issued to another one.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Print exactly one JSON object with Apple's five fields (secrets included).
    #[arg(long)]
    json: bool,
    /// Evaluate the expiry at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// The token file (`*_smime.p7m`).
    token: PathBuf,
}

/// `mdmlink seal`.
#[derive(Args, Debug)]
pub struct SealArgs {
    /// The certificate to seal to (PEM or DER).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// The token JSON (Apple's five fields).
    #[arg(long = "in", value_name = "TOKEN.json")]
    input: PathBuf,
    /// Where to write the sealed token (S/MIME, as the portal serves it).
    #[arg(long, value_name = "TOKEN.p7m")]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

/// `mdmlink status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Evaluate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Warn this many days before expiry.
    #[arg(long, value_name = "N", default_value_t = 30)]
    warn_days: u32,
    /// The server's private key, to open TOKEN.
    #[arg(
        long,
        value_name = "FILE",
        requires = "token",
        conflicts_with = "json_token"
    )]
    key: Option<PathBuf>,
    /// An opened token's JSON instead of a key and token file.
    #[arg(long, value_name = "FILE")]
    json_token: Option<PathBuf>,
    /// The token file (with --key).
    token: Option<PathBuf>,
}

/// The expiry policy for `--warn-days N`, or a usage error naming the flag.
pub fn policy(warn_days: u32) -> Result<ExpiryPolicy, Failure> {
    ExpiryPolicy::warn_days(warn_days)
        .map_err(|e| Failure::new(format!("--warn-days {warn_days}: {e}")).with_code(2))
}

/// `2048`, `3072` or `4096`; anything else is a usage error.
pub fn bits_parser() -> impl clap::builder::TypedValueParser<Value = u32> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["2048", "3072", "4096"])
        .map(|s| s.parse::<u32>().unwrap_or(2048))
}

pub fn keygen(g: &Globals, a: &KeygenArgs) -> Result<u8, Failure> {
    let name = ServerName::parse(&a.name).map_err(|e| Failure::new(format!("--name: {e}")))?;
    let size = KeySize::from_bits(a.bits).map_err(|e| Failure::new(format!("--bits: {e}")))?;
    let password = g.password()?;
    let mut rng = mdmlink::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    let keypair = ServerKeypair::generate_for_server(&mut rng, size, name.as_str(), now)
        .map_err(|e| Failure::new(format!("key generation failed: {e}")))?;
    let key = match &password {
        Some(p) => keypair.private_key_encrypted_pem(&mut rng, p.expose().as_bytes()),
        None => keypair.private_key_pem(),
    }
    .map_err(|e| Failure::file(&a.key_out, e))?;
    let cert = certificate_bytes(&keypair, a.der).map_err(|e| Failure::file(&a.cert_out, e))?;
    files::write(&a.key_out, key.as_bytes(), files::PRIVATE, a.force)?;
    if let Err(e) = files::write(&a.cert_out, &cert, files::PUBLIC, a.force) {
        // Don't leave a key without its certificate behind.
        let _ = std::fs::remove_file(&a.key_out);
        return Err(e);
    }
    let serial = keypair
        .certificate()
        .map(|c| c.serial_hex())
        .unwrap_or_default();
    println!(
        "wrote {} ({}-bit RSA private key{}, mode 0600)",
        a.key_out.display(),
        keypair.bits(),
        if password.is_some() {
            ", encrypted"
        } else {
            ""
        }
    );
    println!(
        "wrote {} (certificate to upload, serial {serial})",
        a.cert_out.display()
    );
    Ok(0)
}

/// The certificate as PEM or DER.
pub fn certificate_bytes(keypair: &ServerKeypair, der: bool) -> Result<Vec<u8>, String> {
    if der {
        keypair.certificate_der().map_err(|e| e.to_string())
    } else {
        keypair
            .certificate_pem()
            .map(String::into_bytes)
            .map_err(|e| e.to_string())
    }
}

/// Reads a private key file (and attaches a certificate file when given).
pub fn read_keypair(
    g: &Globals,
    key: &Path,
    cert: Option<&Path>,
) -> Result<ServerKeypair, Failure> {
    let bytes = zeroize::Zeroizing::new(files::read(key, files::Kind::Key)?);
    let password = g.password()?;
    let mut keypair = ServerKeypair::from_pem_or_der(
        &bytes,
        password.as_ref().map(|p| p.expose().as_bytes()),
    )
    .map_err(|e| match e {
        mdmlink::keypair::KeyError::PasswordRequired => Failure::file(
            key,
            "the private key is encrypted; pass --password-env VAR with the password in VAR",
        ),
        _ if ServerCertificate::from_pem_or_der(&bytes).is_ok() => Failure::file(
            key,
            "this is a certificate, not a private key; give the private key file (the one keygen or server add kept)",
        ),
        e => Failure::file(key, e),
    })?;
    if let Some(cert) = cert {
        let c = ServerCertificate::from_pem_or_der(&files::read(cert, files::Kind::Certificate)?)
            .map_err(|e| Failure::file(cert, e))?;
        keypair
            .attach_certificate(c)
            .map_err(|e| Failure::file(cert, e))?;
    }
    Ok(keypair)
}

fn open_token(
    g: &Globals,
    key: &Path,
    cert: Option<&Path>,
    file: &Path,
) -> Result<ServerToken, Failure> {
    let keypair = read_keypair(g, key, cert)?;
    let data = files::read(file, files::Kind::Token)?;
    token::open(&data, &keypair).map_err(|e| Failure::file(file, e))
}

pub fn open(g: &Globals, a: &OpenArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let t = open_token(g, &a.key, a.cert.as_deref(), &a.token)?;
    if a.json {
        println!("{}", t.to_json().as_str());
        return Ok(0);
    }
    let health = ExpiryPolicy::default().evaluate(t.access_token_expiry(), now);
    print_summary(&t, &health);
    Ok(0)
}

/// The human summary of a token: no secrets.
pub fn print_summary(t: &ServerToken, health: &Health) {
    println!("consumer key:  {}", t.consumer_key());
    println!("expires:       {}", format_time(t.access_token_expiry()));
    match health.days_left() {
        Some(d) => println!("days left:     {d}"),
        None => println!("days left:     -"),
    }
    println!("health:        {health}");
    println!("secrets:       hidden (use --json to print them)");
}

/// `2026-01-17 11:02:21 UTC`.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn seal(_g: &Globals, a: &SealArgs) -> Result<u8, Failure> {
    let cert = ServerCertificate::from_pem_or_der(&files::read(&a.cert, files::Kind::Certificate)?)
        .map_err(|e| Failure::file(&a.cert, e))?;
    let json = files::read_text(&a.input, files::Kind::TokenJson)?;
    let t = ServerToken::from_json(&json).map_err(|e| Failure::file(&a.input, e))?;
    let sealed = token::seal(
        &t,
        &cert,
        SealOptions::default(),
        &mut mdmlink::SystemRng::default(),
    )
    .map_err(|e| Failure::file(&a.cert, e))?;
    files::write(&a.out, &sealed, files::PRIVATE, a.force)?;
    println!(
        "wrote {} (sealed to certificate serial {})",
        a.out.display(),
        cert.serial_hex()
    );
    Ok(0)
}

pub fn status(g: &Globals, a: &StatusArgs) -> Result<u8, Failure> {
    // Anything that stops us from telling is exit 3 (monitoring convention).
    let now = now_or(a.now.as_deref(), "--now").map_err(|f| f.with_code(3))?;
    let policy = policy(a.warn_days).map_err(|f| f.with_code(3))?;
    let t = match (&a.key, &a.token, &a.json_token) {
        (Some(key), Some(file), None) => open_token(g, key, None, file),
        (None, None, Some(json)) => files::read_text(json, files::Kind::TokenJson)
            .and_then(|text| ServerToken::from_json(&text).map_err(|e| Failure::file(json, e))),
        _ => Err(Failure::new(
            "give a token: either `mdmlink status --key KEY.pem TOKEN.p7m` or `mdmlink status --json-token TOKEN.json`",
        )),
    }
    .map_err(|f| f.with_code(3))?;
    let health = policy.evaluate(t.access_token_expiry(), now);
    println!(
        "{health} (expires {})",
        format_time(t.access_token_expiry())
    );
    Ok(health.exit_code() as u8)
}
