//! The list file: settings every issue of a newsletter shares (sender, list id, unsubscribe
//! address, where the subscriber file is), so they are written once, in `newsletters/list.yaml`,
//! and each issue refers to it with `list: list.yaml`.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::Deserialize;

use crate::{
    error::Error,
    input::brand::Brand,
    input::document::{self, Document},
    input::images::{ImageFile, ImageSource},
    input::location::DocumentKind,
    input::page_text::PageWording,
    input::placeholders::MergeUrl,
    input::values::{EmailAddress, Language, Line, WebUrl},
};

/// The list file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFile {
    /// The newsletter's name, shown in the header of every issue and in `List-Id`.
    pub(crate) name: Line,
    /// The list identifier for `List-Id` (RFC 2919), e.g. `bulletin.example.org`.
    pub(crate) id: ListId,
    /// Who the newsletter is from.
    pub from: Sender,
    /// Where replies go, if not to `from`.
    #[serde(default)]
    pub reply_to: Option<EmailAddress>,
    /// The envelope sender (`MAIL FROM`) of every message, where bounces are returned: the
    /// mailbox `newsletter bounces` reads. Defaults to `from.address`.
    #[serde(default)]
    pub(crate) bounce_address: Option<EmailAddress>,
    /// Language of the issues (the HTML `lang` attribute) and of the unsubscribe pages.
    #[serde(default)]
    pub(crate) language: Language,
    /// The subscriber file (CSV), relative to this file.
    pub(crate) subscribers: PathBuf,
    /// A file of addresses never to mail, one per line, relative to this file.
    #[serde(default)]
    pub(crate) suppression: Option<PathBuf>,
    /// How subscribers leave the list.
    pub(crate) unsubscribe: Unsubscribe,
    /// The sender's postal address, shown in the footer (required of bulk senders in many
    /// countries).
    #[serde(default)]
    pub(crate) postal_address: Option<Line>,
    /// The domain of `Message-ID`s; defaults to the domain of `from.address`.
    #[serde(default)]
    pub(crate) message_id_domain: Option<ListId>,
    /// Where the web version of each issue is published, with `{issue}` for the issue's name
    /// (its file name without `.yaml`); the email then links to it.
    #[serde(default)]
    pub(crate) web_url: Option<IssueUrlTemplate>,
    /// Where readers of the web version can subscribe; the web page links to it.
    #[serde(default)]
    pub(crate) subscribe_url: Option<WebUrl>,
    /// DKIM signing: the selector (and domain) of the key given with `--dkim-key`.
    #[serde(default)]
    pub(crate) dkim: Option<DkimSettings>,
    /// The SMTP relay's URL (never with a password), used when neither `--smtp` nor
    /// `NEWSLETTER_SMTP_URL` names one; checked by `send` like `--smtp`.
    #[serde(default)]
    pub(crate) relay: Option<Line>,
    /// Several relays to send through, instead of `relay:` (each URL as for `--smtp`, with
    /// `weight=N` or `connections=N`); used when neither `--smtp` nor `NEWSLETTER_SMTP_URL`
    /// names one.
    #[serde(default)]
    pub(crate) relays: Vec<Line>,
    /// Who gets `send --test` (the team's reviewers), unless `--reviewers` names others.
    #[serde(default)]
    pub(crate) reviewers: Vec<EmailAddress>,
    /// The logo, colours and font of the email.
    #[serde(default)]
    pub(crate) brand: Brand,
    /// Where image files are published (an `https://` folder URL ending in `/`): images from
    /// disk are then linked from there instead of carried in each message, and `preview`
    /// gathers them into a folder to upload.
    #[serde(default)]
    pub(crate) assets_url: Option<AssetsUrl>,
}

/// The `https://` URL of a folder, ending in `/`, that image files are published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetsUrl(String);

impl AssetsUrl {
    /// The URL of the file `name` in the folder.
    pub(crate) fn join(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AssetsUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let url: WebUrl = value.parse()?;
        let url = url.to_string();
        if !url.starts_with("https://") {
            return Err(format!(
                "`{value}` must be an https:// URL (mail clients block images over plain http)"
            ));
        }
        if !url.ends_with('/') || url.contains(['?', '#', '&', '\'', '"']) {
            return Err(format!(
                "`{value}` must be the URL of a folder, ending in `/`, without `?`, `#`, `&` or quotes"
            ));
        }
        Ok(AssetsUrl(url))
    }
}

crate::input::values::deserialize_from_str!(AssetsUrl);

/// A URL with an `{issue}` placeholder for the issue's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssueUrlTemplate(MergeUrl);

impl IssueUrlTemplate {
    /// The URL of the issue named `slug`.
    pub(crate) fn fill(&self, slug: &str) -> String {
        self.0.fill(|_| slug.to_owned())
    }
}

impl FromStr for IssueUrlTemplate {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let template = MergeUrl::parse(value, Some(&["issue"]))?;
        if !template.uses("issue") {
            return Err(format!(
                "`{template}` must contain `{{issue}}`, replaced by each issue's name"
            ));
        }
        Ok(IssueUrlTemplate(template))
    }
}

crate::input::values::deserialize_from_str!(IssueUrlTemplate);

/// A display name and an address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub name: Line,
    pub address: EmailAddress,
}

/// Unsubscribe settings: a per-subscriber URL (required), an optional mailto address, and
/// the list's own wording for texts of the pages `newsletter serve` shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Unsubscribe {
    pub(crate) url: UrlTemplate,
    #[serde(default)]
    pub(crate) mailto: Option<EmailAddress>,
    #[serde(default)]
    pub(crate) page: PageWording,
}

/// A dot-atom identifier such as `bulletin.example.org` (list ids, Message-ID domains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListId(String);

impl ListId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ListId {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let valid_label = |label: &str| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        // At most the length of a domain name, so that `List-Id` fits on a header line.
        if value.len() <= 253 && value.contains('.') && value.split('.').all(valid_label) {
            Ok(ListId(value.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{value}` must be a dotted name of letters, digits and `-`, such as `bulletin.example.org`"
            ))
        }
    }
}

crate::input::values::deserialize_from_str!(ListId);

/// A URL with placeholders filled per subscriber: `{email}` (the address), `{list}` (the list
/// id), `{token}` and `{id}` (the address as an opaque id; both in
/// [`crate::compose::unsubscribe`]). Values are percent-encoded when filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(MergeUrl);

/// The longest [`UrlTemplate`], in characters.
pub(crate) const MAX_URL_TEMPLATE_CHARS: usize = 256;

/// The placeholders a [`UrlTemplate`] may use.
pub(crate) const URL_PLACEHOLDERS: [&str; 4] = ["email", "list", "token", "id"];

impl UrlTemplate {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn uses(&self, placeholder: &str) -> bool {
        self.0.uses(placeholder)
    }

    /// The URL for one subscriber. `value` gives the raw value of each placeholder.
    pub fn fill(&self, value: impl Fn(&str) -> String) -> String {
        self.0.fill(|placeholder| value(&placeholder.name))
    }
}

impl FromStr for UrlTemplate {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let chars = value.trim().chars().count();
        // `List-Unsubscribe` holds the filled URL on one header line of at most 998 characters.
        if chars > MAX_URL_TEMPLATE_CHARS {
            return Err(format!(
                "is {chars} characters long; an unsubscribe URL may have at most {MAX_URL_TEMPLATE_CHARS}"
            ));
        }
        let template = MergeUrl::parse(value, Some(&URL_PLACEHOLDERS))?;
        if !template.uses("email") && !template.uses("token") && !template.uses("id") {
            return Err(format!(
                "`{template}` must contain `{{id}}`, `{{email}}` or `{{token}}`, or the unsubscribe endpoint cannot tell who is leaving"
            ));
        }
        Ok(UrlTemplate(template))
    }
}

crate::input::values::deserialize_from_str!(UrlTemplate);

/// Where the placeholders of an unsubscribe URL sit, so that an endpoint can read them back
/// from a request: each must be a whole path segment or a whole query value.
#[derive(Debug, Clone)]
pub(crate) struct UrlPattern {
    segments: Vec<Part>,
    query: Vec<(String, &'static str)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(&'static str),
}

impl UrlPattern {
    /// The pattern of `template`, or why a request cannot be matched against it.
    pub(crate) fn of(template: &UrlTemplate) -> Result<UrlPattern, String> {
        let sentinel = |name: &str| format!("zzplaceholder{name}zz");
        let sample = template.fill(sentinel);
        let url = url::Url::parse(&sample).map_err(|error| error.to_string())?;
        let placeholder = |text: &str| {
            URL_PLACEHOLDERS
                .into_iter()
                .find(|name| text == sentinel(name))
        };
        let stray = |text: &str| text.contains("zzplaceholder");
        let mut segments = Vec::new();
        for segment in url.path().split('/') {
            match placeholder(segment) {
                Some(name) => segments.push(Part::Placeholder(name)),
                None if stray(segment) => {
                    return Err(format!(
                        "a placeholder in the path of `{}` shares its segment with other text; put each in a segment of its own or in the query",
                        template.as_str()
                    ));
                }
                None => segments.push(Part::Literal(segment.to_owned())),
            }
        }
        let mut query = Vec::new();
        for (name, value) in url.query_pairs() {
            match placeholder(&value) {
                Some(placeholder) if !stray(&name) => query.push((name.into_owned(), placeholder)),
                None if !stray(&name) && !stray(&value) => {}
                _ => {
                    return Err(format!(
                        "a placeholder in the query of `{}` is not the whole value of a parameter",
                        template.as_str()
                    ));
                }
            }
        }
        Ok(UrlPattern { segments, query })
    }

    /// The path requests must have, with `{name}` for placeholders (for the access log).
    pub(crate) fn path(&self) -> String {
        self.segments
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.clone(),
                Part::Placeholder(name) => format!("{{{name}}}"),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The placeholder values in a request for `path` and `query` (as received, still
    /// percent-encoded), or `None` if the path is not this URL's. A placeholder missing from
    /// the query is left out.
    pub(crate) fn values(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Option<Vec<(&'static str, String)>> {
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() != self.segments.len() {
            return None;
        }
        let mut values = Vec::new();
        for (part, segment) in self.segments.iter().zip(segments) {
            match part {
                Part::Literal(text) if text == segment => {}
                Part::Literal(_) => return None,
                Part::Placeholder(name) => values.push((*name, decode(segment))),
            }
        }
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
        for (name, placeholder) in &self.query {
            if let Some((_, value)) = pairs.iter().find(|(given, _)| given == name) {
                values.push((*placeholder, value.clone()));
            }
        }
        Some(values)
    }
}

/// A path segment as [`UrlTemplate::fill`] encoded it.
fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("v={segment}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// A loaded list file, with the paths it names resolved against its own folder.
#[derive(Debug)]
pub struct List {
    pub(crate) path: PathBuf,
    pub file: ListFile,
    pub(crate) text: String,
    pub(crate) subscribers_path: PathBuf,
    pub(crate) suppression_path: Option<PathBuf>,
    /// The logo, when it is a file (relative to the list file).
    pub(crate) logo_file: Option<ImageFile>,
}

impl List {
    pub(crate) fn load(path: &Path) -> Result<List, Error> {
        let Document { value: file, text } = document::load::<ListFile>(path, DocumentKind::List)?;
        if file.relay.is_some() && !file.relays.is_empty() {
            return Err(Error::DocumentInvalid {
                location: crate::input::location::Location::line(
                    path,
                    document::top_level_key_line(&text, "relays"),
                ),
                field: Some("relays".into()),
                message: "give either `relay:` (one relay) or `relays:` (several), not both".into(),
            });
        }
        let folder = path.parent().unwrap_or(Path::new(""));
        let subscribers_path = folder.join(&file.subscribers);
        let suppression_path = file.suppression.as_ref().map(|p| folder.join(p));
        let logo_file = match file.brand.logo.as_ref().map(|logo| &logo.src) {
            Some(ImageSource::File(written)) => {
                Some(ImageFile::read(&folder.join(written)).map_err(|message| {
                    Error::DocumentInvalid {
                        location: document::value_location(path, &text, "brand.logo.src", written),
                        field: Some("brand.logo.src".into()),
                        message,
                    }
                })?)
            }
            _ => None,
        };
        Ok(List {
            path: path.to_owned(),
            file,
            text,
            subscribers_path,
            suppression_path,
            logo_file,
        })
    }

    /// The domain of generated `Message-ID`s.
    pub(crate) fn message_id_domain(&self) -> &str {
        self.file
            .message_id_domain
            .as_ref()
            .map_or_else(|| self.file.from.address.domain(), ListId::as_str)
    }
}

/// The `dkim` section of the list file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DkimSettings {
    /// The selector: the public key is published at `SELECTOR._domainkey.DOMAIN`.
    pub(crate) selector: DkimSelector,
    /// The signing domain (`d=`); defaults to the domain of the sender address.
    #[serde(default)]
    pub(crate) domain: Option<ListId>,
}

/// A DKIM selector: one or more DNS labels (DNS labels of letters, digits and `-`, joined by dots) joined by dots, such as
/// `news` or `2026.news`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DkimSelector(String);

impl DkimSelector {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DkimSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = String::deserialize(deserializer)?;
        let valid = !label.is_empty()
            && label.len() <= 63
            && label.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid {
            Ok(DkimSelector(label))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{label}` is not a DKIM selector (DNS labels of letters, digits and `-`, joined by dots)"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_url_is_an_https_folder() {
        let url: AssetsUrl = "https://example.org/news/images/".parse().unwrap();
        assert_eq!(url.join("ab.png"), "https://example.org/news/images/ab.png");
        for bad in [
            "http://example.org/images/",
            "https://example.org/images",
            "https://example.org/images/?v=1",
            "https://example.org/a&b/",
            "images/",
        ] {
            assert!(bad.parse::<AssetsUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn issue_url_template() {
        let template: IssueUrlTemplate = "https://example.org/issues/{issue}.html".parse().unwrap();
        assert_eq!(
            template.fill("2019-06 mou"),
            "https://example.org/issues/2019-06%20mou.html"
        );
        assert!(
            "https://example.org/issues/"
                .parse::<IssueUrlTemplate>()
                .is_err()
        );
        assert!(
            "https://example.org/{issue}/{email}"
                .parse::<IssueUrlTemplate>()
                .is_err()
        );
        assert!(
            "ftp://example.org/{issue}"
                .parse::<IssueUrlTemplate>()
                .is_err()
        );
    }

    #[test]
    fn list_id_is_a_dotted_name() {
        assert_eq!(
            "Bulletin.Example.org".parse::<ListId>().unwrap().as_str(),
            "bulletin.example.org"
        );
        assert!("bulletin".parse::<ListId>().is_err());
        assert!("a..b".parse::<ListId>().is_err());
        assert!("a b.org".parse::<ListId>().is_err());
        assert!("a.org>\r\nBcc: x".parse::<ListId>().is_err());
        assert!(
            format!("{}.org", "a".repeat(250))
                .parse::<ListId>()
                .is_err()
        );
    }

    #[test]
    fn url_template_fills_and_encodes() {
        let template: UrlTemplate = "https://example.org/u?e={email}&l={list}".parse().unwrap();
        let url = template.fill(|name| match name {
            "email" => "zoë+news@example.org".into(),
            _ => "bulletin.example.org".into(),
        });
        assert_eq!(
            url,
            "https://example.org/u?e=zo%C3%AB%2Bnews%40example.org&l=bulletin.example.org"
        );
    }

    #[test]
    fn url_pattern_reads_back_what_fill_wrote() {
        for text in [
            "https://example.org/unsubscribe?list={list}&id={id}&token={token}",
            "https://example.org/u/{id}/{token}?x=1",
            "https://example.org/u?e={email}&t={token}",
        ] {
            let template: UrlTemplate = text.parse().unwrap();
            let pattern = UrlPattern::of(&template).unwrap();
            let url = template.fill(|name| format!("{name} value+/@ü"));
            let url = url::Url::parse(&url).unwrap();
            let values = pattern.values(url.path(), url.query()).unwrap();
            assert!(!values.is_empty());
            for (name, value) in values {
                assert_eq!(value, format!("{name} value+/@ü"), "{text}");
            }
            assert!(pattern.values("/elsewhere", url.query()).is_none());
        }
        let missing = UrlPattern::of(&"https://example.org/u?id={id}&t={token}".parse().unwrap())
            .unwrap()
            .values("/u", Some("id=abc"))
            .unwrap();
        assert_eq!(missing, vec![("id", "abc".to_owned())]);
        for unreadable in [
            "https://example.org/u-{id}",
            "https://example.org/u?id=x{id}",
        ] {
            assert!(
                UrlPattern::of(&unreadable.parse().unwrap()).is_err(),
                "{unreadable}"
            );
        }
    }

    #[test]
    fn url_template_rejects_unknown_placeholders_and_schemes() {
        let unknown = "https://example.org/u?e={mail}".parse::<UrlTemplate>();
        assert!(
            unknown
                .unwrap_err()
                .contains("unknown placeholder `{mail}`")
        );
        let anonymous = "https://example.org/unsubscribe".parse::<UrlTemplate>();
        assert!(anonymous.unwrap_err().contains("must contain"));
        assert!(
            "mailto:x@example.org?{email}"
                .parse::<UrlTemplate>()
                .is_err()
        );
        assert!("https://example.org/{email".parse::<UrlTemplate>().is_err());
        for bad in [
            "https://example.org/u?e={email}\r\nBcc: x@example.org",
            "https://example.org/u?e={email} x",
            "https://example.org/u?e={email}>, <https://evil.example/",
            "https://bücher.example/u?e={email}",
        ] {
            let error = bad.parse::<UrlTemplate>().unwrap_err();
            assert!(error.contains("printable ASCII"), "{error}");
        }
        let long = format!("https://example.org/{}?e={{email}}", "a".repeat(240));
        assert!(
            long.parse::<UrlTemplate>()
                .unwrap_err()
                .contains("at most 256")
        );
    }
}
