//! Reading a config: file → TOML (serde, `deny_unknown_fields`) → `SLUICE_*` overrides → validation,
//! with the line of every problem.

use std::path::Path;
use std::sync::Arc;

use toml::de::DeTable;

use super::source::{Source, line_at, line_of, path_at};
use super::{Config, ConfigError, ConfigIssue};

impl Config {
    /// Reads `path`, parses it, applies the `SLUICE_*` environment overrides and validates the result:
    /// what `sluice --config` and `sluice check-config` run. Errors name the file, line and key path.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(&origin, "", None, format!("cannot read the config: {e}")))?;
        let mut cfg = Self::parse(&text, &origin)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate().map_err(|issues| ConfigError { origin, issues })?;
        Ok(cfg)
    }

    /// Parses TOML text; `origin` names it in errors. Syntax errors, unknown keys and wrong types are
    /// reported with their line and key path. Does not validate (see [`Config::validate`]) and does not
    /// read the environment, so tests can build on it freely; the text is kept so that a later
    /// `validate` can name lines.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            let path = at.map(|at| path_at(text, at)).unwrap_or_default();
            let line = at.map(|at| line_at(text, at));
            ConfigError::one(origin, path, line, e.message().trim().to_owned())
        })?;
        cfg.source = Some(Source { origin: origin.to_owned(), text: Arc::from(text) });
        Ok(cfg)
    }

    /// The name given to [`Config::parse`] (the file for [`Config::load`]); `None` if built in code.
    pub fn origin(&self) -> Option<&str> {
        self.source.as_ref().map(|s| s.origin.as_str())
    }

    /// Fills in the line of each issue from the text this config was parsed from.
    pub(super) fn locate(&self, issues: &mut [ConfigIssue]) {
        let Some(src) = &self.source else { return };
        let Ok(doc) = DeTable::parse(&src.text) else { return };
        for issue in issues.iter_mut().filter(|i| i.line.is_none()) {
            issue.line = line_of(doc.get_ref(), &src.text, &issue.path);
        }
    }
}
