//! `jwt`: an Access Management JWT signed with a server's current key.

use clap::Args;
use mdmlink::jwt;

use crate::{Failure, Globals, now_or, state};
use mdmlink::store::registry::RegistryError;

/// `mdmlink jwt`.
#[derive(Args, Debug)]
pub struct JwtArgs {
    /// The server.
    pub name: String,
    /// Issue it at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// The `jti` claim (default: a random UUID; Apple accepts each once).
    #[arg(long, value_name = "ID")]
    pub jti: Option<String>,
}

/// Prints the compact JWT (RS256; `iss` = the server's UUID, `iat`, `jti`,
/// `service_type` = `com.apple.maid`) on stdout.
pub fn run(g: &Globals, a: &JwtArgs) -> Result<u8, Failure> {
    let now = now_or(a.now.as_deref(), "--now")?;
    let mut rng = mdmlink::SystemRng::default();
    let jti = match &a.jti {
        Some(j) => j.clone(),
        None => jwt::random_jti(&mut rng).map_err(|e| Failure::new(e.to_string()))?,
    };
    let mut st = state::open_present(g)?;
    let token = st
        .registry
        .access_management_jwt(g.org(), &a.name, now, &jti, &mut rng)
        .map_err(|e| {
            let hint = match e {
                RegistryError::Organization(
                    mdmlink::organization::OrganizationError::NoServerUuid { .. },
                ) => format!(
                    "; run `mdmlink server fetch-account \"{0}\"` or `mdmlink server set-uuid \"{0}\" UUID`",
                    a.name
                ),
                _ => return st.fail(e),
            };
            Failure::file(&st.path, format!("{e}{hint}"))
        })?;
    println!("{token}");
    Ok(0)
}
