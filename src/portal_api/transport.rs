//! The HTTPS transport (feature `http`): ureq, with mdmlink's one agent
//! configuration (`apple_http`: no redirects, statuses returned as replies,
//! a timeout per request) and the reply body bounded by [`MAX_REPLY_BODY`].

use std::time::Duration as StdDuration;

use http::{Request, Response};

use super::client::Transport;
use super::{MAX_REPLY_BODY, PortalApiError};

/// A [`Transport`] over ureq. `Send + Sync`; clones share connections.
#[derive(Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl core::fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UreqTransport").finish_non_exhaustive()
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl UreqTransport {
    /// A transport with a 60 s timeout per request.
    pub fn new() -> Self {
        Self::with_timeout(crate::apple_http::REQUEST_TIMEOUT)
    }

    /// A transport with `timeout` per request (connection, sending and
    /// reading the reply).
    pub fn with_timeout(timeout: StdDuration) -> Self {
        Self {
            agent: crate::apple_http::agent(timeout),
        }
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, PortalApiError> {
        let response = self
            .agent
            .run(request)
            .map_err(|e| PortalApiError::Transport {
                reason: e.to_string(),
            })?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_REPLY_BODY as u64)
            .read_to_vec()
            .map_err(|e| match e {
                // A hostile or broken server: not worth retrying.
                ureq::Error::BodyExceedsLimit(limit) => PortalApiError::Malformed {
                    reason: format!("a reply of more than {limit} bytes"),
                },
                e => PortalApiError::Transport {
                    reason: format!("reading the reply: {e}"),
                },
            })?;
        Ok(Response::from_parts(parts, bytes))
    }
}
