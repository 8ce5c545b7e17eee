//! `newsletter new ISSUE_PATH [--list LIST_FILE]`: writes a new issue with the next number
//! (one more than the highest of the issues beside it), today's date, one story to fill in and
//! a comment on each field, so a user can start from the file rather than from the README.
//! Without a list file it writes a sample `list.yaml` and `subscribers.csv` beside the issue.
//! It never overwrites a file.

use std::{
    fmt::Write as _,
    fs,
    io::Write,
    path::{Component, Path, PathBuf},
};

use crate::{
    cli::NewArguments,
    commands::style,
    error::{Error, ExitCode},
    input::{issue, list::List},
};

/// The sample list file, written when the new issue has none.
const SAMPLE_LIST: &str = r#"# Settings shared by every issue of this newsletter; each issue names this file in `list:`.
# README.md, section "The files", describes every field.
name: Example Bulletin
# The list identifier for the List-Id header: a dotted name you control.
id: bulletin.example.org
from:
  name: Example Team
  address: bulletin@example.org
# The subscriber file (CSV with a header row: email, name, and any columns you use as
# {column} placeholders), relative to this file.
subscribers: subscribers.csv
unsubscribe:
  # Each subscriber's unsubscribe link; {token} proves the link was sent to them (README.md,
  # "Unsubscribe links").
  url: "https://example.org/unsubscribe?list={list}&email={email}&token={token}"
# The sender's postal address, shown in the footer (required of bulk senders in many countries).
postal_address: "Example Team, 1 Example Street, Example Town"
"#;

/// The sample subscriber file.
const SAMPLE_SUBSCRIBERS: &str = "email,name\nada@example.org,Ada Lovelace\n";

pub(crate) fn run(arguments: &NewArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let issue_path = &arguments.issue;
    refuse_existing(issue_path)?;
    let folder = issue_path.parent().unwrap_or(Path::new(""));
    let mut written = Vec::new();
    if !folder.as_os_str().is_empty() {
        fs::create_dir_all(folder).map_err(|source| Error::Write {
            path: folder.to_owned(),
            source,
        })?;
    }
    let list_path = match &arguments.list {
        Some(list) => list.clone(),
        None => folder.join("list.yaml"),
    };
    if list_path.exists() {
        // A list that does not load would make an issue that cannot be checked.
        List::load(&list_path)?;
    } else if arguments.list.is_some() {
        return Err(Error::Read {
            path: list_path,
            source: std::io::ErrorKind::NotFound.into(),
        });
    } else {
        write_new(&list_path, SAMPLE_LIST)?;
        written.push(list_path.clone());
        let subscribers = folder.join("subscribers.csv");
        if !subscribers.exists() {
            write_new(&subscribers, SAMPLE_SUBSCRIBERS)?;
            written.push(subscribers);
        }
    }
    let number = next_number(folder, issue_path);
    let today = time::OffsetDateTime::now_utc().date();
    let text = issue_text(&relative_path(folder, &list_path), number, today);
    write_new(issue_path, &text)?;
    written.push(issue_path.clone());
    let mut summary = String::new();
    for path in &written {
        let _ = writeln!(summary, "wrote {}", path.display());
    }
    let _ = writeln!(
        summary,
        "next: edit {0}, then `newsletter check {0}`",
        issue_path.display()
    );
    style::print(out, summary)?;
    Ok(ExitCode::Success)
}

fn refuse_existing(path: &Path) -> Result<(), Error> {
    if path.symlink_metadata().is_ok() {
        return Err(Error::NewFileExists {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Writes `text` to a file that must not exist yet (`create_new`, so a file made meanwhile is
/// not overwritten either).
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => Error::NewFileExists {
                path: path.to_owned(),
            },
            _ => Error::Write {
                path: path.to_owned(),
                source,
            },
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })
}

/// One more than the highest issue number of the issue files beside `issue_path`.
fn next_number(folder: &Path, issue_path: &Path) -> u32 {
    issue::sibling_issues(folder, issue_path)
        .into_iter()
        .filter_map(|sibling| sibling.number)
        .max()
        .map_or(1, |highest| highest.saturating_add(1))
}

/// `to` relative to the folder `from`, for the issue's `list:` field.
fn relative_path(from: &Path, to: &Path) -> String {
    // The parts of an absolute path with `.` and `..` resolved (without following links).
    let parts = |path: &Path| -> Vec<std::ffi::OsString> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let mut parts = Vec::new();
        for component in absolute.components() {
            match component {
                Component::ParentDir => {
                    parts.pop();
                }
                Component::CurDir => {}
                other => parts.push(other.as_os_str().to_owned()),
            }
        }
        parts
    };
    let (from, to) = (parts(from), parts(to));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for part in &to[common..] {
        relative.push(part);
    }
    relative.to_string_lossy().into_owned()
}

/// The new issue, every field commented.
fn issue_text(list: &str, number: u32, date: time::Date) -> String {
    let list = if list.contains([':', '#', '"', '\'']) || list.starts_with([' ', '-']) {
        format!("\"{}\"", list.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        list.to_owned()
    };
    format!(
        r#"# A newsletter issue. README.md, section "Writing an issue", describes every field.
# Check it with `newsletter check THIS_FILE`, look at it with `newsletter preview THIS_FILE --open`.

# The list file (sender, unsubscribe link, subscribers), relative to this file.
list: {list}
# The issue number and date shown under the newsletter's name.
number: {number}
date: {date}
# The subject line. Any text a reader sees may hold {{column}} placeholders from the
# subscriber file, with a default after `|` for a blank value: {{name|reader}}. Write {{{{ for a
# literal brace.
subject: "Issue {number}: the headline of this issue"
# The preview text mail clients show after the subject (up to about 100 characters).
preheader: "One sentence that makes readers open this issue."
# The first line; greeting_fallback is used when a placeholder of it is blank.
greeting: "Dear {{name}},"
greeting_fallback: "Hello,"
# Markdown shown after the greeting, styled as the issue's lede.
intro: |
  A short introduction to this issue.
# One or more stories, each with a title and a Markdown body; link (a button) and image
# are optional.
stories:
  - title: "The first story"
    body: |
      Write the story in Markdown: *emphasis*, **bold**, [links](https://example.org/),
      lists, and tables:

      | What | When |
      |---|---|
      | Kick-off | Monday |
    link:
      url: "https://example.org/"
      label: "Read the full story on example.org"
    # image:
    #   src: "https://example.org/photo.jpg"   # or a file beside this one: photo.jpg
    #   alt: "What the photo shows, for readers without images"
    #   width: 520
# Who readers can write to about this issue (optional).
# contact:
#   name: "Sam Example"
#   email: "sam@example.org"
#   role: "Example Team"
# Markdown shown above the unsubscribe line (optional).
# footer: |
#   You get this bulletin because you work with the Example Team.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_and_descend() {
        assert_eq!(
            relative_path(Path::new("/a/b/issues"), Path::new("/a/b/issues/list.yaml")),
            "list.yaml"
        );
        assert_eq!(
            relative_path(Path::new("/a/b/issues"), Path::new("/a/shared/list.yaml")),
            "../../shared/list.yaml"
        );
    }

    #[test]
    fn the_issue_text_parses_as_an_issue() {
        let date = time::macros::date!(2026 - 07 - 01);
        let text = issue_text("list.yaml", 3, date);
        let file: issue::IssueFile = crate::input::document::parse(
            Path::new("new.yaml"),
            &text,
            crate::input::location::DocumentKind::Issue,
        )
        .unwrap();
        assert_eq!(file.number, 3);
        assert_eq!(file.date.iso(), "2026-07-01");
    }
}
