//! Config errors: every problem carries its key path and, when it came from the file, its line.

use std::fmt;

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Key path, e.g. `groups[0].members[1].address`, or the environment variable that was wrong;
    /// empty when the problem is the file as a whole (cannot be read).
    pub path: String,
    /// 1-based line in the file, when the key is in it.
    pub line: Option<usize>,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl ConfigIssue {
    /// An issue without a line (filled in later from the source, if the key is in it).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), line: None, message: message.into() }
    }
}

/// A config that cannot be used: where it came from and every problem found.
///
/// Displayed as one line per issue, `origin:line: path: message` (parts that are unknown are left out),
/// so editors and CI logs can jump to the line.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// File name; empty for problems that are not in a file (environment variables).
    pub origin: String,
    /// The problems, in the order they were found; never empty.
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    /// An error with a single issue.
    pub fn one(
        origin: &str,
        path: impl Into<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            origin: origin.to_owned(),
            issues: vec![ConfigIssue { path: path.into(), line, message: message.into() }],
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_issue(f, "", self)
    }
}

fn write_issue(f: &mut fmt::Formatter<'_>, origin: &str, issue: &ConfigIssue) -> fmt::Result {
    match (origin.is_empty(), issue.line) {
        (false, Some(line)) => write!(f, "{origin}:{line}: ")?,
        (false, None) => write!(f, "{origin}: ")?,
        (true, Some(line)) => write!(f, "line {line}: ")?,
        (true, None) => {}
    }
    if !issue.path.is_empty() {
        write!(f, "{}: ", issue.path)?;
    }
    f.write_str(&issue.message)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write_issue(f, &self.origin, issue)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
