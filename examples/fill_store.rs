//! Fills an SQLite store with N servers across organizations of ten, for
//! timing whole `mdmlink` processes (benches/compare/store.sh):
//!
//! ```sh
//! cargo run --release --features sqlite --example fill_store -- STORE N
//! ```
//!
//! The first server ("Org 0000" / "Server 000000") is made through the
//! Registry and gets a token; the others are copies of its row, renamed (its
//! secrets, bound to its row, open only there), so the store fills in
//! seconds instead of generating N keys. No master key: the copies keep
//! plaintext-form secrets, as a store without one does.

use mdmlink::{
    ServerKeypair, ServerToken,
    keypair::{CertificateParams, KeySize},
    name::ServerName,
    organization::{InstallOptions, ServerOptions},
    portal::Portal,
    store::{OrganizationRow, SqliteStore, StoreError, StoreExt, registry::Registry},
    token::{self, SealOptions},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: fill_store STORE N");
        std::process::exit(2);
    };
    let n: usize = n.parse()?;
    let now = time::OffsetDateTime::now_utc();
    let mut rng = mdmlink::SystemRng::default();
    let keypair = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Server", now),
    )?;
    let mut r = Registry::new(SqliteStore::open(&path)?, None);
    r.add_organization("Org 0000", Portal::BusinessManager, None, now)?;
    r.add_server(
        Some("Org 0000"),
        "Server 000000",
        keypair.clone(),
        ServerOptions::default(),
        now,
    )?;
    let t = ServerToken::new(
        "CK_bench",
        "CS_bench",
        "AT_bench",
        "AS_bench",
        now + time::Duration::days(300),
    )?;
    let file = token::seal(
        &t,
        keypair.certificate().ok_or("no certificate")?,
        SealOptions::default(),
        &mut rng,
    )?;
    r.install_token(
        Some("Org 0000"),
        "Server 000000",
        "t.p7m",
        &file,
        InstallOptions::default(),
        now,
    )?;
    r.set_server_uuid(
        Some("Org 0000"),
        "Server 000000",
        "2A873497-36CF-4614-A94F-624E705841BE",
    )?;
    let mut store = r.into_store();
    store.write(|tx| -> Result<(), StoreError> {
        let template = tx
            .server(1, "server 000000")?
            .ok_or(StoreError::Cancelled)?;
        let mut org_id = 1;
        for i in 1..n {
            if i % 10 == 0 {
                let row = OrganizationRow::new(
                    &format!("Org {:04}", i / 10),
                    Portal::BusinessManager,
                    now,
                )?;
                org_id = tx.insert_organization(&row)?;
            }
            let mut row = template.clone();
            let name = ServerName::parse(&format!("Server {i:06}"))?;
            row.summary.name = name.as_str().to_owned();
            row.summary.name_key = name.comparison_key().to_owned();
            row.summary.organization_id = org_id;
            tx.insert_server(&row)?;
        }
        Ok(())
    })?;
    println!("{path}: {n} servers in {} organizations", n.div_ceil(10));
    Ok(())
}
