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
    pub(crate) path: PathBuf,
    pub(crate) file: IssueFile,
    pub(crate) text: String,
    pub list: List,
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
        let list_path = path.parent().unwrap_or(Path::new("")).join(&file.list);
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
            file,
            text,
            list,
        })
    }

    /// A short name for this issue in file names and messages: the issue file's stem.
    pub(crate) fn slug(&self) -> String {
        self.path.file_stem().map_or_else(
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
