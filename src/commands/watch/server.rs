//! The HTTP side of the live preview (axum): the page, and the scriptable surface it uses.
//!
//! | route | answers |
//! |---|---|
//! | `GET /` | the page (with `/page.js` and `/page.css`) |
//! | `GET /email.html?for=ADDRESS` | the HTML part for that subscriber (default: the first); `scheme=dark\|light` forces the colour scheme, `images=off` blocks images |
//! | `GET /email.txt?for=ADDRESS` | the text part |
//! | `GET /email.eml?for=ADDRESS` | the whole message (`download=1`: as an attachment) |
//! | `GET /web.html` | the web version |
//! | `GET /images/NAME` | an image file of the issue, by the name a preview gives it (`HASH.png`) |
//! | `GET /status.json` | `{"version": N, "errors": [...], "warnings": [...], ...}` |
//! | `GET /subscribers.json?q=WORDS` | up to 20 recipients whose name or address has every word |
//! | `GET /events` | server-sent events: `version` with the new version after every rebuild |
//!
//! `no_name=1` renders any message as if the subscriber had no name. Every request whose `Host`
//! is not the listening address or `localhost` is refused with 403 (a web page elsewhere could
//! otherwise reach this server through DNS rebinding); the email is served with a policy that
//! forbids scripts, on top of the page's sandboxed frame.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};

use crate::commands::watch::live::{Live, Recipient};

const PAGE: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");
/// The most search results sent to the page.
const SEARCH_LIMIT: usize = 20;

#[derive(Clone)]
struct Server {
    live: Arc<Live>,
    /// The `Host` values accepted.
    hosts: Arc<[String]>,
}

/// The routes of the live preview of `live`, listening on `address`.
pub(crate) fn router(live: Arc<Live>, address: SocketAddr) -> Router {
    let port = address.port();
    let hosts: Arc<[String]> = vec![
        address.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ]
    .into();
    let server = Server { live, hosts };
    Router::new()
        .route("/", get(page))
        .route(
            "/page.js",
            get(|| async { asset("text/javascript", PAGE_JS) }),
        )
        .route("/page.css", get(|| async { asset("text/css", PAGE_CSS) }))
        .route("/status.json", get(status))
        .route("/email.html", get(email_html))
        .route("/email.txt", get(email_text))
        .route("/email.eml", get(email_eml))
        .route("/web.html", get(web_page))
        .route("/images/{name}", get(image))
        .route("/subscribers.json", get(search))
        .route("/events", get(events))
        .layer(middleware::from_fn_with_state(server.clone(), check_host))
        .with_state(server)
}

async fn check_host(State(server): State<Server>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            server
                .hosts
                .iter()
                .any(|known| known.eq_ignore_ascii_case(host))
        });
    if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "this preview answers only to the address it listens on, or localhost\n",
        )
            .into_response()
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src * data:; frame-src 'self'; frame-ancestors 'none'",
            ),
        ],
        PAGE,
    )
        .into_response()
}

async fn status(State(server): State<Server>) -> Response {
    let mut response = Json(server.live.status()).into_response();
    no_store(response.headers_mut());
    response
}

/// The query of the email routes.
#[derive(Debug, Default, Deserialize)]
struct EmailQuery {
    #[serde(rename = "for")]
    email: Option<String>,
    #[serde(default)]
    no_name: Option<String>,
    scheme: Option<String>,
    images: Option<String>,
    download: Option<String>,
}

impl EmailQuery {
    fn recipient(&self) -> Recipient {
        Recipient {
            email: self.email.clone().filter(|email| !email.trim().is_empty()),
            no_name: self.no_name.as_deref().is_some_and(is_on),
        }
    }
}

fn is_on(value: &str) -> bool {
    matches!(value, "1" | "true" | "on" | "yes")
}

/// The answer while no build has succeeded yet.
fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the issue has not built yet; see /status.json for why\n",
    )
        .into_response()
}

fn not_rendered(message: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{message}\n")).into_response()
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn email_response(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    no_store(headers);
    // The page shows the email in a frame without scripts; this holds when it is opened alone.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("script-src 'none'; object-src 'none'; base-uri 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn email_html(State(server): State<Server>, Query(query): Query<EmailQuery>) -> Response {
    let Some(build) = server.live.build_shown() else {
        return not_built();
    };
    match build.render(&query.recipient()) {
        Ok((_, _, rendered)) => {
            let mut html = build
                .mailing
                .prepared
                .with_local_images(&rendered.html, IMAGES);
            match query.scheme.as_deref() {
                Some("dark") => html = force_scheme(&html, "dark"),
                Some("light") => html = force_scheme(&html, "light"),
                _ => {}
            }
            if query.images.as_deref() == Some("off") {
                html = without_images(&html);
            }
            email_response("text/html; charset=utf-8", html.into_bytes())
        }
        Err(message) => not_rendered(&message),
    }
}

async fn email_text(State(server): State<Server>, Query(query): Query<EmailQuery>) -> Response {
    let Some(build) = server.live.build_shown() else {
        return not_built();
    };
    match build.render(&query.recipient()) {
        Ok((_, _, rendered)) => {
            email_response("text/plain; charset=utf-8", rendered.text.into_bytes())
        }
        Err(message) => not_rendered(&message),
    }
}

async fn email_eml(State(server): State<Server>, Query(query): Query<EmailQuery>) -> Response {
    let Some(build) = server.live.build_shown() else {
        return not_built();
    };
    match build.render(&query.recipient()) {
        Ok((subscriber, message, rendered)) => {
            let download = query.download.as_deref().is_some_and(is_on);
            let content_type = if download {
                "message/rfc822"
            } else {
                "text/plain; charset=utf-8"
            };
            let size = message.bytes.len();
            let mut response = email_response(content_type, message.bytes);
            let headers = response.headers_mut();
            if download {
                let disposition =
                    format!("attachment; filename=\"{}.eml\"", subscriber.file_stem());
                if let Ok(value) = HeaderValue::from_str(&disposition) {
                    headers.insert(header::CONTENT_DISPOSITION, value);
                }
            }
            headers.insert("x-message-bytes", HeaderValue::from(size));
            headers.insert("x-html-bytes", HeaderValue::from(rendered.html.len()));
            response
        }
        Err(message) => not_rendered(&message),
    }
}

async fn web_page(State(server): State<Server>) -> Response {
    match server.live.build_shown() {
        Some(build) => email_response(
            "text/html; charset=utf-8",
            build
                .mailing
                .prepared
                .web_page_with_local_images(IMAGES)
                .into_bytes(),
        ),
        None => not_built(),
    }
}

/// Where the pages find the issue's image files (the email's `cid:` parts, or the files to be
/// uploaded to `assets_url`), relative to them.
const IMAGES: &str = "images/";

async fn image(State(server): State<Server>, Path(name): Path<String>) -> Response {
    let Some(build) = server.live.build_shown() else {
        return not_built();
    };
    match build
        .issue
        .images
        .files()
        .iter()
        .find(|file| file.file_name() == name)
    {
        Some(file) => email_response(file.kind.mime(), file.bytes.clone()),
        None => not_rendered(&format!("the issue has no image `{name}`")),
    }
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Debug, Serialize)]
struct Found {
    email: String,
    name: String,
    line: usize,
}

#[derive(Debug, Serialize)]
struct SearchAnswer {
    /// Recipients in the list, of which `found` is at most the first [`SEARCH_LIMIT`] matches.
    total: usize,
    found: Vec<Found>,
}

async fn search(State(server): State<Server>, Query(query): Query<SearchQuery>) -> Response {
    let Some(build) = server.live.build_shown() else {
        return not_built();
    };
    let found = build
        .subscribers
        .search(&query.q, SEARCH_LIMIT)
        .into_iter()
        .map(|subscriber| Found {
            email: subscriber.email.to_string(),
            name: subscriber.name.clone(),
            line: subscriber.line,
        })
        .collect();
    let mut response = Json(SearchAnswer {
        total: build.subscribers.len(),
        found,
    })
    .into_response();
    no_store(response.headers_mut());
    response
}

async fn events(
    State(server): State<Server>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = server.live.subscribe();
    // The first event is the version now, so a page that connects late catches up at once.
    let first = server.live.version();
    let stream = stream::unfold(
        (Some(first), receiver),
        |(pending, mut receiver)| async move {
            let version = match pending {
                Some(version) => version,
                None => loop {
                    match receiver.recv().await {
                        Ok(version) => break version,
                        // A slow page missed versions; the newest is what matters.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                },
            };
            let event = Event::default().event("version").data(version.to_string());
            Some((Ok(event), (None, receiver)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `html` with its colour scheme fixed: the dark rules always apply (`dark`) or never
/// (`light`), whatever the viewer's system prefers.
fn force_scheme(html: &str, scheme: &str) -> String {
    let (dark_rules, meta) = match scheme {
        "dark" => ("@media all", "dark"),
        _ => ("@media not all", "light"),
    };
    let html = html
        .replace("@media (prefers-color-scheme: dark)", dark_rules)
        .replace("@media (prefers-color-scheme: light)", "@media not all");
    let tag = format!(
        "<meta name=\"color-scheme\" content=\"{meta}\"><style>:root {{ color-scheme: {meta}; }}</style>"
    );
    match html.find("</head>") {
        Some(at) => format!("{}{tag}{}", &html[..at], &html[at..]),
        None => format!("{tag}{html}"),
    }
}

/// `html` as a mail client that blocks images shows it: every `<img>` keeps its alt text and
/// size but loads nothing.
fn without_images(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("<img") {
        out.push_str(&rest[..at]);
        let tag_end = rest[at..].find('>').map_or(rest.len(), |end| at + end + 1);
        out.push_str(&rest[at..tag_end].replacen(" src=", " data-blocked-src=", 1));
        rest = &rest[tag_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_scheme_makes_the_dark_rules_unconditional() {
        let html = "<head><style>@media (prefers-color-scheme: dark) { a {} }</style></head>";
        let dark = force_scheme(html, "dark");
        assert!(dark.contains("@media all { a {} }"));
        assert!(dark.contains("content=\"dark\""));
        let light = force_scheme(html, "light");
        assert!(light.contains("@media not all { a {} }"));
    }

    #[test]
    fn blocked_images_keep_their_alt_text() {
        let html = r#"<p><img src="https://x/a.png" alt="A"> <img alt="B" src="b.png"></p>"#;
        assert_eq!(
            without_images(html),
            r#"<p><img data-blocked-src="https://x/a.png" alt="A"> <img alt="B" data-blocked-src="b.png"></p>"#
        );
    }
}
