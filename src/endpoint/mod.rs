//! The unsubscribe endpoint behind `newsletter serve`: answers the list's unsubscribe URL over
//! HTTP/1.1 (hyper on tokio) and records unsubscribes in the suppression file.
//!
//! - `POST` with `List-Unsubscribe=One-Click` (RFC 8058; urlencoded or multipart/form-data):
//!   the token or id is checked in constant time, the address appended through the group
//!   commit ([`commit`]), and 200 answered only after the `fsync`. 403 for anything that does
//!   not prove the address, without saying what.
//! - `GET`/`HEAD`: a page naming the list with one button that posts the same form; it never
//!   unsubscribes by itself, since link scanners fetch URLs.
//! - `/healthz` for the proxy; everything else is 404, other methods 405.
//!
//! The pages speak the list's language ([`wording`]); answers meant for programs (404, 405,
//! 400, 408, 413) are short English plain text.
//!
//! Every response carries a strict Content-Security-Policy, `no-referrer` and no framing;
//! pages escape what they show. The access log (stderr) names the URL's path with
//! placeholders, never their values, so tokens and addresses stay out of it.

pub(crate) mod commit;
pub(crate) mod limit;
pub(crate) mod wording;

use std::{
    convert::Infallible,
    future::Future,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use askama::Template;
use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderMap, HeaderValue},
};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    compose::unsubscribe::{TokenKey, verify_request},
    endpoint::{
        commit::Committer,
        limit::Limiter,
        wording::{Part, Values, Wording},
    },
    input::{
        list::{UrlPattern, UrlTemplate},
        page_text::PageText,
        suppression::Entry,
    },
};

/// The largest request body read; a one-click body is 26 bytes.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024;
/// How long in-flight requests get to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The reason written beside each address.
pub(crate) const REASON: &str = "unsubscribed one-click";

/// What the endpoint needs, resolved by the command.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) list_name: String,
    pub(crate) list_id: String,
    pub(crate) wording: Wording,
    pub(crate) mailto: Option<String>,
    pub(crate) template: UrlTemplate,
    pub(crate) pattern: UrlPattern,
    pub(crate) key: TokenKey,
    pub(crate) suppression: PathBuf,
    pub(crate) rate_limit: u32,
    pub(crate) read_timeout: Duration,
}

/// The page's CSS, allowed by its hash in the Content-Security-Policy.
const PAGE_STYLE: &str = "\
body{margin:0;font:18px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#f3f4f6}\
main{max-width:34rem;margin:3rem auto;padding:2rem 1.5rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
.list{margin:0;color:#4b5563;font-size:.9rem;text-transform:uppercase;letter-spacing:.05em}\
h1{font-size:1.6rem;margin:.25rem 0 1rem}\
strong{overflow-wrap:anywhere}\
button{font:inherit;font-weight:600;color:#fff;background:#1d4ed8;border:0;border-radius:6px;padding:.75rem 1.5rem;min-height:44px;cursor:pointer}\
button:hover{background:#1e40af}button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}\
a{color:#1d4ed8}.small{font-size:.9rem;color:#4b5563}\
@media (max-width:480px){main{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}";

/// Which page to show; the address is the one the request proved.
#[derive(Debug)]
enum PageKind {
    Confirm(String),
    Done(String),
    Invalid,
    Unavailable,
    Busy,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct Page<'a> {
    lang: &'a str,
    list_name: &'a str,
    heading: &'a str,
    style: &'a str,
    blocks: Vec<Block>,
}

/// A paragraph or the form, in the order the page shows them.
enum Block {
    Paragraph(Look, Vec<Part>),
    Form(String),
}

/// How a paragraph looks, or what it tells assistive technology.
#[derive(Clone, Copy)]
enum Look {
    Plain,
    Small,
    /// The outcome, announced by screen readers.
    Status,
}

impl Look {
    fn attributes(self) -> &'static str {
        match self {
            Look::Plain => "",
            Look::Small => " class=\"small\"",
            Look::Status => " role=\"status\"",
        }
    }
}

impl Settings {
    /// The page's heading and blocks in the list's words.
    fn page_blocks(&self, kind: &PageKind) -> (&str, Vec<Block>) {
        let wording = &self.wording;
        let no_address = String::new();
        let address = match kind {
            PageKind::Confirm(address) | PageKind::Done(address) => address,
            _ => &no_address,
        };
        let values = Values {
            address,
            list: &self.list_name,
            mailto: self.mailto.as_deref(),
        };
        let paragraph = |look, text| Block::Paragraph(look, wording.fill(text, &values));
        let or_mailto = self
            .mailto
            .as_ref()
            .map(|_| paragraph(Look::Plain, PageText::OrMailto));
        let (heading, blocks) = match kind {
            PageKind::Confirm(_) => (
                PageText::ConfirmTitle,
                vec![
                    paragraph(Look::Plain, PageText::Confirm),
                    Block::Form(wording.get(PageText::Button).to_owned()),
                    paragraph(Look::Small, PageText::ConfirmNote),
                ],
            ),
            PageKind::Done(_) => (
                PageText::DoneTitle,
                vec![
                    paragraph(Look::Status, PageText::Done),
                    paragraph(Look::Small, PageText::DoneNote),
                ],
            ),
            PageKind::Invalid => (
                PageText::InvalidTitle,
                vec![
                    paragraph(Look::Plain, PageText::Invalid),
                    paragraph(
                        Look::Plain,
                        if self.mailto.is_some() {
                            PageText::InvalidMailto
                        } else {
                            PageText::InvalidReply
                        },
                    ),
                ],
            ),
            PageKind::Unavailable => (
                PageText::UnavailableTitle,
                std::iter::once(paragraph(Look::Plain, PageText::Unavailable))
                    .chain(or_mailto)
                    .collect(),
            ),
            PageKind::Busy => (
                PageText::BusyTitle,
                std::iter::once(paragraph(Look::Plain, PageText::Busy))
                    .chain(or_mailto)
                    .collect(),
            ),
        };
        (wording.get(heading), blocks)
    }
}

/// The endpoint's shared state.
#[derive(Debug)]
struct App {
    settings: Settings,
    committer: Committer,
    limiter: Limiter,
    headers: HeaderMap,
}

/// Serves on `listener` until `shutdown` completes, then lets requests under way finish (up
/// to [`DRAIN_TIMEOUT`]) and waits for their entries to be written.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) {
    let (committer, writer) = Committer::start(&settings.suppression);
    let app = Arc::new(App {
        limiter: Limiter::new(settings.rate_limit),
        headers: security_headers(),
        committer,
        settings,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.settings.read_timeout)
        .max_buf_size(16 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors or similar: wait a little rather than spin.
                        eprintln!("serve: cannot accept a connection: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = Arc::clone(&app);
                let service = hyper::service::service_fn(move |request| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(app.handle(request, peer).await) }
                });
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("serve: some connections were still open after {DRAIN_TIMEOUT:?}; closing them");
    }
    // Dropping the last committer lets the writer finish its batch and stop.
    drop(app);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}

/// Security headers every response carries.
fn security_headers() -> HeaderMap {
    let style_hash = STANDARD.encode(Sha256::digest(PAGE_STYLE.as_bytes()));
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-security-policy", csp.as_str()),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("the security headers are valid"),
        );
    }
    headers
}

/// The outcome of one request, before headers and logging.
struct Answer {
    status: StatusCode,
    body: Body,
    retry_after: Option<u64>,
}

enum Body {
    Page(PageKind),
    Text(&'static str),
}

impl Answer {
    fn page(status: StatusCode, kind: PageKind) -> Answer {
        Answer {
            status,
            body: Body::Page(kind),
            retry_after: None,
        }
    }

    fn text(status: StatusCode, text: &'static str) -> Answer {
        Answer {
            status,
            body: Body::Text(text),
            retry_after: None,
        }
    }

    fn invalid() -> Answer {
        Answer::page(StatusCode::FORBIDDEN, PageKind::Invalid)
    }
}

impl App {
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let client = client_address(request.headers(), peer);
        let method = request.method().clone();
        let (answer, route) = self.answer(request, client).await;
        let response = self.respond(answer, &method);
        // The route is the URL's path with `{placeholders}`, never their values.
        eprintln!(
            "{} {client} {method} {route} {} {:.1}ms",
            OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .ok()
                .and_then(|t| t
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok())
                .unwrap_or_default(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        response
    }

    async fn answer(&self, request: Request<Incoming>, client: IpAddr) -> (Answer, String) {
        let method = request.method().clone();
        if !matches!(method, Method::GET | Method::HEAD | Method::POST) {
            return (
                Answer::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
                "-".into(),
            );
        }
        let path = request.uri().path().to_owned();
        if path == "/healthz" {
            return (Answer::text(StatusCode::OK, "ok\n"), path);
        }
        if let Err(wait) = self.limiter.check(client, Instant::now()) {
            // A page: behind a shared address (an office, a mobile carrier) the reader who is
            // limited may be a person who pressed the button once.
            let mut answer = Answer::page(StatusCode::TOO_MANY_REQUESTS, PageKind::Busy);
            answer.retry_after = Some(wait.as_secs().max(1));
            return (answer, "-".into());
        }
        let Some(values) = self.settings.pattern.values(&path, request.uri().query()) else {
            return (
                Answer::text(StatusCode::NOT_FOUND, "not found\n"),
                "-".into(),
            );
        };
        let route = self.settings.pattern.path();
        let settings = &self.settings;
        if method != Method::POST {
            let answer = match verify_request(
                &settings.key,
                &settings.list_id,
                &settings.template,
                &values,
            ) {
                Some(address) => Answer::page(StatusCode::OK, PageKind::Confirm(address)),
                None => Answer::invalid(),
            };
            return (answer, route);
        }
        let cross_site = cross_site(request.headers());
        let body = match self.read_body(request).await {
            Ok(body) => body,
            Err(answer) => return (answer, route),
        };
        if !body {
            return (
                Answer::text(
                    StatusCode::BAD_REQUEST,
                    "the body must be List-Unsubscribe=One-Click (RFC 8058)\n",
                ),
                route,
            );
        }
        if cross_site {
            return (Answer::invalid(), route);
        }
        let Some(address) = verify_request(
            &settings.key,
            &settings.list_id,
            &settings.template,
            &values,
        ) else {
            return (Answer::invalid(), route);
        };
        let entry = Entry {
            address: address.clone(),
            reason: REASON.into(),
            at: OffsetDateTime::now_utc(),
        };
        match self.committer.commit(entry).await {
            Ok(()) => (Answer::page(StatusCode::OK, PageKind::Done(address)), route),
            Err(error) => {
                eprintln!("serve: cannot record an unsubscribe: {error}");
                let mut answer =
                    Answer::page(StatusCode::SERVICE_UNAVAILABLE, PageKind::Unavailable);
                answer.retry_after = Some(60);
                (answer, route)
            }
        }
    }

    /// Reads a POST body within the size and time limits; `Ok(true)` if it is the one-click
    /// form, urlencoded or multipart.
    async fn read_body(&self, request: Request<Incoming>) -> Result<bool, Answer> {
        let too_large = || Answer::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let limited = Limited::new(request.into_body(), MAX_BODY_BYTES);
        let bytes = match tokio::time::timeout(self.settings.read_timeout, limited.collect()).await
        {
            Err(_) => {
                return Err(Answer::text(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body too slow\n",
                ));
            }
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(too_large());
            }
            Ok(Err(_)) => {
                return Err(Answer::text(
                    StatusCode::BAD_REQUEST,
                    "cannot read the request body\n",
                ));
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        Ok(is_one_click(&content_type, bytes).await)
    }

    fn respond(&self, answer: Answer, method: &Method) -> Response<Full<Bytes>> {
        let settings = &self.settings;
        let (content_type, body) = match answer.body {
            Body::Text(text) => ("text/plain; charset=utf-8", text.to_owned()),
            Body::Page(kind) => {
                let (heading, blocks) = settings.page_blocks(&kind);
                let page = Page {
                    lang: &settings.wording.lang,
                    list_name: &settings.list_name,
                    heading,
                    style: PAGE_STYLE,
                    blocks,
                };
                let html = page.render().unwrap_or_else(|error| {
                    eprintln!("serve: cannot render a page: {error}");
                    String::new()
                });
                ("text/html; charset=utf-8", html)
            }
        };
        let length = body.len();
        let body = if *method == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(body)
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = answer.status;
        let headers = response.headers_mut();
        headers.extend(self.headers.clone());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        if answer.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        }
        if let Some(seconds) = answer.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Whether `body` (of `content_type`) carries `List-Unsubscribe=One-Click`.
async fn is_one_click(content_type: &str, body: Bytes) -> bool {
    let is = |name: &str, value: &str| name == "List-Unsubscribe" && value.trim() == "One-Click";
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("multipart/form-data") {
        let Ok(boundary) = multer::parse_boundary(content_type) else {
            return false;
        };
        let stream = futures_once(body);
        let mut multipart = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or("").to_owned();
            if let Ok(value) = field.text().await
                && is(&name, &value)
            {
                return true;
            }
        }
        false
    } else {
        // RFC 8058 asks for urlencoded or multipart; some clients omit the type for the former.
        url::form_urlencoded::parse(&body).any(|(name, value)| is(&name, &value))
    }
}

/// A stream of the one chunk `body`, for multer.
fn futures_once(body: Bytes) -> impl futures_core::Stream<Item = Result<Bytes, Infallible>> {
    struct Once(Option<Bytes>);
    impl futures_core::Stream for Once {
        type Item = Result<Bytes, Infallible>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    Once(Some(body))
}

/// Whether a POST comes from another site's page. Browsers say where a request comes from in
/// `Sec-Fetch-Site`; older ones only in `Origin`, which is `null` on our own page because of
/// `Referrer-Policy: no-referrer`, so `null` proves nothing either way. Mail clients'
/// one-click POSTs send neither and are let through (the token is what protects them).
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text("origin").filter(|origin| *origin != "null") else {
        return false;
    };
    let Some(host) = text("host") else {
        return true;
    };
    match url::Url::parse(origin) {
        Ok(origin) => {
            let origin_host = match (origin.host_str(), origin.port()) {
                (Some(name), Some(port)) => format!("{name}:{port}"),
                (Some(name), None) => name.to_owned(),
                (None, _) => return true,
            };
            !origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => true,
    }
}

/// The client: the peer, or the proxy's `X-Real-IP` when the peer is the proxy on this
/// machine (the deploy section of the README sets it).
fn client_address(headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if peer.ip().is_loopback()
        && let Some(real) = headers
            .get("x-real-ip")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<IpAddr>().ok())
    {
        return real;
    }
    peer.ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[
            ("origin", "https://news.example.org"),
            ("host", "news.example.org")
        ])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "news.example.org")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://news.example.org"),
            ("host", "news.example.org")
        ])));
        // Our own page's form, posted under `Referrer-Policy: no-referrer`.
        assert!(!cross_site(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null"),
            ("host", "a.org")
        ])));
    }

    #[tokio::test]
    async fn one_click_bodies_are_recognised_in_both_encodings() {
        assert!(
            is_one_click(
                "application/x-www-form-urlencoded",
                Bytes::from_static(b"List-Unsubscribe=One-Click")
            )
            .await
        );
        assert!(is_one_click("", Bytes::from_static(b"List-Unsubscribe=One-Click")).await);
        assert!(
            !is_one_click(
                "application/x-www-form-urlencoded",
                Bytes::from_static(b"List-Unsubscribe=Other")
            )
            .await
        );
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        assert!(is_one_click("multipart/form-data; boundary=b", Bytes::from(multipart)).await);
        assert!(!is_one_click("multipart/form-data", Bytes::from(multipart)).await);
    }

    fn settings(language: &str, mailto: Option<&str>) -> Settings {
        let template: UrlTemplate = "https://example.org/u?id={id}&token={token}"
            .parse()
            .unwrap();
        Settings {
            list_name: "Bulletin <&>".into(),
            list_id: "bulletin.example.org".into(),
            wording: Wording::new(
                &language.parse().unwrap(),
                &crate::input::page_text::PageWording::default(),
            ),
            mailto: mailto.map(str::to_owned),
            pattern: UrlPattern::of(&template).unwrap(),
            template,
            key: TokenKey::throwaway(),
            suppression: PathBuf::from("suppressed.txt"),
            rate_limit: 60,
            read_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn every_page_renders_whole_in_every_language() {
        for translation in &wording::TRANSLATIONS {
            for mailto in [None, Some("leave@example.org")] {
                let settings = settings(translation.tag, mailto);
                for kind in [
                    PageKind::Confirm("a<b>@example.org".into()),
                    PageKind::Done("a<b>@example.org".into()),
                    PageKind::Invalid,
                    PageKind::Unavailable,
                    PageKind::Busy,
                ] {
                    let (heading, blocks) = settings.page_blocks(&kind);
                    let html = Page {
                        lang: &settings.wording.lang,
                        list_name: &settings.list_name,
                        heading,
                        style: PAGE_STYLE,
                        blocks,
                    }
                    .render()
                    .unwrap();
                    let context = format!("{} {kind:?} {mailto:?}:\n{html}", translation.tag);
                    assert!(
                        html.contains(&format!("<html lang=\"{}\">", translation.tag)),
                        "{context}"
                    );
                    assert!(html.contains("<title>"), "{context}");
                    // No placeholder left unfilled (the CSS before has braces), nothing
                    // unescaped.
                    let body = &html[html.find("</style>").unwrap()..];
                    assert!(!body.contains('{') && !body.contains('}'), "{context}");
                    assert!(!html.contains("<b>") && !html.contains("<&>"), "{context}");
                    assert_eq!(
                        html.contains("mailto:leave@example.org"),
                        // The pages that could not help offer the address to write to.
                        mailto.is_some()
                            && matches!(
                                kind,
                                PageKind::Invalid | PageKind::Unavailable | PageKind::Busy
                            ),
                        "{context}"
                    );
                    if let PageKind::Confirm(_) | PageKind::Done(_) = kind {
                        assert!(
                            html.contains("<strong>a&#60;b&#62;@example.org</strong>"),
                            "{context}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_real_ip_header_counts_only_from_the_local_proxy() {
        let forwarded = headers(&[("x-real-ip", "203.0.113.9")]);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(client_address(&forwarded, local).to_string(), "203.0.113.9");
        assert_eq!(
            client_address(&forwarded, remote).to_string(),
            "198.51.100.1"
        );
    }
}
