//! What the `server` commands print: the server table, the `check`
//! report, and the warnings they share.

use mdmlink::{
    organization::InstallOutcome,
    store::registry::{OrganizationActionItem, ServerListing},
};

use crate::{files, state};

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

/// `server list`: a JSON array, or a table (or a hint when there are no servers).
pub(super) fn print_listings(rows: &[ServerListing], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::Value::Array(rows.iter().map(ServerListing::to_json).collect())
        );
    } else if rows.is_empty() {
        print_no_servers();
    } else {
        print_table(rows);
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
pub(super) fn print_check_report(
    listings: &[ServerListing],
    items: &[OrganizationActionItem],
    warning_days: i64,
    json: bool,
) {
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
            listings.len(),
            warning_days
        );
    }
    let many = listings
        .iter()
        .any(|l| l.organization != listings[0].organization);
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
