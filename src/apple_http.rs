//! The one HTTP agent configuration of mdmlink's clients for Apple's
//! services (feature `http`): the device assignment service's sessions
//! (`session::client`), its device and profile calls (`dep::client`) and the
//! School and Business Manager API (`portal_api::transport`).
//!
//! Statuses are replies, not errors (each client classifies them); no
//! redirect is followed (a token or an access token is never sent to another
//! host); each request as a whole, from connecting to the last byte of the
//! reply, takes at most its timeout. Each client bounds the reply body it
//! reads.

use std::time::Duration;

/// How long one request to Apple may take as a whole, unless the caller
/// sets its own: long enough for a page of 1,000 devices on a slow link,
/// short enough that a service that stopped answering is reported.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A ureq agent with mdmlink's configuration and `timeout` per request.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
