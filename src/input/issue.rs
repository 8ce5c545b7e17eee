//! An issue of the newsletter, as written in `newsletters/*.yaml`, with the list file it refers
//! to. Loading checks everything that can be checked without the subscriber file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    error::Error,
    input::document::{self, Document},
    input::list::List,
    input::location::DocumentKind,
    input::location::Location,
    input::placeholders::MergeText,
    input::values::{EmailAddress, IssueDate, Line, Markdown, WebUrl},
};

/// The issue file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueFile {
    /// The list file, relative to the issue file.
    pub(crate) list: PathBuf,
    /// The issue number, shown in the header.
    pub(crate) number: u32,
    /// The issue date, `YYYY-MM-DD`.
    pub(crate) date: IssueDate,
    /// The email subject.
    pub(crate) subject: Line,
    /// The preview text mail clients show after the subject.
    #[serde(default)]
    pub(crate) preheader: Option<Line>,
    /// The first line of the email, with `{column}` placeholders from the subscriber file.
    #[serde(default = "default_greeting")]
    pub(crate) greeting: MergeText,
    /// The first line when a placeholder of `greeting` is blank for a subscriber.
    #[serde(default = "default_greeting_fallback")]
    pub(crate) greeting_fallback: Line,
    /// Markdown shown after the greeting, before the stories.
    #[serde(default)]
    pub(crate) intro: Option<Markdown>,
    /// One or more stories.
    pub(crate) stories: Vec<Story>,
    /// Who readers can contact about this issue.
    #[serde(default)]
    pub(crate) contact: Option<Contact>,
    /// Markdown shown above the unsubscribe line.
    #[serde(default)]
    pub(crate) footer: Option<Markdown>,
}

fn default_greeting() -> MergeText {
    "Dear {name},"
        .parse()
        .expect("the default greeting is valid")
}

fn default_greeting_fallback() -> Line {
    "Hello,"
        .parse()
        .expect("the default greeting fallback is valid")
}

/// One story of an issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Story {
    pub(crate) title: Line,
    /// The story text, in Markdown.
    pub(crate) body: Markdown,
    #[serde(default)]
    pub(crate) link: Option<Link>,
    #[serde(default)]
    pub(crate) image: Option<Image>,
}

/// A link shown as a button under a story.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Link {
    pub(crate) url: WebUrl,
    pub(crate) label: Line,
}

/// An image shown above a story.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Image {
    /// Where the image is hosted (mail clients fetch it).
    pub(crate) src: WebUrl,
    /// What the image shows, for readers who do not load images.
    pub(crate) alt: Line,
    /// Display width in pixels; at most 600, the width of the email.
    #[serde(default)]
    pub(crate) width: Option<ImageWidth>,
}

/// An image width between 1 and 600 pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImageWidth(pub(crate) u32);

impl<'de> Deserialize<'de> for ImageWidth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let width = u32::deserialize(deserializer)?;
        if (1..=MAX_WIDTH).contains(&width) {
            Ok(ImageWidth(width))
        } else {
            Err(serde::de::Error::custom(format!(
                "{width} is not a width between 1 and {MAX_WIDTH} pixels"
            )))
        }
    }
}

/// The width of the email body in pixels.
pub(crate) const MAX_WIDTH: u32 = 600;

/// A person readers can write to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contact {
    pub(crate) name: Line,
    pub(crate) email: EmailAddress,
    /// Their role or team, e.g. `SIN Singapore`.
    #[serde(default)]
    pub(crate) role: Option<Line>,
}

/// A loaded issue with its list.
#[derive(Debug)]
pub struct Issue {
    /// The path as the user gave it, for messages.
    pub(crate) path: PathBuf,
    /// The file itself, with symbolic links at the final component resolved (`alias.yaml`
    /// linked to `issue.yaml` gives `issue.yaml`): what the issue's identity (slug,
    /// `Message-ID`s, journal and its lock) follows, so that every spelling of the same issue
    /// is the same issue. Links in the folders above need no resolving: the file name, and
    /// so the journal beside it, is the same through them.
    pub(crate) real_path: PathBuf,
    pub(crate) file: IssueFile,
    pub(crate) text: String,
    pub list: List,
}

/// `path` with each symbolic link at its final component replaced by the link's target (a
/// relative target is relative to the link's folder), keeping the spelling relative when the
/// links are.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut real = path.to_owned();
    // The kernel's own limit on links in a row (ELOOP beyond it).
    for _ in 0..40 {
        if !std::fs::symlink_metadata(&real)?.file_type().is_symlink() {
            return Ok(real);
        }
        let target = std::fs::read_link(&real)?;
        real = match real.parent() {
            Some(folder) if target.is_relative() => folder.join(target),
            _ => target,
        };
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

impl Issue {
    pub fn load(path: &Path) -> Result<Issue, Error> {
        let Document { value: file, text } =
            document::load::<IssueFile>(path, DocumentKind::Issue)?;
        if file.stories.is_empty() {
            return Err(Error::DocumentInvalid {
                location: Location::line(path, document::top_level_key_line(&text, "stories")),
                field: Some("stories".into()),
                message: "an issue needs at least one story".into(),
            });
        }
        let real_path = resolve_links(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        // Beside the real file, so every spelling of the issue reads the same list.
        let list_path = real_path.parent().unwrap_or(Path::new("")).join(&file.list);
        // A list file that is not there is a mistake in this issue's `list` field, so it is
        // reported there (and as invalid input), not as a failure to read.
        let list = List::load(&list_path).map_err(|error| match error {
            Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::DocumentInvalid {
                    location: Location::line(path, document::top_level_key_line(&text, "list")),
                    field: Some("list".into()),
                    message: format!("the list file `{}` does not exist", list_path.display()),
                }
            }
            other => other,
        })?;
        Ok(Issue {
            path: path.to_owned(),
            real_path,
            file,
            text,
            list,
        })
    }

    /// A short name for this issue in file names and messages: the real issue file's stem.
    pub(crate) fn slug(&self) -> String {
        self.real_path.file_stem().map_or_else(
            || "issue".into(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    }

    /// A digest of everything that decides the content of the messages: the issue file, the
    /// list file and the version of newsletter (which carries the templates). Hex SHA-256.
    pub(crate) fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [env!("CARGO_PKG_VERSION"), &self.text, &self.list.text] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        crate::units::hex(&hasher.finalize())
    }

    /// Checks that every placeholder of the greeting is a column of the subscriber file.
    pub(crate) fn check_columns(
        &self,
        subscribers: &Path,
        columns: &[String],
    ) -> Result<(), Error> {
        for field in self.file.greeting.fields() {
            if !columns.iter().any(|column| column == field) {
                return Err(Error::DocumentInvalid {
                    location: Location::line(
                        &self.path,
                        document::top_level_key_line(&self.text, "greeting"),
                    ),
                    field: Some("greeting".into()),
                    message: format!(
                        "`{{{field}}}` is not a column of `{}` (its columns are {})",
                        subscribers.display(),
                        columns
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}
