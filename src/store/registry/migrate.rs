//! A store written by mdmlink 0.1.0 (schema version 2: one organization,
//! each server's record as JSON, private keys as PKCS#8 PEM, encrypted when
//! a passphrase was set, and token files as the portal served them) becomes
//! rows: one organization, its servers, their keys, staged keys, tokens,
//! UUIDs, events and options. One transaction: nothing changes on failure.

use time::OffsetDateTime;

use super::{Registry, RegistryError, insert};
use crate::{
    SecretString, ServerKeypair,
    keypair::KeyError,
    organization::{InstallOptions, Organization},
    store::{OrganizationRow, SqliteStore, StoreError},
    token,
};

impl Registry<SqliteStore> {
    /// Converts what mdmlink 0.1.0 stored, if anything is waiting
    /// ([`SqliteStore::has_legacy`]); returns the organization's name.
    /// `legacy_passphrase` decrypts 0.1.0's encrypted private keys (it was
    /// `MDMLINK_PASSPHRASE`). Opening the stored tokens costs one RSA
    /// operation per server, once.
    pub fn migrate_legacy(
        &mut self,
        legacy_passphrase: Option<&SecretString>,
        now: OffsetDateTime,
    ) -> Result<Option<String>, RegistryError> {
        if !self.store.has_legacy()? {
            return Ok(None);
        }
        let sealer = self.sealer()?;
        let mut migrated = None;
        self.store
            .take_legacy(|stored, tx| -> Result<(), RegistryError> {
                let mut record = stored.record.clone();
                for server in &mut record.servers {
                    for pem in [
                        &mut server.private_key_pem,
                        &mut server.staged_private_key_pem,
                    ] {
                        let Some(text) = pem.as_deref() else { continue };
                        if !text.contains("ENCRYPTED PRIVATE KEY") {
                            continue;
                        }
                        let pass = legacy_passphrase.ok_or(RegistryError::LegacyPassphrase {
                            server: server.name.clone(),
                            wrong: false,
                        })?;
                        let keypair = ServerKeypair::from_pem(
                            text.as_bytes(),
                            Some(pass.expose().as_bytes()),
                        )
                        .map_err(|e| match e {
                            KeyError::WrongPassword => RegistryError::LegacyPassphrase {
                                server: server.name.clone(),
                                wrong: true,
                            },
                            source => RegistryError::Key {
                                server: server.name.clone(),
                                source,
                            },
                        })?;
                        let plain =
                            keypair
                                .private_key_pem()
                                .map_err(|source| RegistryError::Key {
                                    server: server.name.clone(),
                                    source,
                                })?;
                        *pem = Some(plain.to_string());
                    }
                }
                let created_at = record
                    .servers
                    .iter()
                    .map(|s| s.created_at)
                    .min()
                    .unwrap_or(now);
                let mut org = Organization::from_record(record)?;
                for (name, file) in &stored.token_files {
                    let server = org.server(name).ok_or_else(|| RegistryError::CorruptRow {
                        server: name.clone(),
                        reason: "a token is stored for a server that does not exist".into(),
                    })?;
                    let keypair = server.keypair().ok_or_else(|| RegistryError::CorruptRow {
                        server: name.clone(),
                        reason: "no private key to open its token".into(),
                    })?;
                    let opened = token::open(&file.data, keypair).map_err(|e| {
                        RegistryError::CorruptRow {
                            server: name.clone(),
                            reason: format!("stored token: {e}"),
                        }
                    })?;
                    // Binding a token clears a pending event; 0.1.0 kept both.
                    let replacement = server.replacement();
                    org.install_opened_token(
                        name,
                        opened,
                        InstallOptions {
                            downloaded_by: file.downloaded_by.clone(),
                            force: true,
                        },
                        file.installed_at,
                    )?;
                    if let Some((reason, at)) = replacement {
                        org.record_event(name, reason, at)?;
                    }
                }
                let mut row = OrganizationRow::new(org.name(), org.portal(), created_at)?;
                row.id = tx.insert_organization(&row).map_err(|e| match e {
                    StoreError::DuplicateName { .. } => RegistryError::CorruptRow {
                        server: org.name().to_owned(),
                        reason: "an organization of this name exists beside the 0.1.0 one".into(),
                    },
                    e => e.into(),
                })?;
                for server in org.servers() {
                    insert(tx, &sealer, &row, server, None)?;
                }
                migrated = Some(org.name().to_owned());
                Ok(())
            })?;
        Ok(migrated)
    }
}
