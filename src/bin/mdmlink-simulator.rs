//! `mdmlink-simulator`: a local device assignment service for trying a link
//! end to end without Apple.
//!
//! It makes a demo server token, seals it to a fresh keypair, writes the key
//! and the token file into a directory, starts the simulator on 127.0.0.1
//! and prints its URL, then serves until stdin closes (or Ctrl-C).
//!
//! Usage: `mdmlink-simulator [DIR] [--devices N] [--seed S] [--school]`
//! (default: `./mdmlink-simulator-files`, 100 devices, seed 1). The account
//! has N devices derived from the seed, for fetch, sync and profile
//! assignment.
//!
//! It also serves Apple's School and Business Manager API (token endpoint
//! `/auth/oauth2/token`, API under `/v1/`) with an API account written
//! beside the token: `DIR/api_client_id`, `DIR/api_key_id` and
//! `DIR/api_key.pem` (PKCS#8 PEM, P-256). The organization has two servers,
//! `MDM Server` (holding the same N devices as the device assignment side)
//! and `Lab MDM`, and N/4 more unassigned devices. `--school` makes it an
//! Apple School Manager account (`SCHOOLAPI.`, read-only servers).

use std::io::Read as _;

use mdmlink::{
    keypair::{CertificateParams, KeySize, ServerKeypair},
    session::simulator::{SimulatedAccount, Simulator, portal_api::SimulatedApiAccount},
    token::{self, SealOptions, ServerToken},
};
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

fn main() {
    if let Err(e) = run() {
        eprintln!("mdmlink-simulator: {e}");
        std::process::exit(1);
    }
}

/// Writes `bytes` to `path` readable by the owner only (0600 on Unix),
/// atomically: a temporary file in the same directory, then a rename.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = std::path::PathBuf::from("mdmlink-simulator-files");
    let (mut devices, mut seed, mut school) = (100u32, 1u64, false);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<u64, Box<dyn std::error::Error>> {
            let value = args.next().ok_or(format!("{what} needs a number"))?;
            Ok(value
                .to_str()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{what} needs a number, not {value:?}"))?)
        };
        match arg.to_str() {
            Some("--devices") => {
                devices = u32::try_from(number("--devices")?)
                    .map_err(|_| "--devices is at most 4294967295")?
            }
            Some("--seed") => seed = number("--seed")?,
            Some("--school") => school = true,
            Some(other) if other.starts_with("--") => {
                return Err(format!("unknown option {other}").into());
            }
            _ => dir = arg.into(),
        }
    }
    std::fs::create_dir_all(&dir)?;
    let mut rng = mdmlink::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    let keypair = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Simulated MDM", now),
    )?;
    let certificate = keypair
        .certificate()
        .ok_or("the new keypair has no certificate")?;
    let secret = |prefix: &str| -> Result<String, Box<dyn std::error::Error>> {
        Ok(format!(
            "{prefix}{}",
            mdmlink::session::new_nonce(&mut mdmlink::SystemRng::default())?
        ))
    };
    let issued = ServerToken::new(
        secret("CK_")?,
        secret("CS_")?,
        secret("AT_")?,
        secret("AS_")?,
        now + time::Duration::days(365),
    )?;
    let file = token::seal(&issued, certificate, SealOptions::default(), &mut rng)?;
    let key_path = dir.join("simulated-server.pem");
    let token_path = dir.join("simulated-server_smime.p7m");
    write_private(&key_path, keypair.private_key_pem()?.as_bytes())?;
    std::fs::write(&token_path, file)?;
    let sim = Simulator::start(vec![
        SimulatedAccount::new(issued, "Simulated Organization").with_devices(devices, seed),
    ])?;
    let api = write_api_account(&dir, school)?;
    sim.add_api_account(
        SimulatedApiAccount::new(&api.client_id, &api.key_id, api.verifying_key)
            .with_servers(&["MDM Server", "Lab MDM"])
            .with_devices(devices, devices / 4, seed),
    );
    println!("{}", sim.base_url());
    eprintln!(
        "mdmlink-simulator: serving the device assignment service ({devices} devices) at {}\n  key:   {}\n  token: {}\n  School and Business Manager API: token URL {}, API base {}\n  API account: {} (key ID {}, key {})\n  close stdin (Ctrl-D) to stop",
        sim.base_url(),
        key_path.display(),
        token_path.display(),
        sim.token_url(),
        sim.base_url(),
        api.client_id,
        api.key_id,
        dir.join("api_key.pem").display()
    );
    let mut sink = [0u8; 64];
    while std::io::stdin()
        .read(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
    sim.shutdown();
    Ok(())
}

struct ApiAccountFiles {
    client_id: String,
    key_id: String,
    verifying_key: p256::ecdsa::VerifyingKey,
}

/// Makes an API account (client ID, key ID, a fresh P-256 key) and writes
/// it into `dir` as the portal hands it out: `api_client_id`, `api_key_id`,
/// `api_key.pem` (PKCS#8 PEM, owner-only).
fn write_api_account(
    dir: &std::path::Path,
    school: bool,
) -> Result<ApiAccountFiles, Box<dyn std::error::Error>> {
    let mut rng = mdmlink::SystemRng::default();
    let key = loop {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rand_core::TryRng::try_fill_bytes(&mut rng, bytes.as_mut_slice())
            .map_err(|_| "the system's random number generator failed")?;
        // All but a 2^-128 fraction of 32-byte strings are valid scalars.
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(bytes.as_slice()) {
            break key;
        }
    };
    let prefix = if school { "SCHOOLAPI" } else { "BUSINESSAPI" };
    let client_id = format!("{prefix}.{}", mdmlink::jwt::random_jti(&mut rng)?);
    let key_id = mdmlink::jwt::random_jti(&mut rng)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    write_private(&dir.join("api_key.pem"), pem.as_bytes())?;
    std::fs::write(dir.join("api_client_id"), format!("{client_id}\n"))?;
    std::fs::write(dir.join("api_key_id"), format!("{key_id}\n"))?;
    Ok(ApiAccountFiles {
        client_id,
        key_id,
        verifying_key: *key.verifying_key(),
    })
}
