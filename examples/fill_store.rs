//! Fills a store (a SQLite file or a PostgreSQL URL) with N servers across
//! ORGS organizations (default: organizations of ten), for timing whole
//! `mdmlink` processes (scripts/perf-table.sh, benches/compare/store.sh):
//!
//! ```sh
//! cargo run --release --features sqlite,postgres --example fill_store -- STORE N [ORGS]
//! ```
//!
//! The first server ("Org 00000" / "Server 0000000") is made through the
//! Registry and gets a token; the others are copies of its row, renamed
//! (its secrets, bound to its row, open only there), inserted by one SQL
//! statement per table, so a million servers take a minute instead of
//! generating a million keys. With `MDMLINK_MASTER_KEY` set (64 hex digits;
//! a PostgreSQL store needs one) the secrets are sealed under it; without
//! it, a SQLite store keeps them in plaintext form, as a store without a
//! master key does.

use mdmlink::{
    ServerKeypair, ServerToken,
    keypair::{CertificateParams, KeySize},
    organization::{InstallOptions, ServerOptions},
    portal::Portal,
    store::{
        AnyStore, StoreExt,
        master_key::{MasterKey, MasterKeySource},
        registry::Registry,
    },
    token::{self, SealOptions},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(location), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: fill_store STORE N [ORGS]");
        std::process::exit(2);
    };
    let n: usize = n.parse()?;
    let orgs: usize = match args.next() {
        Some(o) => o.parse()?,
        None => n.div_ceil(10),
    }
    .max(1);
    let per_org = n.div_ceil(orgs);
    if n == 0 || per_org * 2 > mdmlink::store::MAX_CERTIFICATES {
        return Err(
            format!("{n} servers in {orgs} organizations: at most 125 per organization").into(),
        );
    }
    let key = match std::env::var("MDMLINK_MASTER_KEY") {
        Ok(hex) => Some(MasterKeySource::Key(MasterKey::parse(
            hex.as_bytes(),
            "MDMLINK_MASTER_KEY",
        )?)),
        Err(_) => None,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut rng = mdmlink::SystemRng::default();
    let keypair = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Server", now),
    )?;
    let mut r = Registry::new(AnyStore::open_str(&location)?, key);
    r.add_organization("Org 00000", Portal::BusinessManager, None, now)?;
    r.add_server(
        Some("Org 00000"),
        "Server 0000000",
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
        Some("Org 00000"),
        "Server 0000000",
        "t.p7m",
        &file,
        InstallOptions::default(),
        now,
    )?;
    r.set_server_uuid(Some("Org 00000"), "Server 0000000", "bench-uuid")?;
    // The template's name keys are its names in lower case (ASCII names):
    // the copies' keys are made the same way in SQL.
    let mut store = r.into_store();
    let template = store.read(|tx| tx.server(1, "server 0000000"))?;
    if template.is_none() {
        return Err("the template server is not where it was put".into());
    }
    drop(store);
    bulk_copy(&location, n, per_org)?;
    println!("{location}: {n} servers in {orgs} organizations");
    Ok(())
}

/// Copies organization 1 and server 1 into organizations 1..orgs and
/// servers 1..n, in one transaction.
fn bulk_copy(location: &str, n: usize, per_org: usize) -> Result<(), Box<dyn std::error::Error>> {
    let orgs = n.div_ceil(per_org);
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        // Through psql (PostgreSQL's client, installed with the server): the
        // library keeps its connection to itself.
        let script = format!(
            "\\set ON_ERROR_STOP on
BEGIN;
SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) AS cols
  FROM information_schema.columns
 WHERE table_name = 'mdmlink_servers' AND table_schema = current_schema()
   AND is_generated = 'NEVER'
   AND column_name NOT IN ('id', 'organization_id', 'name', 'name_key') \\gset
INSERT INTO mdmlink_organizations (name, name_key, portal, customer, created_at)
SELECT format('Org %s', lpad(i::text, 5, '0')), format('org %s', lpad(i::text, 5, '0')),
       portal, customer, created_at
  FROM generate_series(1, {orgs} - 1) AS i,
       (SELECT * FROM mdmlink_organizations WHERE name_key = 'org 00000') AS t;
INSERT INTO mdmlink_servers (organization_id, name, name_key, :cols)
SELECT o.id, format('Server %s', lpad(i::text, 7, '0')),
       format('server %s', lpad(i::text, 7, '0')), :cols
  FROM generate_series(1, {n} - 1) AS i
  JOIN mdmlink_organizations o ON o.name_key = format('org %s', lpad((i / {per_org})::text, 5, '0')),
       (SELECT :cols FROM mdmlink_servers WHERE name_key = 'server 0000000') AS t;
COMMIT;
VACUUM ANALYZE mdmlink_organizations;
VACUUM ANALYZE mdmlink_servers;
"
        );
        // psql does not know mdmlink's `schema=` parameter: it becomes the
        // search path.
        let (url, schema) = split_schema(location);
        let script = match schema {
            Some(schema) => format!("SET search_path TO {schema};\n{script}"),
            None => script,
        };
        let mut psql = std::process::Command::new("psql")
            .args(["-q", "-X", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        std::io::Write::write_all(
            psql.stdin.as_mut().ok_or("psql has no stdin")?,
            script.as_bytes(),
        )?;
        drop(psql.stdin.take());
        if !psql.wait()?.success() {
            return Err("psql failed".into());
        }
        return Ok(());
    }
    if n < 2 {
        return Ok(());
    }
    let path = location.strip_prefix("sqlite:").unwrap_or(location);
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let columns: Vec<String> = tx
        .prepare(
            "SELECT name FROM pragma_table_info('servers')
             WHERE name NOT IN ('id', 'organization_id', 'name', 'name_key') ORDER BY cid",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let columns = columns.join(", ");
    // (A recursive count from 1 always yields its first row: only with at
    // least two organizations.)
    if orgs > 1 {
        tx.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1 - 1)
         INSERT INTO organizations (name, name_key, portal, customer, created_at)
         SELECT printf('Org %05d', i), printf('org %05d', i), portal, customer, created_at
         FROM k, (SELECT * FROM organizations WHERE name_key = 'org 00000')",
            [orgs as i64],
        )?;
    }
    tx.execute(
        &format!(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1 - 1)
             INSERT INTO servers (organization_id, name, name_key, {columns})
             SELECT o.id, printf('Server %07d', i), printf('server %07d', i), {columns}
             FROM k JOIN organizations o ON o.name_key = printf('org %05d', i / ?2),
                  (SELECT {columns} FROM servers WHERE name_key = 'server 0000000')"
        ),
        [n as i64, per_org as i64],
    )?;
    tx.commit()?;
    Ok(())
}

/// The URL without its `schema=NAME` query parameter, and the name.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_owned());
                false
            }
            None => true,
        })
        .collect();
    if rest.is_empty() {
        (base.to_owned(), schema)
    } else {
        (format!("{base}?{}", rest.join("&")), schema)
    }
}
