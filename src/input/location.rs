//! A place in an input file, and the kind of file it is, as error messages show them.

use std::{fmt, path::PathBuf};

/// A file, a 1-based line, and optionally a 1-based column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub(crate) path: PathBuf,
    pub(crate) line: usize,
    pub(crate) column: Option<usize>,
}

impl Location {
    pub(crate) fn line(path: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            path: path.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` line {}", self.path.display(), self.line)?;
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// The kinds of YAML file a user writes, as messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Issue,
    List,
}

impl DocumentKind {
    /// What an empty file of this kind is missing.
    pub(crate) fn needs(self) -> &'static str {
        match self {
            DocumentKind::Issue => {
                "an issue needs at least `list`, `number`, `date`, `subject` and `stories`"
            }
            DocumentKind::List => {
                "a list file needs at least `name`, `id`, `from`, `subscribers` and `unsubscribe`"
            }
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DocumentKind::Issue => "issue",
            DocumentKind::List => "list",
        })
    }
}
