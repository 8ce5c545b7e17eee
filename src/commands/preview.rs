//! `newsletter preview`: writes each subscriber's message as `.html`, `.txt` and `.eml` files,
//! plus an `index.html` that lists them (and the skipped rows), and `web.html`, the web version
//! of the issue to publish for "view in browser"; and can open the index in a browser.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::SystemTime,
};

use askama::Template;

use crate::{
    cli::PreviewArguments,
    commands::load::{Input, InputFiles},
    compose::mailing::Mailing,
    compose::unsubscribe::KeyUse,
    error::{Error, ExitCode},
    input::audience::Skip,
    input::subscribers::{AddressKey, Subscriber},
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
    let Input {
        issue,
        mailing,
        audience,
    } = Input::load(&InputFiles::from(&arguments.input), KeyUse::Preview)?;
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
    for warning in &checked.warnings {
        eprintln!(
            "warning: `{}` {warning}",
            audience.subscribers_path.display()
        );
    }

    for note in &checked.notes {
        eprintln!("note: {note}");
    }

    let folder = arguments
        .out
        .clone()
        .unwrap_or_else(|| Path::new("preview").join(issue.slug()));
    fs::create_dir_all(&folder).map_err(|source| Error::Write {
        path: folder.clone(),
        source,
    })?;
    let now = SystemTime::now();
    let mut entries = Vec::new();
    let tally = audience.scan(&issue, |subscriber| {
        if wanted.is_some_and(|key| key != subscriber.key()) {
            return Ok(());
        }
        entries.push(write_message(&folder, &mailing, &subscriber, now)?);
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
    write_file(&folder.join(WEB_PAGE), mailing.prepared.web_page.as_bytes())?;
    let index_path = folder.join("index.html");
    write_file(&index_path, index.as_bytes())?;

    let report = format!(
        "wrote {} message(s) to {} ({} skipped)\n  open {}",
        entries.len(),
        folder.display(),
        skipped.len(),
        index_path.display()
    );
    writeln!(out, "{report}").map_err(|source| Error::Write {
        path: "standard output".into(),
        source,
    })?;
    for note in mailing.notes() {
        eprintln!("note: {note}");
    }
    if arguments.open {
        open_in_browser(&index_path)?;
    }
    Ok(ExitCode::Success)
}

fn write_message(
    folder: &Path,
    mailing: &Mailing,
    subscriber: &Subscriber,
    now: SystemTime,
) -> Result<IndexEntry, Error> {
    let (built, rendered) = mailing.message_and_parts(subscriber, now)?;
    let stem = subscriber.file_stem();
    write_file(
        &folder.join(format!("{stem}.html")),
        rendered.html.as_bytes(),
    )?;
    write_file(
        &folder.join(format!("{stem}.txt")),
        rendered.text.as_bytes(),
    )?;
    write_file(&folder.join(format!("{stem}.eml")), &built.bytes)?;
    Ok(IndexEntry {
        line: subscriber.line,
        name: subscriber.name.clone(),
        email: subscriber.email.to_string(),
        stem,
        size: units::size(built.bytes.len()),
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    fs::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Opens `path` with the desktop's handler (`xdg-open`, `open` on macOS).
fn open_in_browser(path: &Path) -> Result<(), Error> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let absolute: PathBuf = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Command::new(opener)
        .arg(&absolute)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|source| Error::BrowserOpen {
            path: absolute,
            source,
        })
}
