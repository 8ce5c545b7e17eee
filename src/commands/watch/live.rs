//! The state of a live preview: the last good build of the issue, the errors of the last
//! attempt, and a version that goes up on every rebuild, announced to every open page.
//!
//! A rebuild reads the issue and the list file again and prepares the mailing (render-once
//! templates); the subscriber file is read again only when it, or the suppression file, changed
//! on disk, so that a save of the issue costs the same with ten rows or a million.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::SystemTime,
};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::{
    commands::load::{InputFiles, unsubscribe_key},
    commands::watch::subscribers::{Fingerprint, SubscriberIndex},
    compose::{
        lint::{self, Lint},
        mailing::Mailing,
        message::Built,
        render::Rendered,
        unsubscribe::KeyUse,
    },
    error::Error,
    input::{audience::Audience, issue::Issue, location::Location, subscribers::Subscriber},
};

/// One problem as the page and scripts see it: where, and what.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) field: Option<String>,
    /// The `check` rule, for warnings.
    pub(crate) rule: Option<&'static str>,
    pub(crate) message: String,
}

impl Problem {
    fn at(location: Option<&Location>, field: Option<String>, message: String) -> Problem {
        Problem {
            file: location.map(|location| location.path.display().to_string()),
            line: location.map(|location| location.line),
            column: location.and_then(|location| location.column),
            field,
            rule: None,
            message,
        }
    }

    fn of_error(error: &Error) -> Vec<Problem> {
        match error {
            Error::DocumentInvalid {
                location,
                field,
                message,
            } => vec![Problem::at(Some(location), field.clone(), message.clone())],
            Error::SubscriberHeader { location, message } => {
                vec![Problem::at(Some(location), None, message.clone())]
            }
            Error::SubscribersInvalid { problems, .. } => problems
                .iter()
                .map(|(location, message)| Problem::at(Some(location), None, message.clone()))
                .collect(),
            Error::DocumentNotText { location } => {
                vec![Problem::at(Some(location), None, error.to_string())]
            }
            other => {
                let mut message = other.to_string();
                let mut source = std::error::Error::source(other);
                while let Some(cause) = source {
                    message.push_str(": ");
                    message.push_str(&cause.to_string());
                    source = cause.source();
                }
                vec![Problem::at(None, None, message)]
            }
        }
    }

    fn of_lint(lint: Lint) -> Problem {
        let mut problem = Problem::at(lint.location.as_ref(), None, lint.message);
        problem.rule = Some(lint.rule);
        problem
    }
}

/// A build of the issue that succeeded: everything needed to render any subscriber's message.
#[derive(Debug)]
pub(crate) struct Build {
    pub(crate) issue: Issue,
    pub(crate) mailing: Mailing,
    pub(crate) subscribers: Arc<SubscriberIndex>,
    pub(crate) warnings: Vec<Problem>,
    /// Invalid subscriber rows: errors, though the issue itself renders.
    pub(crate) row_errors: Vec<Problem>,
}

/// Whom a message is rendered for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recipient {
    /// An address from the list, or a test address; the first subscriber when `None`.
    pub(crate) email: Option<String>,
    /// Render as if the subscriber had no name (the greeting's fallback).
    pub(crate) no_name: bool,
}

impl Build {
    /// The message to `recipient` and its two parts. An address that is not in the list is a
    /// test address, as with `send --to`: it gets the message of a subscriber with no name.
    pub(crate) fn render(
        &self,
        recipient: &Recipient,
    ) -> Result<(Subscriber, Built, Rendered), String> {
        let listed = match &recipient.email {
            Some(email) => self.subscribers.find(email).cloned(),
            None => self.subscribers.first().cloned(),
        };
        let subscriber = match (listed, &recipient.email) {
            (Some(subscriber), _) if !recipient.no_name => subscriber,
            (Some(subscriber), _) => Subscriber::ad_hoc(subscriber.email),
            (None, Some(email)) => Subscriber::ad_hoc(
                email
                    .parse()
                    .map_err(|_| format!("`{email}` is not an email address"))?,
            ),
            (None, None) => Subscriber::ad_hoc(self.issue.list.file.from.address.address().clone()),
        };
        let (built, rendered) = self
            .mailing
            .message_and_parts(&subscriber, SystemTime::now())
            .map_err(|error| error.to_string())?;
        Ok((subscriber, built, rendered))
    }
}

/// What `/status.json` answers.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub(crate) version: u64,
    /// The version the page shows: the last build that succeeded (0 if none did).
    pub(crate) good_version: u64,
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
    pub(crate) subject: Option<String>,
    pub(crate) preheader: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) first: Option<String>,
    pub(crate) recipients: usize,
    pub(crate) skipped: usize,
}

#[derive(Debug, Default)]
struct Current {
    version: u64,
    good_version: u64,
    build: Option<Arc<Build>>,
    errors: Vec<Problem>,
    /// Every file the last attempt read (or would have read), for the watcher.
    files: Vec<PathBuf>,
}

/// A subscriber index with the files it was read from and their fingerprint then.
type CachedIndex = (Vec<PathBuf>, Fingerprint, Arc<SubscriberIndex>);

/// The shared state of one live preview.
#[derive(Debug)]
pub(crate) struct Live {
    files: InputFiles,
    current: RwLock<Current>,
    events: broadcast::Sender<u64>,
    /// The subscriber index of the last build, and the files it was read from.
    index_cache: Mutex<Option<CachedIndex>>,
}

impl Live {
    pub(crate) fn new(files: InputFiles) -> Live {
        let current = Current {
            files: vec![files.issue.clone()],
            ..Current::default()
        };
        Live {
            files,
            current: RwLock::new(current),
            events: broadcast::channel(16).0,
            index_cache: Mutex::new(None),
        }
    }

    /// Reads every file again, keeps the build if it succeeded (the previous good one if not),
    /// and announces the new version. Returns it.
    pub(crate) fn rebuild(&self) -> u64 {
        let mut files = vec![self.files.issue.clone()];
        let result = self.build(&mut files);
        let version = {
            let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
            current.version += 1;
            match result {
                Ok(build) => {
                    current.errors.clone_from(&build.row_errors);
                    current.build = Some(Arc::new(build));
                    current.good_version = current.version;
                }
                Err(error) => current.errors = Problem::of_error(&error),
            }
            // A broken issue names no list: keep watching what the last good build read.
            for file in std::mem::take(&mut current.files) {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
            current.files = files;
            current.version
        };
        // Nobody listening is fine: the page asks for the status when it connects.
        let _ = self.events.send(version);
        version
    }

    fn build(&self, files: &mut Vec<PathBuf>) -> Result<Build, Error> {
        let issue = Issue::load(&self.files.issue)?;
        files.extend([issue.real_path.clone(), issue.list.path.clone()]);
        let mailing = Mailing::prepare(
            &issue,
            KeyUse::Preview,
            unsubscribe_key(KeyUse::Preview)?,
            self.files.dkim_key.as_deref(),
        )?;
        let audience = Audience::of(
            &issue,
            self.files.subscribers.as_deref(),
            self.files.suppression.as_deref(),
        )?;
        files.push(audience.subscribers_path.clone());
        files.extend(audience.suppression_path.clone());
        let subscribers = self.subscribers(&audience, &issue)?;
        let mut warnings: Vec<Problem> = lint::lint_issue(&issue)
            .into_iter()
            .map(Problem::of_lint)
            .collect();
        if let Some(first) = subscribers.first() {
            let (_, rendered) = mailing.message_and_parts(first, SystemTime::now())?;
            let email: &str = first.email.as_ref();
            warnings.extend(lint::lint_parts(&rendered).into_iter().map(|mut lint| {
                lint.message = format!("{} (message to {email})", lint.message);
                Problem::of_lint(lint)
            }));
        }
        warnings.extend(subscribers.warnings.iter().map(|warning| {
            let mut problem = Problem::at(
                None,
                None,
                format!("`{}` {warning}", audience.subscribers_path.display()),
            );
            problem.file = Some(audience.subscribers_path.display().to_string());
            problem.rule = Some("subscriber-name");
            problem
        }));
        let row_errors = subscribers
            .invalid
            .iter()
            .map(|(location, message)| Problem::at(Some(location), None, message.clone()))
            .collect();
        Ok(Build {
            issue,
            mailing,
            subscribers,
            warnings,
            row_errors,
        })
    }

    /// The subscriber index, read again only if its files changed since the last build.
    fn subscribers(
        &self,
        audience: &Audience,
        issue: &Issue,
    ) -> Result<Arc<SubscriberIndex>, Error> {
        // Opening reads only the header: a new merge field in the issue is checked against the
        // columns even when the rows are not read again.
        drop(audience.open(issue)?);
        let mut paths = vec![audience.subscribers_path.clone()];
        paths.extend(audience.suppression_path.clone());
        let fingerprint = Fingerprint::of(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        let mut cache = self
            .index_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_paths, cached, index)) = cache.as_ref()
            && *cached_paths == paths
            && *cached == fingerprint
        {
            return Ok(Arc::clone(index));
        }
        let index = Arc::new(SubscriberIndex::read(audience, issue)?);
        *cache = Some((paths, fingerprint, Arc::clone(&index)));
        Ok(index)
    }

    /// The last good build, if any.
    pub(crate) fn build_shown(&self) -> Option<Arc<Build>> {
        self.read().build.clone()
    }

    pub(crate) fn status(&self) -> Status {
        let current = self.read();
        let build = current.build.as_deref();
        let view = build.map(|build| &build.mailing.prepared.view);
        Status {
            version: current.version,
            good_version: current.good_version,
            errors: current.errors.clone(),
            warnings: build
                .map(|build| build.warnings.clone())
                .unwrap_or_default(),
            // As written: placeholders show as `{name}` (the email shows them filled).
            subject: build.map(|build| build.issue.file.subject.to_string()),
            preheader: view.map(|view| view.preheader.clone()),
            from: build.map(|build| {
                let from = &build.issue.list.file.from;
                format!("{} <{}>", from.name, from.address)
            }),
            first: build
                .and_then(|build| build.subscribers.first())
                .map(|subscriber| subscriber.email.to_string()),
            recipients: build.map_or(0, |build| build.subscribers.len()),
            skipped: build.map_or(0, |build| build.subscribers.skipped),
        }
    }

    /// The files to watch: those the last attempt read, and those the last good build read.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.read().files.clone()
    }

    pub(crate) fn version(&self) -> u64 {
        self.read().version
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.events.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}
