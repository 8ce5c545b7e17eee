//! `newsletter preview`: writes each subscriber's message as `.html`, `.txt` and `.eml` files,
//! plus an `index.html` that lists them (and the skipped rows), and `web.html`, the web version
//! of the issue to publish for "view in browser"; and can open the index in a browser.

use std::{
    fmt::Write as _,
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use askama::Template;

use crate::{
    cli::PreviewArguments,
    commands::{
        load::{Input, InputFiles},
        style,
    },
    compose::mailing::Mailing,
    compose::unsubscribe::KeyUse,
    deliver::journal,
    error::{Error, ExitCode},
    input::audience::Tally,
    input::issue::Issue,
    input::subscribers::Skip,
    input::subscribers::{AddressKey, Subscriber},
    output_file::{self, Protected},
    units,
};

/// The file name of the web version in a preview folder.
pub(crate) const WEB_PAGE: &str = "web.html";

struct IndexEntry {
    line: usize,
    name: String,
    email: String,
    stem: String,
    size: String,
}

#[derive(Template)]
#[template(path = "preview-index.html")]
struct IndexTemplate<'a> {
    subject: &'a str,
    issue: String,
    recipients: &'a [IndexEntry],
    skipped: &'a [Skip],
    web_page: &'a str,
    web_url: Option<&'a str>,
}

pub(crate) fn run(arguments: &PreviewArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let input = Input::load(
        &InputFiles::new(&arguments.input, &arguments.signing),
        KeyUse::Preview,
    )?;
    let input_files = input.files();
    let Input {
        issue,
        mailing,
        audience,
        ..
    } = input;
    let wanted = arguments.for_email.as_deref().map(AddressKey::of);
    // A first pass validates every row (and finds the --for subscriber), so nothing is written
    // for a broken list or an address that gets no message.
    let mut found = false;
    let checked = audience.scan_valid(&issue, |subscriber| {
        found |= wanted.is_some_and(|key| key == subscriber.key());
        Ok(())
    })?;
    if let (Some(email), Some(key), false) = (&arguments.for_email, wanted, found) {
        let skip = checked
            .skipped
            .iter()
            .find(|skip| AddressKey::of(&skip.email) == key);
        return Err(match skip {
            Some(skip) => Error::RecipientSkipped {
                email: email.clone(),
                reason: format!("{} (line {})", skip.reason, skip.line),
            },
            None => Error::RecipientNotFound {
                email: email.clone(),
                path: audience.subscribers_path.clone(),
            },
        });
    }
    show_row_notes(&checked, &audience.subscribers_path);

    let (folder, protected) = output_folder(arguments, &issue, &input_files)?;
    let images = write_images(&folder, &issue, &protected)?;
    let image_folder = if issue.list.file.assets_url.is_some() {
        "assets/"
    } else {
        ""
    };
    let now = SystemTime::now();
    let mut entries = Vec::new();
    let tally = audience.scan(&issue, |subscriber| {
        if wanted.is_some_and(|key| key != subscriber.key()) {
            return Ok(());
        }
        entries.push(write_message(
            &folder,
            image_folder,
            &mailing,
            &subscriber,
            now,
            &protected,
        )?);
        Ok(())
    })?;
    let skipped: Vec<Skip> = match wanted {
        Some(_) => Vec::new(),
        None => tally.skipped,
    };
    let index = IndexTemplate {
        subject: mailing.composer.subject(),
        issue: format!(
            "{}, issue {} of {}",
            issue.file.date.long(),
            issue.file.number,
            issue.list.file.name
        ),
        recipients: &entries,
        skipped: &skipped,
        web_page: WEB_PAGE,
        web_url: mailing.prepared.view.web_url.as_deref(),
    }
    .render()
    .map_err(|source| Error::TemplateRender {
        template: "preview-index.html",
        source,
    })?;
    // The web version ("view in browser") has no personal data, so it is the same for everyone.
    write_file(
        &folder.join(WEB_PAGE),
        mailing.prepared.web_page.as_bytes(),
        &protected,
    )?;
    let index_path = folder.join("index.html");
    write_file(&index_path, index.as_bytes(), &protected)?;
    replace_manifest(&folder, &entries, &images, &protected)?;

    let report = report(&issue, &folder, entries.len(), skipped.len(), &index_path);
    style::print(out, format!("{report}\n"))?;
    for note in mailing.notes() {
        style::note(&note);
    }
    if arguments.open {
        open_in_browser(&index_path);
    }
    Ok(ExitCode::Success)
}

/// What the preview wrote, and the images to upload when the list links them.
fn report(issue: &Issue, folder: &Path, written: usize, skipped: usize, index: &Path) -> String {
    let mut report = format!(
        "wrote {written} message(s) to {} ({skipped} skipped)\n  open {}",
        folder.display(),
        index.display()
    );
    if let Some(assets_url) = &issue.list.file.assets_url
        && !issue.images.files().is_empty()
    {
        let _ = write!(
            report,
            "\n  upload the {} image file(s) in {} to {} before sending",
            issue.images.files().len(),
            folder.join(ASSETS_FOLDER).display(),
            assets_url.as_str()
        );
    }
    report
}

/// The notes and warnings the pass over the subscriber file gave.
fn show_row_notes(checked: &Tally, subscribers: &Path) {
    for note in &checked.notes {
        style::note(note);
    }
    for warning in &checked.warnings {
        style::warning(None, &format!("`{}` {warning}", subscribers.display()));
    }
}

fn write_message(
    folder: &Path,
    image_folder: &str,
    mailing: &Mailing,
    subscriber: &Subscriber,
    now: SystemTime,
    protected: &Protected,
) -> Result<IndexEntry, Error> {
    let (built, rendered) = mailing.message_and_parts(subscriber, now)?;
    let stem = subscriber.file_stem();
    let html = mailing
        .prepared
        .with_local_images(&rendered.html, image_folder);
    write_file(
        &folder.join(format!("{stem}.html")),
        html.as_bytes(),
        protected,
    )?;
    write_file(
        &folder.join(format!("{stem}.txt")),
        rendered.text.as_bytes(),
        protected,
    )?;
    write_file(&folder.join(format!("{stem}.eml")), &built.bytes, protected)?;
    Ok(IndexEntry {
        line: subscriber.line,
        name: subscriber.name.clone(),
        email: subscriber.email.to_string(),
        stem,
        size: units::size(built.bytes.len()),
    })
}

/// The folder the preview goes to, made if needed, and what must not be written over there:
/// the files the preview reads and the issue's journal.
fn output_folder(
    arguments: &PreviewArguments,
    issue: &Issue,
    input_files: &[PathBuf],
) -> Result<(PathBuf, Protected), Error> {
    let folder = arguments
        .out
        .clone()
        .unwrap_or_else(|| Path::new("preview").join(issue.slug()));
    fs::create_dir_all(&folder).map_err(|source| Error::Write {
        path: folder.clone(),
        source,
    })?;
    let mut protected = Protected::new(input_files.iter().map(PathBuf::as_path));
    protected.add(&journal::default_path(&issue.real_path));
    Ok((folder, protected))
}

/// The folder of a preview that holds the image files to upload to the list's `assets_url`.
const ASSETS_FOLDER: &str = "assets";

/// Writes the issue's image files, under their content names: beside the pages, or into
/// [`ASSETS_FOLDER`] to upload when the list links them from its `assets_url`. Returns the
/// names written beside the pages (for the manifest).
fn write_images(folder: &Path, issue: &Issue, protected: &Protected) -> Result<Vec<String>, Error> {
    let files = issue.images.files();
    let target = if issue.list.file.assets_url.is_some() && !files.is_empty() {
        let assets = folder.join(ASSETS_FOLDER);
        fs::create_dir_all(&assets).map_err(|source| Error::Write {
            path: assets.clone(),
            source,
        })?;
        assets
    } else {
        folder.to_owned()
    };
    let mut names = Vec::new();
    for file in files {
        let name = file.file_name();
        write_file(&target.join(&name), &file.bytes, protected)?;
        names.push(name);
    }
    Ok(if target == folder { names } else { Vec::new() })
}

/// The file in a preview folder that lists the files the last preview wrote there.
const MANIFEST: &str = ".newsletter-preview";

/// Removes the files an earlier preview wrote into `folder` that this one (the index, the web
/// page and the files of `entries`) did not: an earlier full preview under a `--for` one, say,
/// so that the folder holds what the index lists; then records this preview's files for the
/// next. Only names from the manifest are removed, and only plain names (no folders): files
/// the user put there are never touched.
fn replace_manifest(
    folder: &Path,
    entries: &[IndexEntry],
    images: &[String],
    protected: &Protected,
) -> Result<(), Error> {
    let mut written: Vec<String> = vec![WEB_PAGE.to_owned(), "index.html".to_owned()];
    written.extend(images.iter().cloned());
    for entry in entries {
        for extension in ["html", "txt", "eml"] {
            written.push(format!("{}.{extension}", entry.stem));
        }
    }
    let manifest = folder.join(MANIFEST);
    if let Ok(earlier) = fs::read_to_string(&manifest) {
        for name in earlier.lines() {
            let plain = !name.is_empty()
                && !name.starts_with('.')
                && !name.contains(['/', '\\'])
                && Path::new(name).components().count() == 1;
            if plain && !written.iter().any(|kept| kept == name) {
                match fs::remove_file(folder.join(name)) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(Error::Write {
                            path: folder.join(name),
                            source,
                        });
                    }
                }
            }
        }
    }
    let mut list = written.join("\n");
    list.push('\n');
    write_file(&manifest, list.as_bytes(), protected)
}

fn write_file(path: &Path, bytes: &[u8], protected: &Protected) -> Result<(), Error> {
    output_file::write(path, bytes, protected)
}

/// How long the opener may take to say it failed; one still running after this is taken to
/// have started a browser (some wait for the browser to close).
const OPENER_GRACE: Duration = Duration::from_secs(3);

/// Opens `path` with the desktop's handler (`xdg-open`, `open` on macOS). A machine without a
/// desktop is not an error: the preview is written, so the user is told where it is instead.
fn open_in_browser(path: &Path) {
    let absolute: PathBuf = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    open_with_desktop(absolute.as_os_str());
}

/// Opens `target` (a file or a URL) with the desktop's handler; says where to go by hand when
/// there is none.
pub(crate) fn open_with_desktop(target: &std::ffi::OsStr) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut command = Command::new(opener);
    // The browser has no use for our secrets, and would hand them on to everything it starts.
    for name in crate::env::SECRETS {
        command.env_remove(name);
    }
    // And every other `NEWSLETTER_…` variable: the relays' `password_env` names are those.
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.starts_with("NEWSLETTER_"))
        {
            command.env_remove(name);
        }
    }
    let failure = match command
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("`{opener}` is not installed"))
        }
        Err(error) => Some(format!("`{opener}` did not start: {error}")),
        Ok(mut child) => {
            let started = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => break None,
                    Ok(Some(status)) => break Some(format!("`{opener}` failed ({status})")),
                    Ok(None) if started.elapsed() < OPENER_GRACE => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Ok(None) | Err(_) => break None,
                }
            }
        }
    };
    if let Some(reason) = failure {
        style::warning(
            None,
            &format!(
                "could not open a browser ({reason}); open {} yourself",
                target.display()
            ),
        );
    }
}
