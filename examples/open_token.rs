//! Opens a server token with its private key and prints what an admin needs.
//!
//! ```sh
//! cargo run --example open_token -- KEY.pem TOKEN_smime.p7m [CERT.pem]
//! cargo run --example open_token            # the real Apple token in tests/fixtures
//! ```

use mdmlink::{ServerCertificate, ServerKeypair, expiry::ExpiryPolicy, token};
use std::{error::Error, path::PathBuf};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

fn main() -> Result<(), Box<dyn Error>> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apple-token-1");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let key_path = args
        .next()
        .unwrap_or_else(|| fixture.join("apple-mdm-client-tests-1.pem"));
    let token_path = args
        .next()
        .unwrap_or_else(|| fixture.join("apple-mdm-client-tests-1-server-token.p7m"));
    let cert_path = args.next();

    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut keypair = ServerKeypair::from_pem_or_der(&read(&key_path)?, None)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    if let Some(cert_path) = cert_path {
        keypair.attach_certificate(ServerCertificate::from_pem_or_der(&read(&cert_path)?)?)?;
    }
    let token = token::open(&read(&token_path)?, &keypair)
        .map_err(|e| format!("{}: {e}", token_path.display()))?;
    let health =
        ExpiryPolicy::default().evaluate(token.access_token_expiry(), OffsetDateTime::now_utc());
    println!("consumer key: {}", token.consumer_key());
    println!(
        "expires:      {}",
        token.access_token_expiry().format(&Rfc3339)?
    );
    println!("health:       {health}");
    Ok(())
}
