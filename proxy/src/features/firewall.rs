//! The digest firewall: in `learn` mode every statement shape seen joins the allowlist; in `enforce`
//! mode a shape that is not on it is refused (ERR 1148) and counted. The check is one atomic load when
//! off and a read-locked hash-set lookup otherwise.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::core::config::{FirewallConfig, FirewallMode};
use crate::core::error::Error;

/// The allowlist and its mode.
#[derive(Debug, Default)]
pub struct Firewall {
    mode: AtomicU8,
    allowed: RwLock<HashSet<u64>>,
    /// Statements refused.
    pub blocked: AtomicU64,
    /// Digests learned.
    pub learned: AtomicU64,
}

fn mode_code(m: FirewallMode) -> u8 {
    match m {
        FirewallMode::Off => 0,
        FirewallMode::Learn => 1,
        FirewallMode::Enforce => 2,
    }
}

/// Why the allowlist could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// Reading, writing or renaming the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a digest.
    #[error("{}: line {line}: {text:?} is not a 16-hex-digit digest", path.display())]
    Line {
        /// The file (empty when parsing text that came from elsewhere).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the line holds.
        text: String,
    },
}

/// Parses an allowlist: one hex digest per line, `#` starts a comment.
pub fn parse_allowlist(text: &str) -> Result<HashSet<u64>, AllowlistError> {
    let mut out = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let d = line.split('#').next().unwrap_or("").trim();
        if d.is_empty() {
            continue;
        }
        let v = u64::from_str_radix(d, 16).map_err(|_| AllowlistError::Line {
            path: PathBuf::new(),
            line: n + 1,
            text: d.to_owned(),
        })?;
        out.insert(v);
    }
    Ok(out)
}

impl Firewall {
    /// From the config; the allowlist file is read when it exists.
    pub fn from_config(c: &FirewallConfig) -> Result<Firewall, AllowlistError> {
        let fw = Firewall::default();
        fw.set_mode(c.mode);
        if let Some(path) = &c.allowlist_file
            && path.exists()
        {
            let text = std::fs::read_to_string(path)
                .map_err(|source| AllowlistError::Io { path: path.clone(), source })?;
            *fw.allowed.write() = parse_allowlist(&text).map_err(|e| match e {
                AllowlistError::Line { line, text, .. } => {
                    AllowlistError::Line { path: path.clone(), line, text }
                }
                other => other,
            })?;
        }
        Ok(fw)
    }

    /// The mode now.
    pub fn mode(&self) -> FirewallMode {
        match self.mode.load(Ordering::Relaxed) {
            1 => FirewallMode::Learn,
            2 => FirewallMode::Enforce,
            _ => FirewallMode::Off,
        }
    }

    /// Changes the mode (admin `FIREWALL MODE`).
    pub fn set_mode(&self, m: FirewallMode) {
        self.mode.store(mode_code(m), Ordering::Relaxed);
    }

    /// Adds a digest (admin `FIREWALL ALLOW`).
    pub fn allow(&self, digest: u64) -> bool {
        self.allowed.write().insert(digest)
    }

    /// Digests on the list.
    pub fn len(&self) -> usize {
        self.allowed.read().len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks one statement: learns it, lets it through, or refuses it.
    pub fn check(&self, digest: u64, text: &str) -> Result<(), Error> {
        match self.mode.load(Ordering::Relaxed) {
            0 => Ok(()),
            1 => {
                if !self.allowed.read().contains(&digest) && self.allowed.write().insert(digest) {
                    self.learned.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            _ if self.allowed.read().contains(&digest) => Ok(()),
            _ => {
                self.blocked.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(digest = %format!("{digest:016x}"), "statement refused by the firewall");
                Err(Error::reply(
                    (1148, "42000"),
                    format!(
                        "sluice firewall: statement shape {digest:016x} ({}) is not on the allowlist; an operator can allow it with FIREWALL ALLOW '{digest:016x}' on the admin interface",
                        shorten(text)
                    ),
                ))
            }
        }
    }

    /// Writes the allowlist to `path` (sorted; a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<usize, AllowlistError> {
        let mut v: Vec<u64> = self.allowed.read().iter().copied().collect();
        v.sort_unstable();
        let mut text = String::from("# sluice firewall allowlist: one statement digest per line\n");
        for d in &v {
            text.push_str(&format!("{d:016x}\n"));
        }
        let tmp = path.with_extension("tmp");
        crate::core::private_fs::write_new(&tmp, text.as_bytes())
            .map_err(|source| AllowlistError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, path).map_err(|source| AllowlistError::Io { path: path.to_owned(), source })?;
        Ok(v.len())
    }
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_then_enforce() {
        let fw = Firewall::default();
        assert!(fw.check(1, "select ?").is_ok(), "off lets everything through");
        fw.set_mode(FirewallMode::Learn);
        assert!(fw.check(1, "select ?").is_ok());
        assert!(fw.check(1, "select ?").is_ok());
        assert_eq!(fw.learned.load(Ordering::Relaxed), 1);
        fw.set_mode(FirewallMode::Enforce);
        assert!(fw.check(1, "select ?").is_ok());
        let e = fw.check(2, "delete from t").unwrap_err();
        assert!(e.to_string().contains("0000000000000002"), "{e}");
        assert_eq!(fw.blocked.load(Ordering::Relaxed), 1);
        assert!(fw.allow(2));
        assert!(fw.check(2, "delete from t").is_ok());
    }

    #[test]
    fn allowlists_parse_and_save() {
        let l = parse_allowlist("# c\n00000000000000ff\n\n  0a # x\n").unwrap();
        assert_eq!(l, [0xff, 0x0a].into_iter().collect());
        assert!(parse_allowlist("zz\n").unwrap_err().to_string().contains("line 1"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allow.txt");
        let fw = Firewall::default();
        fw.allow(7);
        assert_eq!(fw.save(&p).unwrap(), 1);
        let c = FirewallConfig { mode: FirewallMode::Enforce, allowlist_file: Some(p) };
        let fw2 = Firewall::from_config(&c).unwrap();
        assert!(fw2.check(7, "x").is_ok());
        assert!(fw2.check(8, "x").is_err());
    }
}
