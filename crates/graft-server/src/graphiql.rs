//! GraphiQL: the page a browser gets at `GET /graphql`, and the files it loads.
//!
//! GraphiQL 3.9.0 and React 18.3.1 are vendored under `assets/graphiql/` (where the README says
//! where each file comes from) and embedded in the binary: the page works with no network
//! access and loads nothing from a CDN. Its content security policy lets it load scripts and
//! styles from graft alone and send requests to graft alone.
//!
//! The files are served at `/graphiql/<tag>/<file>`, `<tag>` being a hash of all of them: a
//! browser may cache them for a year, and a graft with other files serves them at another URL.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

/// One file the page loads.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../assets/graphiql/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: [Asset; 5] = [
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphiql.min.js", JS),
    asset!("graphiql.js", JS),
];

/// The page's template: `{{assets}}` stands for the path of the files, relative to the page.
const TEMPLATE: &str = include_str!("../assets/graphiql/graphiql.html");

/// What the page may load and where it may send requests: graft alone. GraphiQL's editor
/// (CodeMirror) sets styles inline, and its stylesheet carries its fonts and icons as `data:`
/// URLs; no script runs inline.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page, and the tag its files are served under.
struct Page {
    tag: String,
    html: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let mut hash = sha2::Sha256::new();
    for asset in &ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update([0]);
        hash.update(asset.bytes);
    }
    let tag: String = hash.finalize()[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let html = TEMPLATE.replace("{{assets}}", &format!("graphiql/{tag}"));
    Page { tag, html }
});

/// Serves the page to a browser: a `GET` with no `query` parameter whose `Accept` header
/// takes HTML. Every other request goes on. This layer is outermost on `/graphql`, so the page
/// needs no tenant: its requests carry the tenant's headers, set in GraphiQL.
pub(crate) async fn page_for_browsers(request: Request, next: Next) -> Response {
    if request.method() == Method::GET && !has_query(request.uri().query()) && wants_html(&request)
    {
        return page();
    }
    next.run(request).await
}

fn has_query(query_string: Option<&str>) -> bool {
    query_string.is_some_and(|query_string| {
        query_string
            .split('&')
            .any(|pair| pair == "query" || pair.starts_with("query="))
    })
}

/// Whether the request's `Accept` names `text/html`, as every browser's navigation does.
fn wants_html(request: &Request) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/html"))
        })
}

fn page() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE.html.clone(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

/// `GET /graphiql/{tag}/{file}`: one of the page's files; 404 for a file or a tag graft does
/// not have.
pub(crate) async fn asset(Path((tag, name)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().find(|asset| asset.name == name);
    let Some(asset) = found.filter(|_| tag == PAGE.tag) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = Response::new(Body::from(asset.bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    secure(headers);
    response
}

fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_file_under_the_current_tag_and_nothing_else() {
        let page = &PAGE.html;
        assert!(!page.contains("{{"), "template filled in: {page}");
        let loaded: Vec<&str> = page
            .split(['"'])
            .filter(|part| part.starts_with("graphiql/"))
            .collect();
        let expected: Vec<String> = ASSETS
            .iter()
            .map(|asset| format!("graphiql/{}/{}", PAGE.tag, asset.name))
            .collect();
        assert_eq!(loaded, expected);
        assert_eq!(PAGE.tag.len(), 12);
        assert!(!page.contains("http"), "nothing from elsewhere: {page}");
    }

    #[test]
    fn only_a_get_without_a_query_that_accepts_html_is_a_browser() {
        assert!(!has_query(None));
        assert!(!has_query(Some("queryx=1&operationName=q")));
        assert!(has_query(Some("query=%7B__typename%7D")));
        assert!(has_query(Some("variables=%7B%7D&query")));
        let request = |accept: &str| {
            Request::builder()
                .header(header::ACCEPT, accept)
                .body(Body::empty())
                .expect("request")
        };
        assert!(wants_html(&request(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&request("Text/HTML; q=0.5")));
        assert!(!wants_html(&request("application/json")));
        assert!(!wants_html(&request("*/*")));
    }
}
