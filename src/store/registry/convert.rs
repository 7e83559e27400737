//! A server's row to the organization model and back, opening and sealing
//! its secrets on the way.

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::RegistryError;
use crate::{
    name::ServerName,
    organization::{InstalledToken, MdmServer, ServerRecord},
    store::{
        OrganizationId, SecretField, ServerRow, ServerSummary,
        master_key::{MasterKeyError, Sealer},
    },
    token::ServerToken,
};

fn corrupt(server: &str, reason: impl core::fmt::Display) -> RegistryError {
    RegistryError::CorruptRow {
        server: server.to_owned(),
        reason: reason.to_string(),
    }
}

fn open_text(
    sealer: &Sealer,
    row: &ServerRow,
    field: SecretField,
) -> Result<Option<Zeroizing<String>>, RegistryError> {
    let s = &row.summary;
    let Some(sealed) = row.secret(field) else {
        return Ok(None);
    };
    let bytes = sealer.open(s.organization_id, s.id, field, sealed)?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| corrupt(&s.name, format!("{field} is not text")))?;
    Ok(Some(Zeroizing::new(text)))
}

/// The server's installed token alone, opened.
pub(crate) fn token_of(
    sealer: &Sealer,
    row: &ServerRow,
) -> Result<Option<ServerToken>, RegistryError> {
    open_text(sealer, row, SecretField::TokenCredentials)?
        .map(|json| ServerToken::from_json(&json).map_err(|e| corrupt(&row.summary.name, e)))
        .transpose()
}

/// The model of one server from its row, private keys and token opened.
pub(crate) fn to_model(sealer: &Sealer, row: &ServerRow) -> Result<MdmServer, RegistryError> {
    let s = &row.summary;
    let token = match open_text(sealer, row, SecretField::TokenCredentials)? {
        Some(json) => Some(InstalledToken {
            token: ServerToken::from_json(&json).map_err(|e| corrupt(&s.name, e))?,
            installed_at: s.token_installed_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            downloaded_by: s.token_downloaded_by.clone(),
            certificate_serial: s.token_certificate_serial.clone(),
        }),
        None => None,
    };
    let record = ServerRecord {
        name: s.name.clone(),
        certificate_pem: row.certificate_pem.clone(),
        private_key_pem: open_text(sealer, row, SecretField::PrivateKey)?.map(|t| t.to_string()),
        staged_certificate_pem: row.staged_certificate_pem.clone(),
        staged_private_key_pem: open_text(sealer, row, SecretField::StagedPrivateKey)?
            .map(|t| t.to_string()),
        staged_since: s.staged_at,
        token,
        options: s.options.clone(),
        replacement: s.replacement,
        created_at: s.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        server_uuid: s.server_uuid.clone(),
    };
    Ok(MdmServer::from_record(record)?)
}

/// The first characters of a consumer key: enough to tell tokens apart in
/// a listing, not a credential.
pub(crate) fn consumer_key_hint(consumer_key: &str) -> String {
    consumer_key.chars().take(12).collect()
}

/// The non-secret columns of `server`.
pub(crate) fn summary_of(
    server: &MdmServer,
    id: i64,
    organization: OrganizationId,
    token_issued_at: Option<OffsetDateTime>,
) -> ServerSummary {
    let staged_cert = server.staged().and_then(|s| s.keypair.certificate());
    let token = server.token();
    ServerSummary {
        id,
        organization_id: organization,
        name: server.name().as_str().to_owned(),
        name_key: server.name().comparison_key().to_owned(),
        options: server.options().clone(),
        created_at: Some(server.created_at()),
        certificate_serial: server.certificate().map(|c| c.serial_hex()),
        certificate_not_after: server.certificate().map(|c| c.not_after()),
        staged_certificate_serial: staged_cert.map(|c| c.serial_hex()),
        staged_certificate_not_after: staged_cert.map(|c| c.not_after()),
        staged_at: server.staged().map(|s| s.since),
        token_expires_at: token.map(|t| t.token.access_token_expiry()),
        token_installed_at: token.map(|t| t.installed_at),
        token_downloaded_by: token.and_then(|t| t.downloaded_by.clone()),
        token_issued_at: token.and(token_issued_at),
        token_certificate_serial: token.and_then(|t| t.certificate_serial.clone()),
        token_consumer_key_hint: token.map(|t| consumer_key_hint(t.token.consumer_key())),
        replacement: server.replacement(),
        server_uuid: server.server_uuid().map(str::to_owned),
        portal_server_id: None,
    }
}

/// `server`'s whole row, its secrets sealed for (`organization`, `id`).
pub(crate) fn to_row(
    sealer: &Sealer,
    server: &MdmServer,
    id: i64,
    organization: OrganizationId,
    token_issued_at: Option<OffsetDateTime>,
) -> Result<ServerRow, RegistryError> {
    let name = server.name().as_str();
    let key_err = |source| RegistryError::Key {
        server: name.to_owned(),
        source,
    };
    let seal = |field, bytes: &[u8]| -> Result<_, MasterKeyError> {
        sealer.seal(organization, id, field, bytes)
    };
    let private_key = match server.keypair() {
        Some(k) => Some(seal(
            SecretField::PrivateKey,
            k.private_key_pem().map_err(key_err)?.as_bytes(),
        )?),
        None => None,
    };
    let staged_private_key = match server.staged() {
        Some(s) => Some(seal(
            SecretField::StagedPrivateKey,
            s.keypair.private_key_pem().map_err(key_err)?.as_bytes(),
        )?),
        None => None,
    };
    let token = match server.token() {
        Some(t) => Some(seal(
            SecretField::TokenCredentials,
            t.token.to_json().as_bytes(),
        )?),
        None => None,
    };
    Ok(ServerRow {
        summary: summary_of(server, id, organization, token_issued_at),
        certificate_pem: server.certificate().map(|c| c.to_pem()),
        staged_certificate_pem: server
            .staged()
            .and_then(|s| s.keypair.certificate())
            .map(|c| c.to_pem()),
        private_key,
        staged_private_key,
        token,
    })
}

/// The key a name is stored under, or the "unknown server" error.
pub(crate) fn name_key(organization: &str, name: &str) -> Result<String, RegistryError> {
    ServerName::parse(name)
        .map(|n| n.comparison_key().to_owned())
        .map_err(|_| {
            RegistryError::NotFound(
                crate::not_found::NotFound::server(name).in_organization(organization),
            )
        })
}
