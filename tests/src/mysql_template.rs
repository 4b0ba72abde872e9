//! One initialized MySQL data directory per MySQL install, kept under the target dir and copied for
//! every server: `mysqld --initialize-insecure` takes 3 s on an idle machine and minutes on a busy
//! one, a copy of the ~100 MB template a fraction of a second.
//!
//! The template holds what `--initialize-insecure` creates plus `root@127.0.0.1` without a password
//! (created during bootstrap by `--init-file`, so no binlog event and no GTID: every copy starts from an
//! empty `gtid_executed`). Copies leave out `auto.cnf`, so each server makes its own `server_uuid`.
//! The caching_sha2_password RSA key pair (`private_key.pem`, `public_key.pem`) is copied along: all
//! members of a topology share it, as a deployment that pins one key for sluice would.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use sha1::{Digest as _, Sha1};

use crate::procs;

/// Bump when the template's contents change (the SQL below, the init options): old templates are then
/// not reused.
const REVISION: u32 = 1;

/// Statements run during bootstrap. MySQL's root is `root@localhost` (socket only); the harness
/// connects over TCP like MariaDB's `root@127.0.0.1`.
const INIT_SQL: &str = "CREATE USER 'root'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '';\n\
     GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n";

/// InnoDB options that shape the files, the same at bootstrap and at every start (the smallest redo
/// log: 8 MiB instead of 100).
pub const INNODB_OPTIONS: [&str; 2] = ["--innodb-redo-log-capacity=8M", "--innodb-buffer-pool-size=64M"];

/// The template for `basedir`, built first if there is none. Blocking; serialized across processes by
/// a lock file, so concurrent starts build it once.
pub fn ensure(basedir: &Path) -> anyhow::Result<PathBuf> {
    let root = procs::target_dir().join("sluice-mysql-template");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let dir = root.join(key(basedir)?);
    let lock_path = root.join("lock");
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock().context("locking the MySQL template")?;
    if dir.is_dir() {
        return Ok(dir);
    }
    let building = root.join(format!("building-{}", std::process::id()));
    // Leftovers of a build that died (this pid cannot be building another one: the lock is held).
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(building.join("tmp")).context("creating the template build dir")?;
    let result = initialize(basedir, &building);
    if result.is_ok() {
        std::fs::rename(building.join("data"), &dir).context("moving the template into place")?;
    }
    let _ = std::fs::remove_dir_all(&building);
    result.map(|()| dir)
}

/// Names the template after the install (path, and size and mtime of its `mysqld`: a rebuilt or
/// upgraded server gets a new template) and [`REVISION`].
fn key(basedir: &Path) -> anyhow::Result<String> {
    let mysqld = basedir.join("bin/mysqld");
    let meta = std::fs::metadata(&mysqld).with_context(|| format!("reading {}", mysqld.display()))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let mut h = Sha1::new();
    h.update(format!("{REVISION}\n{}\n{}\n{mtime:?}\n{INIT_SQL}", basedir.display(), meta.len()));
    let digest = h.finalize();
    Ok(format!("v{REVISION}-{}", hex::encode(&digest[..8])))
}

/// `mysqld --initialize-insecure` into `<building>/data`.
fn initialize(basedir: &Path, building: &Path) -> anyhow::Result<()> {
    let init = building.join("init.sql");
    std::fs::write(&init, INIT_SQL).context("writing the template's init file")?;
    let log = building.join("initialize.log");
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating the log handle")?;
    let t0 = std::time::Instant::now();
    let status = Command::new(basedir.join("bin/mysqld"))
        .arg("--no-defaults")
        .arg(format!("--basedir={}", basedir.display()))
        .arg(format!("--datadir={}", building.join("data").display()))
        .arg(format!("--tmpdir={}", building.join("tmp").display()))
        .arg(format!("--init-file={}", init.display()))
        .args(INNODB_OPTIONS)
        .args(["--initialize-insecure", "--user=root"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("running {}/bin/mysqld --initialize-insecure", basedir.display()))?;
    if !status.success() {
        bail!(
            "mysqld --initialize-insecure failed ({status}); {}:\n{}",
            log.display(),
            procs::log_tail(&log, 3000)
        );
    }
    // The copies get their own server UUIDs; the template must not have one to copy.
    let _ = std::fs::remove_file(building.join("data/auto.cnf"));
    tracing::info!(ms = t0.elapsed().as_millis(), basedir = %basedir.display(), "MySQL template initialized");
    Ok(())
}

/// Copies the template into `datadir` (which must not exist yet), without `auto.cnf`.
pub fn copy(template: &Path, datadir: &Path) -> anyhow::Result<()> {
    copy_dir(template, datadir).with_context(|| {
        format!("copying the MySQL template {} to {}", template.display(), datadir.display())
    })
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if entry.file_name() != "auto.cnf" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
