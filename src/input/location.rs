//! A place in an input file, as error messages show it.

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
