//! Faults a test asks for: rate limiting (429 with `Retry-After`), server
//! errors on the next requests. They apply to `/v1/` requests that passed
//! authentication, in the order asked.

use http::{HeaderValue, Response, StatusCode, header};
use time::OffsetDateTime;

use super::documents::{ApiError, Source};

/// What a 429 carries in `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// A number of seconds (`Retry-After: 2`).
    Seconds(u32),
    /// An HTTP date this far after the simulator's clock
    /// (`Retry-After: Sun, 06 Dec 2026 19:00:02 GMT`).
    DateIn(time::Duration),
    /// No `Retry-After` header at all.
    Absent,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    throttled: u32,
    retry_after: Option<RetryAfter>,
    server_errors: u32,
    server_error_status: Option<StatusCode>,
}

impl Faults {
    pub(crate) fn throttle(&mut self, count: u32, retry_after: RetryAfter) {
        self.throttled = count;
        self.retry_after = Some(retry_after);
    }

    pub(crate) fn fail(&mut self, count: u32, status: StatusCode) {
        self.server_errors = count;
        self.server_error_status = Some(status);
    }

    /// The injected reply for this request, if one is due.
    pub(crate) fn next(
        &mut self,
        now: OffsetDateTime,
        error_id: impl FnOnce() -> String,
    ) -> Option<Response<Vec<u8>>> {
        if self.throttled > 0 {
            self.throttled -= 1;
            let retry_after = self.retry_after.unwrap_or(RetryAfter::Absent);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "The request rate limit has been reached",
                "Too many requests: wait for the time in Retry-After, then try again.",
                Source::Header("Authorization"),
            )
            .into_response(error_id());
            let value = match retry_after {
                RetryAfter::Seconds(s) => Some(s.to_string()),
                RetryAfter::DateIn(d) => Some(http_date(now + d)),
                RetryAfter::Absent => None,
            };
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Some(response);
        }
        if self.server_errors > 0 {
            self.server_errors -= 1;
            let status = self
                .server_error_status
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Some(
                ApiError::new(
                    status,
                    "INTERNAL_ERROR",
                    "An unexpected error occurred on the server side",
                    "The service could not answer now; try again later.",
                    Source::Path("/"),
                )
                .into_response(error_id()),
            );
        }
        None
    }
}

/// An IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(
            http_date(datetime!(1994-11-06 08:49:37 UTC)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(datetime!(2026-12-06 23:00:02 -2)),
            "Mon, 07 Dec 2026 01:00:02 GMT"
        );
    }
}
