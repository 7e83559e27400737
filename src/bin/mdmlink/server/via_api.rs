//! `server add --via-api` and `server rotate-key --via-api`: one
//! [`mdmlink::portal_api::link`] call each (local checks, key generation,
//! the portal's create or certificate update, the store's write), then
//! what to do next: download the token from the server's page.

use mdmlink::{
    Portal,
    keypair::KeySize,
    organization::ServerOptions,
    portal_api::{PortalApiError, link},
};

use super::{args::*, output};
use crate::{
    Failure, Globals, files, now_or,
    portal::{self, Connection},
    state,
};

fn connection(base_url: &Option<String>, token_url: &Option<String>) -> Connection {
    Connection {
        base_url: base_url.clone(),
        token_url: token_url
            .clone()
            .unwrap_or_else(|| mdmlink::portal_api::TOKEN_URL.to_owned()),
    }
}

fn key_size(bits: u32) -> Result<KeySize, Failure> {
    KeySize::from_bits(bits).map_err(|e| Failure::new(format!("--bits: {e}")))
}

/// Writes the certificate to `--cert-out` when given (PEM, or DER with --der).
fn write_certificate(
    path: Option<&std::path::Path>,
    pem: &str,
    der: &[u8],
    as_der: bool,
    force: bool,
) -> Result<(), Failure> {
    if let Some(path) = path {
        let bytes = if as_der { der } else { pem.as_bytes() };
        files::write(path, bytes, files::PUBLIC, force)?;
        println!(
            "wrote {} (the certificate now in the portal)",
            path.display()
        );
    }
    Ok(())
}

fn next_step(portal: Portal, name: &str) {
    println!(
        "next: in {}, {}: open \"{}\", Download Token, then run `mdmlink server install-token \"{}\" FILE`",
        portal.product_name(),
        portal.settings_path().trim_end_matches(" > Add"),
        crate::label(name),
        crate::label(name)
    );
}

/// `server add NAME --via-api`.
pub fn add(g: &Globals, a: &AddArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let size = key_size(a.bits)?;
    if let Some(out) = &a.cert_out
        && !a.force
    {
        files::check_absent(out)?;
    }
    let mut st = state::open_present(g)?;
    let client = portal::client(&mut st, g, &connection(&a.base_url, &a.token_url))?;
    let mut options = ServerOptions::default().with_release_devices(a.release_devices);
    if let Some(c) = &a.customer {
        options = options.with_customer(c.clone());
    }
    if let Some(s) = &a.site {
        options = options.with_site(s.clone());
    }
    let added = link::add_server(
        &mut st.registry,
        &client,
        g.org(),
        &a.name,
        options,
        size,
        &mut mdmlink::SystemRng::default(),
        now,
    )
    .map_err(|e| {
        portal::link_failure(
            &st,
            e,
            Some("`mdmlink server add NAME` (without --via-api), then upload the certificate in the portal"),
        )
    })?;
    output::warn_unencrypted(&mut st);
    let org = &added.organization;
    println!(
        "added \"{}\" to \"{}\" ({}) and created it in the portal (id {})",
        crate::label(&added.name),
        crate::label(&org.name),
        org.portal,
        crate::label(&added.portal_server.id)
    );
    write_certificate(
        a.cert_out.as_deref(),
        &added.certificate_pem,
        &added.certificate_der,
        a.der,
        a.force,
    )?;
    next_step(org.portal, &added.name);
    Ok(0)
}

/// `server rotate-key NAME --via-api`.
pub fn rotate_key(g: &Globals, a: &RotateArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let size = key_size(a.bits)?;
    if let Some(out) = &a.cert_out
        && !a.force
    {
        files::check_absent(out)?;
    }
    let mut st = state::open_present(g)?;
    let client = portal::client(&mut st, g, &connection(&a.base_url, &a.token_url))?;
    let org = st.registry.organization(g.org()).map_err(|e| st.fail(e))?;
    let rotated = link::rotate_key(
        &mut st.registry,
        &client,
        Some(&org.name),
        &a.name,
        None,
        size,
        &mut mdmlink::SystemRng::default(),
        now,
    )
    .map_err(|e| match e {
        link::LinkError::Registry(mdmlink::store::registry::RegistryError::Organization(
            e @ mdmlink::organization::OrganizationError::AlreadyStaged { .. },
        )) => Failure::file(
            &st.path,
            format!("{e} (`mdmlink server discard-staging` discards it first)"),
        ),
        e @ link::LinkError::Api(PortalApiError::BusinessOnly { .. }) => portal::link_failure(
            &st,
            e,
            Some("`mdmlink server rotate-key NAME` (without --via-api), then upload the new certificate in the portal"),
        ),
        e => portal::link_failure(&st, e, None),
    })?;
    println!(
        "\"{}\": staged a new keypair and replaced the certificate in the portal (id {}); the current key and token keep working",
        crate::label(&rotated.name),
        crate::label(&rotated.portal_server_id)
    );
    write_certificate(
        a.cert_out.as_deref(),
        &rotated.staged_certificate_pem,
        &rotated.staged_certificate_der,
        a.der,
        a.force,
    )?;
    next_step(org.portal, &rotated.name);
    Ok(0)
}
