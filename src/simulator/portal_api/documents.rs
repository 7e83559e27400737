//! JSON:API plumbing shared by every endpoint: replies, error documents,
//! query parameters, `limit`, cursors, `fields[...]` and links.

use base64::Engine as _;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::session::oauth::percent_decode;

/// The most items one page may hold (`limit` above this is a 400).
pub(crate) const MAX_LIMIT: u64 = 1000;
/// The page size when the request names none.
pub(crate) const DEFAULT_LIMIT: u64 = 100;
/// Most query parameters one request may carry.
const MAX_QUERY_PARAMETERS: usize = 32;

/// Where in the request an error points (JSON:API `source`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A query parameter.
    Parameter(&'a str),
    /// A JSON pointer into the request body.
    Pointer(&'a str),
    /// A request header.
    Header(&'a str),
    /// The request path.
    Path(&'a str),
}

impl Source<'_> {
    fn to_json(self) -> Value {
        match self {
            Source::Parameter(p) => json!({ "parameter": p }),
            Source::Pointer(p) => json!({ "pointer": p }),
            Source::Header(h) => json!({ "header": h }),
            // JSON:API has no member for the path; the pointer to the
            // request's target is the closest.
            Source::Path(p) => json!({ "parameter": p }),
        }
    }
}

/// A failure on its way to becoming a JSON:API error document.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: String,
    pub(crate) source: Value,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
        source: Source<'_>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            source: source.to_json(),
        }
    }

    /// 400: a query parameter is wrong.
    pub(crate) fn parameter(name: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PARAMETER_ERROR.INVALID",
            "A parameter has an invalid value",
            detail,
            Source::Parameter(name),
        )
    }

    /// 400: the body is not what the endpoint takes.
    pub(crate) fn body(pointer: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ENTITY_ERROR.INVALID",
            "The request entity is invalid",
            detail,
            Source::Pointer(pointer),
        )
    }

    /// 422: a well-formed body with an attribute value the service refuses.
    pub(crate) fn attribute(pointer: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ENTITY_ERROR.ATTRIBUTE.INVALID",
            "An attribute value is invalid",
            detail,
            Source::Pointer(pointer),
        )
    }

    /// 404 for the resource named in the path.
    pub(crate) fn not_found(path: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The specified resource does not exist",
            detail,
            Source::Path(path),
        )
    }

    /// 409: the request conflicts with the current state.
    pub(crate) fn conflict(pointer: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ENTITY_ERROR.CONFLICT",
            "The request conflicts with the current state of the resource",
            detail,
            Source::Pointer(pointer),
        )
    }

    /// 403: the account may not do this.
    pub(crate) fn forbidden(path: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_ERROR",
            "This request is forbidden for security reasons",
            detail,
            Source::Path(path),
        )
    }

    /// 401 with the reason.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHORIZED",
            "Authentication credentials are missing or invalid",
            detail,
            Source::Header("Authorization"),
        )
    }

    /// The error document, with a fresh `id`.
    pub(crate) fn into_response(self, id: String) -> Response<Vec<u8>> {
        let body = json!({
            "errors": [{
                "id": id,
                "status": self.status.as_u16().to_string(),
                "code": self.code,
                "title": self.title,
                "detail": self.detail,
                "source": self.source,
            }]
        });
        let mut response = document(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mdmlink-simulator\""),
            );
        }
        response
    }
}

/// A JSON reply: a `Value`, or a typed document (a page of devices is
/// serialized straight from its structs, without a `Value` tree).
pub(crate) fn document<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
) -> Response<Vec<u8>> {
    // Serializing plain data structures and `Value`s cannot fail.
    let mut response = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Times as Apple writes them (RFC 3339, UTC, milliseconds).
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// The request's query parameters, percent-decoded; each may appear once.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query`, refusing repeated or undecodable parameters and any
    /// name outside `allowed` (Apple answers 400 for unknown parameters).
    pub(crate) fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let (Some(name), Some(value)) =
                (percent_decode(name, true), percent_decode(value, true))
            else {
                return Err(ApiError::parameter(
                    "query",
                    "The query string is not valid percent-encoding.",
                ));
            };
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::parameter(
                    &name,
                    format!(
                        "The parameter '{}' is not allowed on this endpoint; allowed: {}.",
                        crate::session::oauth::printable(&name),
                        allowed.join(", ")
                    ),
                ));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::parameter(
                    &name,
                    format!("The parameter '{name}' appears more than once."),
                ));
            }
            if pairs.len() >= MAX_QUERY_PARAMETERS {
                return Err(ApiError::parameter("query", "Too many query parameters."));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub(crate) fn limit(&self) -> Result<u64, ApiError> {
        let Some(raw) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match raw.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::parameter(
                "limit",
                format!(
                    "The limit '{}' is not valid: use a whole number from 1 to {MAX_LIMIT}.",
                    crate::session::oauth::printable(raw)
                ),
            )),
        }
    }

    /// The position a `cursor` parameter stands for (0 without one). A
    /// cursor is only valid on the listing (`scope`) that issued it.
    pub(crate) fn cursor(&self, scope: &str) -> Result<u64, ApiError> {
        let Some(raw) = self.get("cursor") else {
            return Ok(0);
        };
        decode_cursor(raw, scope).ok_or_else(|| {
            ApiError::parameter(
                "cursor",
                "The cursor is not valid for this request: start the listing again without one.",
            )
        })
    }

    /// The attributes `fields[resource]` selects (`None`: all of them);
    /// a name outside `known` is a 400.
    pub(crate) fn fields(
        &self,
        resource: &str,
        known: &[&'static str],
    ) -> Result<Option<Vec<&'static str>>, ApiError> {
        let parameter = format!("fields[{resource}]");
        let Some(raw) = self.get(&parameter) else {
            return Ok(None);
        };
        let mut chosen = Vec::new();
        for name in raw.split(',') {
            match known.iter().find(|k| **k == name) {
                Some(k) => chosen.push(*k),
                None => {
                    return Err(ApiError::parameter(
                        &parameter,
                        format!(
                            "'{}' is not an attribute of {resource}.",
                            crate::session::oauth::printable(name)
                        ),
                    ));
                }
            }
        }
        Ok(Some(chosen))
    }
}

/// An opaque cursor for `position` in the listing `scope`.
pub(crate) fn encode_cursor(scope: &str, position: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}|{position}"))
}

fn decode_cursor(raw: &str, scope: &str) -> Option<u64> {
    if raw.len() > 512 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (s, position) = text.rsplit_once('|')?;
    (s == scope).then_some(())?;
    position.parse().ok()
}

/// Keeps only the `fields` (all when `None`) of `attributes`.
pub(crate) fn select(attributes: Map<String, Value>, fields: Option<&[&str]>) -> Value {
    match fields {
        None => Value::Object(attributes),
        Some(fields) => Value::Object(
            attributes
                .into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
    }
}

/// A paged list document, typed: `data`, `links.self` (and `links.next`),
/// `meta.paging` (`total`, `limit`, and `nextCursor` while more follow).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Page<T> {
    data: Vec<T>,
    links: PageLinks,
    meta: PageMeta,
}

#[derive(Debug, serde::Serialize)]
struct PageLinks {
    #[serde(rename = "self")]
    this: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct PageMeta {
    paging: Paging,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    total: u64,
    limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// [`typed_page`] as a `Value`, for the lists that build `Value`s.
pub(crate) fn page(
    data: Vec<Value>,
    self_link: &str,
    limit: u64,
    total: u64,
    next_cursor: Option<String>,
) -> Value {
    serde_json::to_value(typed_page(data, self_link, limit, total, next_cursor))
        .unwrap_or(Value::Null)
}

/// A paged list document of `data`.
pub(crate) fn typed_page<T>(
    data: Vec<T>,
    self_link: &str,
    limit: u64,
    total: u64,
    next_cursor: Option<String>,
) -> Page<T> {
    let mut links = PageLinks {
        this: self_link.to_owned(),
        next: None,
    };
    let mut paging = Paging {
        total,
        limit,
        next_cursor: None,
    };
    if let Some(cursor) = next_cursor {
        let base = self_link.split('?').next().unwrap_or(self_link);
        // Keep the other parameters of the request (fields, ...).
        let kept: Vec<&str> = self_link
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("cursor=") && !p.starts_with("limit="))
            .collect();
        let mut next = format!("{base}?cursor={cursor}&limit={limit}");
        for p in kept {
            next.push('&');
            next.push_str(p);
        }
        links.next = Some(next);
        paging.next_cursor = Some(cursor);
    }
    Page {
        data,
        links,
        meta: PageMeta { paging },
    }
}

/// The request's JSON body, or a 400.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::body("", "The request body is not a JSON document."))
}

/// `data` of a request document, checked to be an object of `kind`.
pub(crate) fn data_of<'a>(body: &'a Value, kind: &str) -> Result<&'a Map<String, Value>, ApiError> {
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::body("/data", "The document needs a 'data' object."))?;
    match data.get("type").and_then(Value::as_str) {
        Some(t) if t == kind => Ok(data),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ENTITY_ERROR.TYPE_MISMATCH",
            "The resource type does not match the endpoint",
            format!("'data.type' must be '{kind}'."),
            Source::Pointer("/data/type"),
        )),
    }
}
