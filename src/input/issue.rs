//! An issue of the newsletter, as written in `newsletters/*.yaml`, with the list file it refers
//! to. Loading checks everything that can be checked without the subscriber file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    error::Error,
    input::document::{self, Document},
    input::images::{ImageFile, ImageSource, Images},
    input::list::List,
    input::location::DocumentKind,
    input::location::Location,
    input::placeholders::{self, MergeText, MergeUrl, Placeholder},
    input::values::{EmailAddress, IssueDate, Line, Markdown},
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
    /// The first line of the email, with `{column}` placeholders from the subscriber file;
    /// [`DEFAULT_GREETING`] when not written.
    #[serde(default)]
    pub(crate) greeting: Option<MergeText>,
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

/// The greeting of an issue that does not write one.
pub(crate) const DEFAULT_GREETING: &str = "Dear {name},";

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
    pub(crate) url: MergeUrl,
    pub(crate) label: Line,
}

/// An image shown above a story.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Image {
    /// Where the image is hosted (mail clients fetch it), or a file relative to the issue
    /// (carried in each message, or linked from the list's `assets_url`).
    pub(crate) src: ImageSource,
    /// What the image shows, for readers who do not load images.
    pub(crate) alt: Line,
    /// Display width in pixels, 1 to 600; shown at most [`CONTENT_WIDTH`] wide (a wider one is
    /// scaled down, and `check` warns).
    #[serde(default)]
    pub(crate) width: Option<ImageWidth>,
    /// Where a click on the image goes.
    #[serde(default)]
    pub(crate) link: Option<MergeUrl>,
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

/// The width of the column that holds the stories (the body less its side padding): the
/// widest an image is shown.
pub(crate) const CONTENT_WIDTH: u32 = MAX_WIDTH - 80;

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

/// Every text of an issue a reader sees that may hold placeholders, with its field path (the
/// greeting has its own rules).
pub(crate) fn merge_fields(file: &IssueFile) -> Vec<(String, &str)> {
    let mut fields = vec![("subject".to_owned(), file.subject.as_str())];
    fields.extend(
        file.preheader
            .iter()
            .map(|p| ("preheader".to_owned(), p.as_str())),
    );
    fields.extend(file.intro.iter().map(|m| ("intro".to_owned(), m.as_str())));
    for (index, story) in file.stories.iter().enumerate() {
        let at = |name: &str| format!("stories[{index}].{name}");
        fields.push((at("title"), story.title.as_str()));
        fields.push((at("body"), story.body.as_str()));
        if let Some(link) = &story.link {
            fields.push((at("link.label"), link.label.as_str()));
            fields.push((at("link.url"), link.url.as_str()));
        }
        if let Some(image) = &story.image {
            fields.push((at("image.alt"), image.alt.as_str()));
            if let Some(link) = &image.link {
                fields.push((at("image.link"), link.as_str()));
            }
        }
    }
    if let Some(contact) = &file.contact {
        fields.push(("contact.name".to_owned(), contact.name.as_str()));
        fields.extend(
            contact
                .role
                .iter()
                .map(|r| ("contact.role".to_owned(), r.as_str())),
        );
    }
    fields.extend(
        file.footer
            .iter()
            .map(|m| ("footer".to_owned(), m.as_str())),
    );
    fields
}

/// The percent-encoded form of the marker characters [`crate::compose::render`] puts in place of
/// placeholders: Markdown link targets are percent-encoded, so markers are found in that form
/// there, and no text may hold it.
const ENCODED_MARKER: &str = "%ee%80%8";

/// Refuses a malformed placeholder in any field that may hold them, at its line and column.
fn check_placeholders(path: &Path, text: &str, file: &IssueFile) -> Result<(), Error> {
    for (field, value) in merge_fields(file) {
        let invalid = |message: String, needle: &str| Error::DocumentInvalid {
            location: document::value_location(path, text, &field, needle),
            field: Some(field.clone()),
            message,
        };
        if let Some(at) = value.to_ascii_lowercase().find(ENCODED_MARKER) {
            let written = &value[at..(at + ENCODED_MARKER.len() + 1).min(value.len())];
            return Err(invalid(
                format!(
                    "`{written}` is the percent-encoding of a private-use character newsletter reserves"
                ),
                written,
            ));
        }
        if let Err(error) = placeholders::scan(value) {
            let needle = match &error {
                placeholders::ScanError::Unclosed { written }
                | placeholders::ScanError::BadCharacter { written, .. } => written.clone(),
                placeholders::ScanError::Empty => "{}".into(),
                placeholders::ScanError::StrayClose => "}".into(),
            };
            return Err(invalid(error.to_string(), &needle));
        }
    }
    Ok(())
}

/// The image files the issue names, with the field that names each: story images and the
/// images of its Markdown.
pub(crate) fn image_files(file: &IssueFile) -> Vec<(String, String)> {
    fn markdown(found: &mut Vec<(String, String)>, field: &str, text: &Markdown) {
        for target in text.image_targets() {
            if crate::input::images::is_file_path(&target) {
                found.push((field.to_owned(), target.trim().to_owned()));
            }
        }
    }
    let mut found = Vec::new();
    if let Some(intro) = &file.intro {
        markdown(&mut found, "intro", intro);
    }
    for (index, story) in file.stories.iter().enumerate() {
        if let Some(Image {
            src: ImageSource::File(written),
            ..
        }) = &story.image
        {
            found.push((format!("stories[{index}].image.src"), written.clone()));
        }
        markdown(&mut found, &format!("stories[{index}].body"), &story.body);
    }
    if let Some(footer) = &file.footer {
        markdown(&mut found, "footer", footer);
    }
    found
}

/// An issue file beside another, as far as a quick look at its top-level lines tells.
#[derive(Debug)]
pub(crate) struct Sibling {
    pub(crate) path: PathBuf,
    pub(crate) number: Option<u32>,
    pub(crate) date: Option<String>,
}

/// The issue files in `folder` other than `except`: YAML files with a top-level `list:` key.
/// Read line by line, not parsed, so one broken file does not stop `new` or `check`.
pub(crate) fn sibling_issues(folder: &Path, except: &Path) -> Vec<Sibling> {
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let except = except.file_name();
    let mut siblings: Vec<Sibling> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
                && path.file_name() != except
                && path.is_file()
        })
        .filter_map(|path| {
            let size = std::fs::metadata(&path).ok()?.len();
            if size > document::MAX_DOCUMENT_BYTES {
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            let value = |key: &str| {
                text.lines().find_map(|line| {
                    let rest = line.strip_prefix(key)?.trim_start().strip_prefix(':')?;
                    let value = rest.split(" #").next().unwrap_or(rest).trim();
                    Some(value.trim_matches(['"', '\'']).to_owned())
                })
            };
            value("list")?;
            Some(Sibling {
                number: value("number").and_then(|n| n.parse().ok()),
                date: value("date"),
                path,
            })
        })
        .collect();
    siblings.sort_by(|a, b| a.path.cmp(&b.path));
    siblings
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
    /// The image files the issue and the list's logo name, each read once.
    pub(crate) images: Images,
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
        check_placeholders(path, &text, &file)?;
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
        let mut images = Images::default();
        if let Some(logo) = &list.logo_file {
            images.add(None, logo.clone());
        }
        let folder = real_path.parent().unwrap_or(Path::new(""));
        for (field, written) in image_files(&file) {
            if images.knows(&written) {
                continue;
            }
            let image = ImageFile::read(&folder.join(&written)).map_err(|message| {
                Error::DocumentInvalid {
                    location: document::value_location(path, &text, &field, &written),
                    field: Some(field.clone()),
                    message,
                }
            })?;
            images.add(Some(&written), image);
        }
        Ok(Issue {
            path: path.to_owned(),
            real_path,
            file,
            text,
            list,
            images,
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
    /// list file, the image files they name and the version of newsletter (which carries the
    /// templates). Hex SHA-256. An issue without image files hashes as it did before images
    /// could be files.
    pub(crate) fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [env!("CARGO_PKG_VERSION"), &self.text, &self.list.text] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        // A photo replaced between a send and its resume changes the messages as much as an
        // edit of the text does.
        for file in self.images.files() {
            hasher.update(file.file_name().as_bytes());
        }
        crate::units::hex(&hasher.finalize())
    }

    /// The greeting: the one written, or [`DEFAULT_GREETING`].
    pub(crate) fn greeting(&self) -> MergeText {
        self.file.greeting.clone().unwrap_or_else(|| {
            DEFAULT_GREETING
                .parse()
                .expect("the default greeting is valid")
        })
    }

    /// Checks that every placeholder of the issue names a column of the subscriber file.
    /// Returns notes for the user: the default greeting names `{name}`, and a subscriber file
    /// without that column gets the fallback greeting instead of an error about a field the
    /// user never wrote.
    pub(crate) fn check_columns(
        &self,
        subscribers: &Path,
        columns: &[String],
    ) -> Result<Vec<String>, Error> {
        let is_column = |name: &str| columns.iter().any(|column| column == name);
        let mut notes = Vec::new();
        let greeting = self.greeting();
        let greeting_unknown = greeting.placeholders().find(|p| !is_column(&p.name));
        if let Some(unknown) = greeting_unknown {
            if self.file.greeting.is_none() {
                notes.push(format!(
                    "`{}` has no `{}` column, so every message opens with the greeting fallback \"{}\" (write `greeting:` in the issue to change this)",
                    subscribers.display(),
                    unknown.name,
                    self.file.greeting_fallback
                ));
            } else {
                return Err(self.not_a_column("greeting", unknown, subscribers, columns));
            }
        }
        for (field, text) in merge_fields(&self.file) {
            let Ok(pieces) = placeholders::scan(text) else {
                continue;
            };
            if let Some(unknown) = placeholders::placeholders(&pieces).find(|p| !is_column(&p.name))
            {
                return Err(self.not_a_column(&field, unknown, subscribers, columns));
            }
        }
        Ok(notes)
    }

    fn not_a_column(
        &self,
        field: &str,
        placeholder: &Placeholder,
        subscribers: &Path,
        columns: &[String],
    ) -> Error {
        Error::DocumentInvalid {
            location: document::value_location(&self.path, &self.text, field, &placeholder.written),
            field: Some(field.to_owned()),
            message: format!(
                "`{}` is not a column of `{}` (its columns are {})",
                placeholder.written,
                subscribers.display(),
                columns
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
