//! Errors from reading a config file: each one located in the file.

use std::fmt;
use std::path::PathBuf;

/// One problem in a config file, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Line, starting at 1; `None` when the file could not be read at all.
    pub line: Option<usize>,
    /// Column, starting at 1.
    pub column: Option<usize>,
    /// What is wrong and what was expected there.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(
                    f,
                    "{}:{line}:{column}: {}",
                    self.file.display(),
                    self.message
                )
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a config file (at least one).
///
/// Syntax and type errors stop at the first one, as the YAML reader does;
/// checks across fields (a never-quarantine address inside no subscriber
/// prefix, say) are all reported together so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
