//! JSON:API documents (<https://jsonapi.org/format/1.0/>) as Apple's API
//! sends them: resources with `type`, `id`, `attributes`, `relationships`
//! and `links`; lists with `links.next` and `meta.paging` (`limit`,
//! `nextCursor`, sometimes `total`); resource linkages for relationship
//! endpoints. Unknown members are ignored (Apple adds attributes without a
//! new API version); attribute structs have every field optional, since
//! `fields[...]` may leave any of them out.
//!
//! Lists are read one page at a time ([`Pager`]): the caller handles a page
//! and drops it before the next is fetched, so memory stays flat in the
//! number of resources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{MAX_PAGE_LIMIT, PortalApiError};

/// A resource object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(bound(deserialize = "A: DeserializeOwned + Default"))]
#[non_exhaustive]
pub struct Resource<A> {
    /// `type`: `orgDevices`, `mdmServers`, `orgDeviceActivities`...
    #[serde(rename = "type")]
    pub kind: String,
    /// `id`.
    pub id: String,
    /// `attributes` (every field optional).
    #[serde(default)]
    pub attributes: A,
    /// `relationships`, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relationships: BTreeMap<String, Relationship>,
    /// `links` (`self`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// A relationship object (only its links are read: Apple lists related
/// resources at their own endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Relationship {
    /// `links` (`self`, `related`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// `links` of a resource, a relationship or a document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Links {
    /// `self`.
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    /// `related`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
    /// `next`: the next page of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `meta` of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Meta {
    /// `paging`.
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// `meta.paging`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Paging {
    /// The page size the service used.
    #[serde(default)]
    pub limit: Option<u64>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// How many resources the whole list holds, when the service says.
    #[serde(default)]
    pub total: Option<u64>,
}

/// A document holding one resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "A: DeserializeOwned + Default"))]
#[non_exhaustive]
pub struct SingleDocument<A> {
    /// `data`.
    pub data: Resource<A>,
    /// `links`.
    #[serde(default)]
    pub links: Option<Links>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
#[non_exhaustive]
pub struct ListDocument<T> {
    /// `data`: the page's resources (or linkages).
    pub data: Vec<T>,
    /// `links` (`self`, `next`).
    #[serde(default)]
    pub links: Option<Links>,
    /// `meta` (`paging`).
    #[serde(default)]
    pub meta: Option<Meta>,
}

impl<T> ListDocument<T> {
    /// `meta.paging.nextCursor`, if any.
    pub fn next_cursor(&self) -> Option<&str> {
        self.meta
            .as_ref()?
            .paging
            .as_ref()?
            .next_cursor
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    /// `links.next`, if any.
    pub fn next_link(&self) -> Option<&str> {
        self.links
            .as_ref()?
            .next
            .as_deref()
            .filter(|l| !l.is_empty())
    }

    /// `meta.paging.total`, if the service sent it.
    pub fn total(&self) -> Option<u64> {
        self.meta.as_ref()?.paging.as_ref()?.total
    }
}

/// A resource identifier object (`{"type", "id"}`): what relationship
/// endpoints return.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Linkage {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `id`.
    pub id: String,
}

impl Linkage {
    /// `{"type": kind, "id": id}`.
    pub fn new(kind: &str, id: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// A to-one relationship document (`data` is one linkage or `null`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LinkageDocument {
    /// `data`.
    pub data: Option<Linkage>,
    /// `links` (`self`, `related`).
    #[serde(default)]
    pub links: Option<Links>,
}

/// Parses a reply body as `T`, naming the document in the error.
pub fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, PortalApiError> {
    serde_json::from_slice(body).map_err(|e| PortalApiError::Malformed {
        reason: format!("{what}: {e}"),
    })
}

/// Which attributes to ask for: `fields[TYPE]=a,b,c`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// `limit`: 1 to [`MAX_PAGE_LIMIT`]; `None` leaves Apple's default.
    pub limit: Option<u32>,
    /// `fields[TYPE]`: resource type and attribute names.
    pub fields: Vec<(String, Vec<String>)>,
}

impl ListQuery {
    /// Pages of `limit` resources.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Asks only for `attributes` of resources of `kind`.
    pub fn with_fields<S: AsRef<str>>(mut self, kind: &str, attributes: &[S]) -> Self {
        self.fields.push((
            kind.to_owned(),
            attributes.iter().map(|a| a.as_ref().to_owned()).collect(),
        ));
        self
    }

    fn check(&self) -> Result<(), PortalApiError> {
        if let Some(limit) = self.limit
            && (limit == 0 || limit > MAX_PAGE_LIMIT)
        {
            return Err(PortalApiError::InvalidArgument {
                reason: format!("the page limit must be 1 to {MAX_PAGE_LIMIT}, not {limit}"),
            });
        }
        for (kind, attributes) in &self.fields {
            if !is_name(kind) || attributes.is_empty() || !attributes.iter().all(|a| is_name(a)) {
                return Err(PortalApiError::InvalidArgument {
                    reason: format!(
                        "fields[{}] must name a resource type and at least one attribute, in letters and digits",
                        super::error::printable(kind)
                    ),
                });
            }
        }
        Ok(())
    }

    /// The query string (without `?`); empty when nothing is set.
    pub fn to_query(&self) -> Result<String, PortalApiError> {
        self.check()?;
        let mut parts = Vec::new();
        for (kind, attributes) in &self.fields {
            parts.push(format!("fields%5B{kind}%5D={}", attributes.join(",")));
        }
        if let Some(limit) = self.limit {
            parts.push(format!("limit={limit}"));
        }
        Ok(parts.join("&"))
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment (an id).
pub fn encode_segment(value: &str) -> Result<String, PortalApiError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(|c| c.is_control()) {
        return Err(PortalApiError::InvalidArgument {
            reason: "an identifier is 1 to 256 characters without control characters".into(),
        });
    }
    Ok(encode_query_value(value))
}

/// Follows a list from page to page: the first request, then the next one
/// from each page's `meta.paging.nextCursor` (or, failing that, its
/// `links.next`, which must point at the same API origin: the access token
/// is never sent elsewhere). A cursor or link that repeats the previous one
/// ends the list with an error rather than a loop.
#[derive(Debug, Clone)]
pub struct Pager {
    path: String,
    query: String,
    origin: String,
    next: Option<String>,
    previous_cursor: Option<String>,
    pages: u64,
}

impl Pager {
    /// A pager over `path` (`/v1/orgDevices`) with `query`, at `base_url`
    /// (whose origin `links.next` must share).
    pub fn new(base_url: &str, path: &str, query: &ListQuery) -> Result<Self, PortalApiError> {
        let query = query.to_query()?;
        let first = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        Ok(Self {
            path: path.to_owned(),
            query,
            origin: origin(base_url)?,
            next: Some(first),
            previous_cursor: None,
            pages: 0,
        })
    }

    /// The path and query of the next request, `None` when the list is done.
    pub fn next_request(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Reads `page`'s paging and prepares the next request.
    pub fn advance<T>(&mut self, page: &ListDocument<T>) -> Result<(), PortalApiError> {
        self.pages += 1;
        let next = if let Some(cursor) = page.next_cursor() {
            self.check_new_cursor(cursor)?;
            let mut q = self.query.clone();
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str("cursor=");
            q.push_str(&encode_query_value(cursor));
            Some(format!("{}?{q}", self.path))
        } else if let Some(link) = page.next_link() {
            let rest = link
                .strip_prefix(&self.origin)
                .filter(|r| r.starts_with('/'));
            let Some(rest) = rest else {
                return Err(PortalApiError::Malformed {
                    reason: format!(
                        "links.next points outside the API ({}); the access token is not sent there",
                        super::error::printable(link)
                    ),
                });
            };
            if rest.len() > 8192 || rest.chars().any(|c| c.is_control() || c == ' ') {
                return Err(PortalApiError::Malformed {
                    reason: "links.next is not a usable URL".into(),
                });
            }
            self.check_new_cursor(rest)?;
            Some(rest.to_owned())
        } else {
            None
        };
        self.next = next;
        Ok(())
    }

    fn check_new_cursor(&mut self, cursor: &str) -> Result<(), PortalApiError> {
        if cursor.len() > 8192 {
            return Err(PortalApiError::Malformed {
                reason: "the next-page cursor is longer than 8192 characters".into(),
            });
        }
        if self.previous_cursor.as_deref() == Some(cursor) {
            return Err(PortalApiError::Malformed {
                reason: "the service returned the same next-page cursor twice; stopping rather than looping".into(),
            });
        }
        self.previous_cursor = Some(cursor.to_owned());
        Ok(())
    }
}

/// `scheme://host[:port]` of a URL (no path).
pub fn origin(url: &str) -> Result<String, PortalApiError> {
    let uri: http::Uri = url.parse().map_err(|_| PortalApiError::InvalidArgument {
        reason: format!("{} is not a URL", super::error::printable(url)),
    })?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("https" | "http")), Some(authority)) => {
            Ok(format!("{scheme}://{authority}"))
        }
        _ => Err(PortalApiError::InvalidArgument {
            reason: format!("{} is not an http(s) URL", super::error::printable(url)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Attrs {
        serial_number: Option<String>,
    }

    #[test]
    fn unknown_members_are_ignored_and_missing_attributes_allowed() {
        let body = br#"{"data":[{"type":"orgDevices","id":"A","attributes":{"serialNumber":"A","futureThing":{"x":1}},"relationships":{"assignedServer":{"links":{"self":"s","related":"r"}}},"links":{"self":"l"}},{"type":"orgDevices","id":"B"}],"links":{"self":"x","next":"https://api.example/v1/orgDevices?cursor=Mg"},"meta":{"paging":{"limit":2,"nextCursor":"Mg","total":3}},"included":[]}"#;
        let page: ListDocument<Resource<Attrs>> = parse(body, "devices").unwrap();
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.data[0].attributes.serial_number.as_deref(), Some("A"));
        assert_eq!(page.data[1].attributes, Attrs::default());
        assert_eq!(
            page.data[0].relationships["assignedServer"]
                .links
                .as_ref()
                .unwrap()
                .related
                .as_deref(),
            Some("r")
        );
        assert_eq!(page.next_cursor(), Some("Mg"));
        assert_eq!(page.total(), Some(3));
    }

    #[test]
    fn pager_follows_cursors_then_links_and_refuses_loops_and_other_hosts() {
        let q = ListQuery::default()
            .with_limit(1000)
            .with_fields("orgDevices", &["serialNumber", "status"]);
        let mut pager = Pager::new("https://api-school.apple.com", "/v1/orgDevices", &q).unwrap();
        assert_eq!(
            pager.next_request(),
            Some("/v1/orgDevices?fields%5BorgDevices%5D=serialNumber,status&limit=1000")
        );
        let page = |cursor: Option<&str>, next: Option<&str>| ListDocument::<Linkage> {
            data: vec![],
            links: next.map(|n| Links {
                next: Some(n.into()),
                ..Links::default()
            }),
            meta: cursor.map(|c| Meta {
                paging: Some(Paging {
                    next_cursor: Some(c.into()),
                    ..Paging::default()
                }),
            }),
        };
        pager.advance(&page(Some("a b/c"), None)).unwrap();
        assert_eq!(
            pager.next_request(),
            Some(
                "/v1/orgDevices?fields%5BorgDevices%5D=serialNumber,status&limit=1000&cursor=a%20b%2Fc"
            )
        );
        assert!(pager.advance(&page(Some("a b/c"), None)).is_err());
        let mut pager = Pager::new(
            "https://api-school.apple.com/",
            "/v1/mdmServers",
            &ListQuery::default(),
        )
        .unwrap();
        pager
            .advance(&page(
                None,
                Some("https://api-school.apple.com/v1/mdmServers?cursor=2"),
            ))
            .unwrap();
        assert_eq!(pager.next_request(), Some("/v1/mdmServers?cursor=2"));
        let e = pager
            .advance(&page(
                None,
                Some("https://evil.example/v1/mdmServers?cursor=3"),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("outside the API"), "{e}");
        let e = pager
            .advance(&page(
                None,
                Some("https://api-school.apple.com.evil.example/x"),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("outside the API"), "{e}");
        pager.advance(&page(None, None)).unwrap();
        assert_eq!(pager.next_request(), None);
        for bad in [0, 1001] {
            assert!(
                Pager::new("https://a", "/v1/x", &ListQuery::default().with_limit(bad)).is_err()
            );
        }
        assert!(
            ListQuery::default()
                .with_fields("orgDevices", &["a&b"])
                .to_query()
                .is_err()
        );
    }
}
