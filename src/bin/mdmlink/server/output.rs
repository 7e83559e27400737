//! What the `server` commands print: the server table, the `check`
//! report, and the warnings they share.

use std::io::Write as _;

use mdmlink::{
    expiry::ExpiryPolicy,
    organization::InstallOutcome,
    store::registry::{HealthSummary, RegistryError, ServerListing},
};
use time::OffsetDateTime;

use crate::{Failure, files, state};

pub(super) fn label(s: &str) -> String {
    files::escape_label(s).into_owned()
}

/// One warning line when secrets go into a store without a master key.
pub(super) fn warn_unencrypted(st: &mut state::Opened) {
    if let Ok(false) = st.registry.is_encrypted() {
        eprintln!(
            "warning: {}: private keys and tokens are stored unencrypted (protected by the file's mode 0600); set MDMLINK_PASSPHRASE or MDMLINK_MASTER_KEY and run `mdmlink store rekey` to encrypt them",
            st.path.display()
        );
    }
}

/// The servers as a table.
fn print_table(listings: &[ServerListing]) {
    let header = [
        "ORG",
        "NAME",
        "PORTAL",
        "CUSTOMER/SITE",
        "EXPIRES",
        "DAYS",
        "HEALTH",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    for l in listings {
        let s = &l.summary;
        let customer = s.options.customer.clone().or_else(|| l.customer.clone());
        let cs = match (&customer, &s.options.site) {
            (Some(c), Some(site)) => format!("{c}/{site}"),
            (Some(c), None) => c.clone(),
            (None, Some(site)) => format!("-/{site}"),
            _ => "-".into(),
        };
        // The same health `check` reports: the worst of token and certificate.
        let mut health = l.status.worst().label().to_owned();
        if l.status.staging_pending_since.is_some() {
            health.push_str(" (new key staged)");
        }
        rows.push([
            label(&l.organization),
            label(&s.name),
            l.portal.slug().to_owned(),
            label(&cs),
            s.token_expires_at
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| "-".into()),
            l.status
                .token
                .and_then(|h| h.days_left())
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            health,
        ]);
    }
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            out.push_str(c);
            if i + 1 != cells.len() {
                out.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&header.map(String::from));
    for r in &rows {
        line(r);
    }
}

/// `server list`: a table (or a hint when there are no servers).
pub(super) fn print_listings(rows: &[ServerListing]) {
    if rows.is_empty() {
        print_no_servers();
    } else {
        print_table(rows);
    }
}

/// `server list --json`: the JSON array written as the servers stream from
/// the store, one object at a time (memory does not grow with the store).
pub(super) fn stream_listings_json(
    st: &mut state::Opened,
    organization: Option<&str>,
    policy: &ExpiryPolicy,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first = true;
    let written = st
        .registry
        .for_each_server(organization, policy, now, |listing| {
            out.write_all(if first { b"[" } else { b"," })?;
            first = false;
            serde_json::to_writer(&mut out, &listing.to_json()).map_err(std::io::Error::from)?;
            Ok::<_, Streamed>(())
        });
    match written {
        Ok(()) => {}
        Err(Streamed::Registry(e)) => return Err(st.fail(e)),
        Err(Streamed::Io(e)) => return Err(Failure::new(format!("cannot write the list: {e}"))),
    }
    let end = (if first { "[]\n" } else { "]\n" }).as_bytes();
    out.write_all(end)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("cannot write the list: {e}")))
}

/// Why streaming the list stopped.
enum Streamed {
    Registry(RegistryError),
    Io(std::io::Error),
}

impl From<RegistryError> for Streamed {
    fn from(e: RegistryError) -> Self {
        Streamed::Registry(e)
    }
}

impl From<std::io::Error> for Streamed {
    fn from(e: std::io::Error) -> Self {
        Streamed::Io(e)
    }
}

/// The hint `server list` prints for an empty or missing store.
pub(super) fn print_no_servers() {
    println!("no servers yet; add one with `mdmlink server add NAME --portal ...`");
}

/// What `server install-token` did, in words.
pub(super) fn install_outcome(outcome: InstallOutcome) -> &'static str {
    match outcome {
        InstallOutcome::First => "installed the first token",
        InstallOutcome::Renewed => "renewed the token",
        InstallOutcome::KeyPromoted => {
            "installed the token for the new key; the new key is now current and the old one is retired"
        }
        _ => "installed the token",
    }
}

/// `check`: the servers that need action, as JSON or one line each (with
/// an all-clear line when none does).
pub(super) fn print_check_report(report: &HealthSummary, warning_days: i64, json: bool) {
    let items = &report.items;
    if json {
        println!(
            "{}",
            serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
        );
        return;
    }
    if items.is_empty() {
        println!(
            "OK: all {} server(s) valid for more than {} days",
            report.servers, warning_days
        );
    }
    let many = report.several_organizations;
    for i in items {
        let org = if many {
            format!("[{}] ", label(&i.organization))
        } else {
            String::new()
        };
        println!(
            "{}: {org}\"{}\": {}; {}",
            i.item.health.label().to_uppercase(),
            label(&i.item.server),
            i.item.health,
            i.item.advice
        );
    }
}
