//! Hot reload: the config file read again (admin `RELOAD`, SIGHUP), validated, and applied without
//! dropping a client connection. What cannot change live is reported and left as it runs.

use crate::core::config::{Config, ConfigError};
use crate::frontend::state::Shared;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// sluice was started without a file.
    #[error(
        "sluice was not started from a config file, so there is nothing to reload (start it with --config FILE)"
    )]
    NoFile,
    /// The file cannot be read or is invalid (every problem, with key path and line), or a secret it
    /// names cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An earlier reload panicked while holding the reload lock.
    #[error("a previous reload panicked")]
    Poisoned,
    /// The new config has no group.
    #[error("config has no [[groups]]")]
    NoGroups,
    /// The default group has another name.
    #[error(
        "groups[0].name changed from {from:?} to {to:?}: the default group cannot be renamed by a reload (restart sluice)"
    )]
    DefaultGroupRenamed {
        /// The running name.
        from: String,
        /// The file's.
        to: String,
    },
    /// Groups were added or removed.
    #[error("the number of [[groups]] changed: adding or removing groups needs a restart")]
    GroupCountChanged,
}

impl Shared {
    /// Reads the config file again and applies it ([`Shared::apply_config`]); an unreadable or
    /// invalid file changes nothing and its problems are the error.
    pub fn reload(&self) -> Result<Vec<(String, String)>, ReloadError> {
        let path = self.config_path().ok_or(ReloadError::NoFile)?;
        let next = Config::load(&path)?;
        self.apply_config(next)
    }

    /// Applies a validated config without dropping a client connection: rules, routing settings,
    /// member roles and weights, members added or removed (a removed member is drained: no new
    /// statements, its pools closed), the slow log threshold and advice settings. Settings that need a
    /// restart are reported as such and keep their running values until then. Returns
    /// `(what, change)` rows; an error leaves everything as it was.
    pub fn apply_config(&self, next: Config) -> Result<Vec<(String, String)>, ReloadError> {
        use erased::Section;
        let _one = self.reload_lock().map_err(|_| ReloadError::Poisoned)?;
        let cur = self.config_full();
        let Some(group) = next.groups.first() else { return Err(ReloadError::NoGroups) };
        if group.name != self.group().name {
            return Err(ReloadError::DefaultGroupRenamed {
                from: self.group().name.clone(),
                to: group.name.clone(),
            });
        }
        if next.groups.len() != cur.groups.len() {
            return Err(ReloadError::GroupCountChanged);
        }
        // Everything that can fail is checked before anything changes.
        next.monitor.credentials.password()?;
        let mut report = Vec::new();
        let log_files = |l: &crate::core::config::LogConfig| {
            format!("{:?}{:?}{:?}{}{}", l.level, l.format, l.slow_log, l.slow_log_max_bytes, l.slow_log_keep)
        };
        let restart_only = [
            ("server", cur.server.toml(), next.server.toml()),
            ("admin", cur.admin.toml(), next.admin.toml()),
            ("http", cur.http.toml(), next.http.toml()),
            ("users", cur.users.toml(), next.users.toml()),
            ("backend", cur.backend.toml(), next.backend.toml()),
            ("pool", cur.pool.toml(), next.pool.toml()),
            ("cache", cur.cache.toml(), next.cache.toml()),
            ("stats.max_digests", cur.stats.max_digests.toml(), next.stats.max_digests.toml()),
            ("monitor.interval_ms", cur.monitor.interval_ms.toml(), next.monitor.interval_ms.toml()),
            (
                "routing.plan_cache_entries",
                cur.routing.plan_cache_entries.toml(),
                next.routing.plan_cache_entries.toml(),
            ),
            ("log (level, format, slow log file and rotation)", log_files(&cur.log), log_files(&next.log)),
        ];
        for (name, a, b) in &restart_only {
            if a != b {
                report
                    .push((name.to_string(), "changed in the file; takes effect after a restart".to_owned()));
            }
        }
        let changes = self.group().apply(&next, group);
        for a in &changes.added {
            report.push(("member added".into(), format!("{a}: takes reads once a health check passes")));
        }
        for a in &changes.removed {
            let n = self.pools.close_address(a);
            report.push((
                "member removed".into(),
                format!("{a}: drained (no new statements), {n} pools closed"),
            ));
        }
        for a in &changes.changed {
            report.push(("member changed".into(), format!("{a}: role/weight updated")));
        }
        if cur.rules.toml() != next.rules.toml() {
            self.rules.replace(&next.rules);
            report.push(("rules".into(), format!("{} rules in effect", self.rules.len())));
        }
        if cur.routing.toml() != next.routing.toml() || cur.monitor.toml() != next.monitor.toml() {
            report.push(("routing, monitor".into(), "settings in effect (lag limits, balance, fallback, read-your-writes, credentials, heartbeat)".into()));
        }
        if cur.log.slow_query_ms != next.log.slow_query_ms {
            self.slow_log.set_threshold_ms(next.log.slow_query_ms);
            report.push(("log.slow_query_ms".into(), format!("{} ms", next.log.slow_query_ms)));
        }
        if cur.stats.enabled != next.stats.enabled {
            self.set_recording(next.stats.enabled);
            report.push(("stats.enabled".into(), next.stats.enabled.to_string()));
        }
        if cur.advice.toml() != next.advice.toml() {
            self.advice.configure(&next.advice);
            report.push(("advice".into(), "settings in effect".into()));
        }
        self.store_config(next);
        let config = self.config();
        match self.all_monitor_targets(&config) {
            Ok(t) => self.set_monitor_targets(t),
            Err(e) => tracing::error!(error = %e, "monitor targets not rebuilt after reload"),
        }
        // Routing sees removed members, new weights and settings now; added members join after their
        // first health check (health lines up with slots, so a new slot has none yet).
        self.publish_health(&self.health.load());
        if report.is_empty() {
            report.push(("nothing".into(), "the file matches the running config".into()));
        }
        for (what, change) in &report {
            tracing::info!(what = %what, change = %change, "config reloaded");
        }
        Ok(report)
    }
}

/// Config sections compared as TOML text (what a reload changed).
mod erased {
    /// A serializable config section.
    pub trait Section {
        /// Its TOML text (empty if it cannot be serialized).
        fn toml(&self) -> String;
    }

    impl<T: serde::Serialize> Section for T {
        fn toml(&self) -> String {
            toml::Value::try_from(self).map(|v| v.to_string()).unwrap_or_default()
        }
    }
}
