//! Watching the files an issue uses, and rebuilding the live preview when one changes.
//!
//! The watches are on the folders that hold the files, not on the files: an editor that saves
//! by writing a temporary file and renaming it over the original replaces the file (a new
//! inode), which a watch on the old file would never report. Events are debounced: an editor
//! that saves in several steps (truncate, write, rename, touch) causes one rebuild, made once
//! the folder has been quiet for [`QUIET`].

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::{commands::watch::live::Live, error::Error};

/// How long the watched folders must be quiet before a rebuild.
const QUIET: Duration = Duration::from_millis(20);
/// The longest a rebuild waits for quiet, so that a file written without pause still shows.
const PATIENCE: Duration = Duration::from_millis(300);

/// The files to react to, by their full path in a canonical folder.
#[derive(Debug, Default, PartialEq, Eq)]
struct Watched {
    folders: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
}

impl Watched {
    fn of(paths: &[PathBuf]) -> Watched {
        let mut watched = Watched::default();
        for path in paths {
            let (Some(name), Some(folder)) = (path.file_name(), path.parent()) else {
                continue;
            };
            let folder = if folder.as_os_str().is_empty() {
                Path::new(".")
            } else {
                folder
            };
            let Ok(folder) = folder.canonicalize() else {
                continue;
            };
            watched.files.insert(folder.join(name));
            watched.folders.insert(folder);
        }
        watched
    }

    fn concerns(&self, event: &notify::Event) -> bool {
        // Reading a file (ours, when rebuilding) is not a change.
        !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|path| self.files.contains(path))
    }
}

/// Builds `live` for the first time and watches the files it uses, on a thread of its own that
/// rebuilds `live` after every change.
pub(crate) fn watch(live: Arc<Live>) -> Result<(), Error> {
    let (sender, events) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).map_err(|source| Error::FileWatch {
        path: PathBuf::from("."),
        source,
    })?;
    let mut current = Watched::default();
    update(&mut watcher, &mut current, Watched::of(&live.files()))?;
    thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            // The first build runs here, so the server answers at once; the page shows it when
            // it is ready. Until then only the folder is watched.
            live.rebuild();
            let _ = update(&mut watcher, &mut current, Watched::of(&live.files()));
            while let Ok(event) = events.recv() {
                if !event.is_ok_and(|event| current.concerns(&event)) {
                    continue;
                }
                settle(&events);
                live.rebuild();
                // The list file may now name other files; a failure to watch a new folder
                // leaves the old watches, and the next good save tries again.
                let _ = update(&mut watcher, &mut current, Watched::of(&live.files()));
            }
        })
        .map_err(|source| Error::Internal {
            message: format!("cannot start the file watcher: {source}"),
        })?;
    Ok(())
}

/// Waits until no event has come for [`QUIET`], or [`PATIENCE`] has passed.
fn settle(events: &mpsc::Receiver<notify::Result<notify::Event>>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || events.recv_timeout(QUIET.min(left)).is_err() {
            return;
        }
    }
}

fn update(watcher: &mut impl Watcher, current: &mut Watched, wanted: Watched) -> Result<(), Error> {
    for folder in wanted.folders.difference(&current.folders) {
        watcher
            .watch(folder, RecursiveMode::NonRecursive)
            .map_err(|source| Error::FileWatch {
                path: folder.clone(),
                source,
            })?;
    }
    for folder in current.folders.difference(&wanted.folders) {
        let _ = watcher.unwatch(folder);
    }
    *current = wanted;
    Ok(())
}
