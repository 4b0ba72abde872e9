//! Files and directories only sluice's own user may use: what sluice writes holds the application's
//! statements (captures, the slow log, replay reports) or decides what runs (the firewall allowlist),
//! and the upgrade socket hands the listening socket to whoever connects to it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a new file at `path` with mode 0600. A stale file there is removed first, so
/// neither an older file's mode nor a symlink planted there (O_EXCL does not follow it) is used.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The default `[server] upgrade_sock`: `upgrade.sock` in `/run/sluice/` when that is ours or we may
/// create it (root; a systemd unit's `RuntimeDirectory=sluice` for its `User=`), else in
/// `/tmp/sluice-<uid>/`. The same for the old and the new process of one user (no environment
/// variable decides it), so `sluice --upgrade` finds the running one's socket.
pub fn default_upgrade_sock() -> PathBuf {
    let uid = nix::unistd::geteuid();
    let run = Path::new("/run/sluice");
    let ours = std::fs::symlink_metadata(run).is_ok_and(|m| m.is_dir() && m.uid() == uid.as_raw());
    let may_create = !run.exists() && nix::unistd::access("/run", nix::unistd::AccessFlags::W_OK).is_ok();
    if ours || may_create {
        run.join("upgrade.sock")
    } else {
        PathBuf::from(format!("/tmp/sluice-{uid}")).join("upgrade.sock")
    }
}

/// Why the upgrade socket's directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeDirError {
    /// The socket path has no directory part.
    #[error("[server] upgrade_sock {}: give a path in a directory", sock.display())]
    NoDirectory {
        /// `[server] upgrade_sock`.
        sock: PathBuf,
    },
    /// The directory is unsafe, or could not be made safe.
    #[error("[server] upgrade_sock {}: directory {}: {problem}", sock.display(), dir.display())]
    Unsafe {
        /// `[server] upgrade_sock`.
        sock: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: DirProblem,
    },
}

/// What is wrong with the upgrade socket's directory.
#[derive(Debug, thiserror::Error)]
pub enum DirProblem {
    /// It is missing and could not be created.
    #[error("cannot create it: {0}")]
    Create(#[source] std::io::Error),
    /// Its metadata could not be read.
    #[error("{0}")]
    Stat(#[source] std::io::Error),
    /// A file or a symlink, not a directory.
    #[error("is not a directory (a symlink is not followed)")]
    NotADirectory,
    /// Another user owns it.
    #[error(
        "is owned by uid {owner}, not by sluice's user (uid {uid}); another user could take the listening socket"
    )]
    Owner {
        /// Its owner.
        owner: u32,
        /// sluice's effective user.
        uid: u32,
    },
    /// Group or others may write to it.
    #[error(
        "mode {mode:04o}: group or others may write to it (and replace the socket); use a directory only sluice's user may write to (chmod 700)"
    )]
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// Others may reach it and chmod 700 failed.
    #[error("mode {mode:04o} lets others reach the socket; chmod 700 failed: {source}")]
    Chmod {
        /// Its permission bits.
        mode: u32,
        /// Why chmod failed.
        source: std::io::Error,
    },
}

/// Makes the directory of the upgrade socket `sock` private to this process's user, or says why it
/// cannot be used. pingora, which owns the handover, binds the socket with mode 0666 and takes the
/// first connection without asking who it is (and the old process sends its listening sockets to
/// whatever listens at that path), so the directory is the only access control: a missing one is
/// created 0700; an existing one must be a directory (not a symlink) owned by our user that neither
/// group nor others may write to, and loses any group/other read and search bits (it is made 0700).
pub fn secure_upgrade_dir(sock: &Path) -> Result<PathBuf, UpgradeDirError> {
    let dir = match sock.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => return Err(UpgradeDirError::NoDirectory { sock: sock.to_path_buf() }),
    };
    let fail = |problem| UpgradeDirError::Unsafe { sock: sock.to_path_buf(), dir: dir.clone(), problem };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(DirProblem::Create(e))),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| fail(DirProblem::Stat(e)))?;
    if !meta.file_type().is_dir() {
        return Err(fail(DirProblem::NotADirectory));
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(fail(DirProblem::Owner { owner: meta.uid(), uid }));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(fail(DirProblem::Writable { mode }));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| fail(DirProblem::Chmod { mode, source }))?;
        tracing::info!(dir = %dir.display(), was = %format!("{mode:04o}"), "made the upgrade socket's directory private (0700)");
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn write_new_is_0600_and_replaces_a_looser_file_and_a_symlink() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("f");
        std::fs::write(&f, "old").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_new(&f, b"new").expect("write_new");
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read(&f).expect("read"), b"new");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_new(&link, b"x").expect("write_new over a symlink");
        assert_eq!(std::fs::read(&target).expect("read"), b"keep", "the symlink was followed");
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn upgrade_dir_is_created_0700() {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("sub").join("upgrade.sock");
        let made = secure_upgrade_dir(&sock).expect("created");
        assert_eq!(made, dir.path().join("sub"));
        assert_eq!(mode(&made), 0o700);
        // Idempotent.
        secure_upgrade_dir(&sock).expect("again");
    }

    #[test]
    fn upgrade_dir_searchable_by_others_is_tightened_writable_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let sub = dir.path().join("open");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        secure_upgrade_dir(&sub.join("s.sock")).expect("ours, read-only for others");
        assert_eq!(mode(&sub), 0o700);
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = secure_upgrade_dir(&sub.join("s.sock")).expect_err("world-writable");
        assert!(matches!(e, UpgradeDirError::Unsafe { problem: DirProblem::Writable { mode: 0o777 }, .. }));
        assert!(e.to_string().contains("may write"), "{e}");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert!(secure_upgrade_dir(&sub.join("s.sock")).is_err(), "sticky /tmp-like directory");
        // /tmp itself, the old default's directory.
        assert!(secure_upgrade_dir(Path::new("/tmp/sluice-upgrade.sock")).is_err());
    }

    #[test]
    fn upgrade_dir_symlink_or_someone_elses_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let e = secure_upgrade_dir(&link.join("s.sock")).expect_err("symlink");
        assert!(e.to_string().contains("not a directory"), "{e}");
        if nix::unistd::geteuid().is_root() {
            let theirs = dir.path().join("theirs");
            std::fs::create_dir(&theirs).expect("mkdir");
            std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(65534)), None).expect("chown");
            let e = secure_upgrade_dir(&theirs.join("s.sock")).expect_err("owned by nobody");
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
    }

    #[test]
    fn default_upgrade_sock_is_in_a_private_directory_not_tmp() {
        let sock = default_upgrade_sock();
        assert_ne!(sock.parent(), Some(Path::new("/tmp")));
        assert_eq!(sock.file_name().and_then(|n| n.to_str()), Some("upgrade.sock"));
    }
}
