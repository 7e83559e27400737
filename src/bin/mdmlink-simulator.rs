//! `mdmlink-simulator`: a local device assignment service for trying a link
//! end to end without Apple.
//!
//! It makes a demo server token, seals it to a fresh keypair, writes the key
//! and the token file into a directory, starts the simulator on 127.0.0.1
//! and prints its URL, then serves until stdin closes (or Ctrl-C).
//!
//! Usage: `mdmlink-simulator [DIR] [--devices N] [--seed S]` (default:
//! `./mdmlink-simulator-files`, 100 devices, seed 1). The account has N
//! devices derived from the seed, for fetch, sync and profile assignment.

use std::io::Read as _;

use mdmlink::{
    keypair::{CertificateParams, KeySize, ServerKeypair},
    session::simulator::{SimulatedAccount, Simulator},
    token::{self, SealOptions, ServerToken},
};

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
    let (mut devices, mut seed) = (100u32, 1u64);
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
    println!("{}", sim.base_url());
    eprintln!(
        "mdmlink-simulator: serving the device assignment service ({devices} devices) at {}\n  key:   {}\n  token: {}\n  close stdin (Ctrl-D) to stop",
        sim.base_url(),
        key_path.display(),
        token_path.display()
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
