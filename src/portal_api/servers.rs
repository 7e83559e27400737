//! Device management services (`mdmServers`): Apple's *Get Device
//! Management Services*, *Get Device Management Service Information*, *Get
//! the Device Serial Numbers for a Device Management Service*, and, in Apple
//! Business's API only (2.1, June 2026), *Create*, *Update* and *Delete a
//! Device Management Service*.
//!
//! Create sends `serverName` and `serverCertificate` (`name`: a file name,
//! `data`: the certificate's DER in base64; both required) and
//! `enableMdmDisownFlag`; update (`PATCH`) sends only the attributes that
//! change, the others keep their values; delete answers 204 and is refused
//! while devices are assigned to the server.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use super::PortalApiError;
use super::document::{Resource, encode_segment};

/// `GET`/`POST /v1/mdmServers`.
pub const PATH: &str = "/v1/mdmServers";

/// The resource type.
pub const TYPE: &str = "mdmServers";

/// Longest server name the portals accept.
pub const MAX_SERVER_NAME: usize = 50;

/// A device management service (`mdmServers` resource).
pub type MdmServer = Resource<MdmServerAttributes>;

/// `MdmServer.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MdmServerAttributes {
    /// `serverName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// `serverType` (`MDM`, `APPLE_CONFIGURATOR`, `APPLE_MDM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_type: Option<String>,
    /// `createdDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// `updatedDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_date_time: Option<String>,
    /// `status` (`ACTIVE`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `deviceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_count: Option<u64>,
    /// `enableMdmDisownFlag`: the server may release devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_mdm_disown_flag: Option<bool>,
    /// `defaultProductFamilies` (`IPAD`, `IPHONE`, `MAC`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_product_families: Option<Vec<String>>,
    /// `lastConnectedDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected_date_time: Option<String>,
    /// `lastConnectedIp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected_ip: Option<String>,
}

/// `serverCertificate`: the certificate the portal encrypts the server's
/// tokens to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerCertificateUpload {
    /// `name`: a file name for the portal to show (`Main MDM.cer`).
    pub name: String,
    /// `data`: the certificate's DER, base64.
    pub data: String,
}

impl ServerCertificateUpload {
    /// From the certificate's DER and the file name the portal shows.
    pub fn from_der(name: &str, der: &[u8]) -> Result<Self, PortalApiError> {
        use der::Decode as _;
        x509_cert::Certificate::from_der(der).map_err(|e| PortalApiError::InvalidArgument {
            reason: format!("the server certificate is not DER X.509 ({e})"),
        })?;
        let name = name.trim();
        if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
            return Err(PortalApiError::InvalidArgument {
                reason: "the certificate's file name must be 1 to 255 characters".into(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            data: STANDARD.encode(der),
        })
    }
}

/// What to create: `POST /v1/mdmServers`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateServer {
    /// `serverName`.
    pub server_name: String,
    /// `serverCertificate`.
    pub certificate: ServerCertificateUpload,
    /// `enableMdmDisownFlag` (from the server's release-devices option).
    pub enable_mdm_disown_flag: bool,
}

impl CreateServer {
    /// A new server named `server_name` with `certificate`.
    pub fn new(
        server_name: &str,
        certificate: ServerCertificateUpload,
        enable_mdm_disown_flag: bool,
    ) -> Self {
        Self {
            server_name: server_name.to_owned(),
            certificate,
            enable_mdm_disown_flag,
        }
    }
}

/// What to change: `PATCH /v1/mdmServers/{id}`; `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateServer {
    /// `serverName`.
    pub server_name: Option<String>,
    /// `serverCertificate` (a key rotation).
    pub certificate: Option<ServerCertificateUpload>,
    /// `enableMdmDisownFlag`.
    pub enable_mdm_disown_flag: Option<bool>,
    /// `defaultProductFamilies`.
    pub default_product_families: Option<Vec<String>>,
}

impl UpdateServer {
    /// Replaces the certificate only.
    pub fn certificate(certificate: ServerCertificateUpload) -> Self {
        Self {
            certificate: Some(certificate),
            ..Self::default()
        }
    }

    /// Renames only.
    pub fn rename(server_name: &str) -> Self {
        Self {
            server_name: Some(server_name.to_owned()),
            ..Self::default()
        }
    }

    /// `true` when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.server_name.is_none()
            && self.certificate.is_none()
            && self.enable_mdm_disown_flag.is_none()
            && self.default_product_families.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WriteAttributes<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    server_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_certificate: Option<&'a ServerCertificateUpload>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_mdm_disown_flag: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_product_families: Option<&'a [String]>,
}

#[derive(Serialize)]
struct WriteData<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    attributes: WriteAttributes<'a>,
}

#[derive(Serialize)]
struct WriteDocument<'a> {
    data: WriteData<'a>,
}

fn check_name(name: &str) -> Result<(), PortalApiError> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_SERVER_NAME
        || name.chars().any(char::is_control)
    {
        return Err(PortalApiError::InvalidArgument {
            reason: format!(
                "a server name is 1 to {MAX_SERVER_NAME} characters without control characters"
            ),
        });
    }
    Ok(())
}

fn encode(doc: &WriteDocument<'_>) -> Result<Vec<u8>, PortalApiError> {
    serde_json::to_vec(doc).map_err(|e| PortalApiError::InvalidArgument {
        reason: format!("cannot encode the request ({e})"),
    })
}

/// The body of *Create a Device Management Service*.
pub fn create_body(create: &CreateServer) -> Result<Vec<u8>, PortalApiError> {
    check_name(&create.server_name)?;
    encode(&WriteDocument {
        data: WriteData {
            kind: TYPE,
            id: None,
            attributes: WriteAttributes {
                server_name: Some(&create.server_name),
                server_certificate: Some(&create.certificate),
                enable_mdm_disown_flag: Some(create.enable_mdm_disown_flag),
                default_product_families: None,
            },
        },
    })
}

/// The body of *Update a Device Management Service*: only what changes.
pub fn update_body(id: &str, update: &UpdateServer) -> Result<Vec<u8>, PortalApiError> {
    if update.is_empty() {
        return Err(PortalApiError::InvalidArgument {
            reason: "nothing to update".into(),
        });
    }
    if let Some(name) = &update.server_name {
        check_name(name)?;
    }
    encode(&WriteDocument {
        data: WriteData {
            kind: TYPE,
            id: Some(id),
            attributes: WriteAttributes {
                server_name: update.server_name.as_deref(),
                server_certificate: update.certificate.as_ref(),
                enable_mdm_disown_flag: update.enable_mdm_disown_flag,
                default_product_families: update.default_product_families.as_deref(),
            },
        },
    })
}

/// `/v1/mdmServers/{id}`.
pub fn server_path(id: &str) -> Result<String, PortalApiError> {
    Ok(format!("{PATH}/{}", encode_segment(id)?))
}

/// `/v1/mdmServers/{id}/relationships/devices`.
pub fn devices_linkage_path(id: &str) -> Result<String, PortalApiError> {
    Ok(format!("{}/relationships/devices", server_path(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate() -> ServerCertificateUpload {
        let mut rng = crate::SystemRng::default();
        let kp = crate::ServerKeypair::generate(
            &mut rng,
            crate::KeySize::Rsa2048,
            &crate::keypair::CertificateParams::new("Main MDM", time::OffsetDateTime::now_utc()),
        )
        .unwrap();
        ServerCertificateUpload::from_der("Main MDM.cer", &kp.certificate_der().unwrap()).unwrap()
    }

    #[test]
    fn bodies_are_apples_and_patch_sends_only_changes() {
        let cert = certificate();
        let body = create_body(&CreateServer::new("Main MDM", cert.clone(), true)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"]["type"], "mdmServers");
        assert!(v["data"].get("id").is_none());
        let a = &v["data"]["attributes"];
        assert_eq!(a["serverName"], "Main MDM");
        assert_eq!(a["serverCertificate"]["name"], "Main MDM.cer");
        assert_eq!(a["serverCertificate"]["data"], cert.data);
        assert_eq!(a["enableMdmDisownFlag"], true);
        let body = update_body("2A87", &UpdateServer::certificate(cert)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"]["id"], "2A87");
        let keys: Vec<_> = v["data"]["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["serverCertificate"]);
        assert!(update_body("2A87", &UpdateServer::default()).is_err());
        assert!(update_body("2A87", &UpdateServer::rename(&"x".repeat(51))).is_err());
        assert!(ServerCertificateUpload::from_der("a.cer", b"not der").is_err());
        assert_eq!(
            devices_linkage_path("2A87").unwrap(),
            "/v1/mdmServers/2A87/relationships/devices"
        );
    }
}
