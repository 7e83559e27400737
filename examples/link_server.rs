//! The whole link in memory: generate a keypair, write the certificate to
//! upload, let `seal` play the portal, install the token, and list what needs
//! action over the coming year.
//!
//! ```sh
//! cargo run --example link_server -- "Main Campus MDM" /tmp/main-campus.pem
//! ```

use mdmlink::{
    expiry::ExpiryPolicy,
    keypair::{CertificateParams, KeySize, ServerKeypair, common_name_for},
    organization::{InstallOptions, Organization, ServerOptions},
    portal::Portal,
    token::{self, SealOptions, ServerToken},
};
use std::error::Error;
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "Main Campus MDM".into());
    let cert_out = args.next().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("mdmlink-example-cert.pem")
            .display()
            .to_string()
    });
    let mut rng = mdmlink::SystemRng::default();
    let now = OffsetDateTime::now_utc();

    let mut org = Organization::new("Example School District", Portal::SchoolManager);
    let name = org.check_name(&name)?;
    let keypair = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new(common_name_for(name.as_str()), now),
    )?;
    std::fs::write(&cert_out, keypair.certificate_pem()?)?;
    println!(
        "1. upload {cert_out} in {} ({})",
        org.portal(),
        org.portal().settings_path()
    );
    let certificate = keypair.certificate().cloned().ok_or("no certificate")?;
    org.add_server(name.as_str(), keypair, ServerOptions::default(), now)?;

    // The portal's side: a token for that certificate.
    let issued = ServerToken::new(
        "CK_example",
        "CS_example",
        "AT_example",
        "AS_example",
        now + Duration::days(365),
    )?;
    let file = token::seal(&issued, &certificate, SealOptions::default(), &mut rng)?;
    println!(
        "2. download the {} ({} bytes)",
        org.portal().token_noun(),
        file.len()
    );

    let outcome = org.install_token(name.as_str(), &file, InstallOptions::default(), now)?;
    println!("3. installed: {outcome:?}");

    let policy = ExpiryPolicy::default();
    for months in [0, 6, 11, 12] {
        let when = now + Duration::days(30 * months);
        let items = org.needs_action(&policy, when);
        let summary = items.first().map_or("nothing".to_string(), |i| {
            format!("{}: {} ({})", i.server, i.health, i.advice)
        });
        println!("   in {months:>2} months: {summary}");
    }
    Ok(())
}
