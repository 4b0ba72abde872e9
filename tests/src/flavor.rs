//! Which server a topology runs: MariaDB from the system (the default) or MySQL from the install that
//! `SLUICE_MYSQL_BASEDIR` names. The project never names a MySQL install itself.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// The environment variable naming a MySQL 8.4/9.x install (the dir holding `bin/mysqld`).
pub const MYSQL_BASEDIR_ENV: &str = "SLUICE_MYSQL_BASEDIR";

/// The environment variable choosing the flavour of the default topology ([`crate::shared`],
/// [`crate::Topology::private`]): `mariadb` (unset or empty) or `mysql` (needs [`MYSQL_BASEDIR_ENV`]).
/// `scripts/test.sh` runs the integration suite once per flavour with it.
pub const TEST_FLAVOR_ENV: &str = "SLUICE_TEST_FLAVOR";

/// What MySQL tests print (once per test) when [`MYSQL_BASEDIR_ENV`] is unset; `scripts/test.sh` prints
/// the same line once for the whole run.
pub const MYSQL_NOT_RUN: &str =
    "MySQL flavour not run: SLUICE_MYSQL_BASEDIR is not set (point it at a MySQL 8.4/9.x install)";

/// The server flavour of a topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// MariaDB (`mariadbd` from PATH or /usr/sbin): domain-based GTIDs, `CHANGE MASTER TO`.
    #[default]
    MariaDb,
    /// MySQL 8.4/9.x from [`MYSQL_BASEDIR_ENV`]: UUID GTIDs, `CHANGE REPLICATION SOURCE TO`,
    /// caching_sha2_password accounts.
    MySql,
}

impl Flavor {
    /// `mariadb` or `mysql` (the supervisor's `--flavor`, directory names).
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        }
    }

    /// The flavour of the default topology of this run, from [`TEST_FLAVOR_ENV`]; panics on a value
    /// that names no flavour (a typo must fail loudly, not run the other flavour).
    pub fn of_run() -> Self {
        match std::env::var(TEST_FLAVOR_ENV) {
            Err(_) => Flavor::MariaDb,
            Ok(v) if v.is_empty() => Flavor::MariaDb,
            Ok(v) => Flavor::parse(&v)
                .unwrap_or_else(|| panic!("{TEST_FLAVOR_ENV}={v}: expected `mariadb` or `mysql`")),
        }
    }

    /// The inverse of [`Flavor::name`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mariadb" => Some(Flavor::MariaDb),
            "mysql" => Some(Flavor::MySql),
            _ => None,
        }
    }
}

/// Where a flavour's server binaries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `mariadb-install-db` and `mariadbd` from PATH.
    MariaDb,
    /// A MySQL install: `<basedir>/bin/mysqld` (absolute).
    MySql {
        /// The install's top directory.
        basedir: PathBuf,
    },
}

impl Install {
    /// The flavour it runs.
    pub fn flavor(&self) -> Flavor {
        match self {
            Install::MariaDb => Flavor::MariaDb,
            Install::MySql { .. } => Flavor::MySql,
        }
    }

    /// The MySQL install [`MYSQL_BASEDIR_ENV`] names: `Ok(None)` when it is unset or empty, an error
    /// when it names something without `bin/mysqld` (a typo must fail loudly, not skip).
    pub fn mysql_from_env() -> anyhow::Result<Option<Install>> {
        match std::env::var_os(MYSQL_BASEDIR_ENV).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(dir) => Install::mysql(Path::new(&dir)).map(Some),
        }
    }

    /// The MySQL install at `basedir`, checked and made absolute.
    pub fn mysql(basedir: &Path) -> anyhow::Result<Install> {
        let basedir = basedir
            .canonicalize()
            .with_context(|| format!("{MYSQL_BASEDIR_ENV}={}: no such directory", basedir.display()))?;
        if !basedir.join("bin/mysqld").is_file() {
            bail!(
                "{MYSQL_BASEDIR_ENV}={}: no bin/mysqld there (point it at a MySQL 8.4/9.x install's top directory)",
                basedir.display()
            );
        }
        Ok(Install::MySql { basedir })
    }

    /// The install for `flavor`: MariaDB always; MySQL only from [`MYSQL_BASEDIR_ENV`].
    pub fn for_flavor(flavor: Flavor) -> anyhow::Result<Install> {
        match flavor {
            Flavor::MariaDb => Ok(Install::MariaDb),
            Flavor::MySql => Install::mysql_from_env()?.context(MYSQL_NOT_RUN),
        }
    }
}
