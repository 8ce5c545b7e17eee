//! Files newsletter writes (the `--report`, preview pages, `.eml` files, the journal) are
//! opened here, so that a hostile or mistaken path cannot turn a write into damage: the final
//! component is never followed when it is a symbolic link (`O_NOFOLLOW`), and a file this run
//! reads (issue, list, subscriber and suppression files, DKIM key, journal) is never written
//! over, however it is spelled (the check compares device and inode of the opened file, so a
//! hard link or a `..` detour is caught as well). Directories above the final component are
//! followed as usual.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use crate::error::Error;

/// The files a run reads, which nothing it writes may replace.
#[derive(Debug, Clone, Default)]
pub(crate) struct Protected {
    /// Each existing file's path (as given) with its device and inode.
    files: Vec<(PathBuf, u64, u64)>,
}

impl Protected {
    /// The files among `paths` that exist now; missing ones cannot be overwritten by accident.
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Protected {
        let mut protected = Protected::default();
        for path in paths {
            protected.add(path);
        }
        protected
    }

    pub(crate) fn add(&mut self, path: &Path) {
        if let Ok(metadata) = fs::metadata(path) {
            self.files
                .push((path.to_owned(), metadata.dev(), metadata.ino()));
        }
    }

    /// Fails when `file`, opened as `path`, is one of the protected files.
    pub(crate) fn check(&self, path: &Path, file: &File) -> Result<(), Error> {
        let metadata = file.metadata().map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })?;
        match self
            .files
            .iter()
            .find(|(_, dev, ino)| *dev == metadata.dev() && *ino == metadata.ino())
        {
            Some((input, ..)) => Err(Error::OutputIsInput {
                path: path.to_owned(),
                input: input.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// `options` plus `O_NOFOLLOW`, opened at `path`; a symbolic link there is refused.
pub(crate) fn open_no_follow(path: &Path, options: &mut OpenOptions) -> Result<File, Error> {
    options
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| {
            let is_link = source.raw_os_error() == Some(libc::ELOOP)
                || fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link {
                Error::OutputSymlink {
                    path: path.to_owned(),
                }
            } else {
                Error::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })
}

/// Creates `path` (or empties it) for writing, unless it is a symbolic link or a protected
/// file. The file is emptied only after the checks, so a refused write changes nothing.
pub(crate) fn create(path: &Path, protected: &Protected) -> Result<File, Error> {
    let file = open_no_follow(path, OpenOptions::new().write(true).create(true))?;
    protected.check(path, &file)?;
    file.set_len(0).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(file)
}

/// Writes `bytes` to a new or emptied file at `path`, as [`create`] does.
pub(crate) fn write(path: &Path, bytes: &[u8], protected: &Protected) -> Result<(), Error> {
    let mut file = create(path, protected)?;
    file.write_all(bytes)
        .map_err(|source: io::Error| Error::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_is_not_followed_and_its_target_is_untouched() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("precious.csv");
        fs::write(&target, "keep me").unwrap();
        let link = folder.path().join("report.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = write(&link, b"x", &Protected::default()).unwrap_err();
        assert!(matches!(error, Error::OutputSymlink { .. }), "{error}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[test]
    fn a_protected_file_is_refused_under_any_spelling() {
        let folder = tempfile::tempdir().unwrap();
        let input = folder.path().join("subscribers.csv");
        fs::write(&input, "email\n").unwrap();
        fs::create_dir(folder.path().join("sub")).unwrap();
        let protected = Protected::new([input.as_path()]);
        let detour = folder.path().join("sub/../subscribers.csv");
        let hard_link = folder.path().join("other-name.csv");
        fs::hard_link(&input, &hard_link).unwrap();
        for path in [&input, &detour, &hard_link] {
            let error = write(path, b"x", &protected).unwrap_err();
            assert!(matches!(error, Error::OutputIsInput { .. }), "{error}");
        }
        assert_eq!(fs::read_to_string(&input).unwrap(), "email\n");
        write(&folder.path().join("report.jsonl"), b"ok", &protected).unwrap();
    }
}
