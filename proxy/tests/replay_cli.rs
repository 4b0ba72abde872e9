//! `sluice replay ARGS…` runs the `sluice-replay` binary in its place (its own crate's tests cover
//! the replay itself): found next to `sluice` first, then on PATH, with the arguments, output and exit
//! code passed through; missing, one clear line and exit code 127.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A copy of the sluice binary alone in `dir`, so "next to sluice" is under the test's control.
fn lone_sluice(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("sluice");
    std::fs::copy(env!("CARGO_BIN_EXE_sluice"), &bin).expect("copy sluice");
    bin
}

/// An executable stand-in for sluice-replay that prints its arguments and exits 3.
fn stand_in(path: &Path) {
    std::fs::write(path, "#!/bin/sh\necho \"$*\"\necho to-stderr >&2\nexit 3\n").expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn replay_runs_the_replay_binary_next_to_sluice_then_on_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = lone_sluice(dir.path());
    let empty = tempfile::tempdir().expect("tmp");

    // Neither beside it nor on PATH: one line naming what to install, exit 127, no panic.
    let out = Command::new(&bin).args(["replay", "x.cap"]).env("PATH", empty.path()).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert!(err.contains("needs the sluice-replay binary") && err.contains("cargo build"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // On PATH only.
    let elsewhere = tempfile::tempdir().expect("tmp");
    stand_in(&elsewhere.path().join("sluice-replay"));
    let out = Command::new(&bin)
        .args(["replay", "a.cap", "--target", "127.0.0.1:1"])
        .env("PATH", elsewhere.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a.cap --target 127.0.0.1:1\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");

    // Beside sluice wins over PATH; a file that is not executable does not count.
    let beside = dir.path().join("sluice-replay");
    std::fs::write(&beside, "not executable").expect("write");
    let out = Command::new(&bin).args(["replay", "b"]).env("PATH", elsewhere.path()).output().expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "b\n");
    stand_in(&beside);
    std::fs::remove_file(elsewhere.path().join("sluice-replay")).expect("rm");
    let out = Command::new(&bin)
        .args(["replay", "c", "--dry-run"])
        .env("PATH", empty.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "c --dry-run\n");
}
