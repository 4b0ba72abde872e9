//! Small process helpers: liveness by pid, signals by pid, free ports, where the target dir is.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// True if `pid` runs (exists and is not a zombie: a zombie has exited and only waits to be reaped).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state letter follows the command name, which is in parentheses and may itself hold spaces.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// The command line of `pid`, arguments joined by spaces; `None` if it is gone.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    Some(raw.split(|b| *b == 0).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" "))
}

/// True if `pid` runs and its command line contains every one of `needles`: guards against signalling a
/// pid the kernel has since given to an unrelated process.
pub fn pid_matches(pid: u32, needles: &[String]) -> bool {
    pid_alive(pid) && cmdline(pid).is_some_and(|c| needles.iter().all(|n| c.contains(n.as_str())))
}

/// A process recorded in a state file so a later run can kill it if its owner died without cleaning up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcRecord {
    /// Its pid.
    pub pid: u32,
    /// Substrings of its command line that identify it (the pid alone may have been reused).
    pub needles: Vec<String>,
}

impl ProcRecord {
    /// True if the recorded process still runs.
    pub fn alive(&self) -> bool {
        pid_matches(self.pid, &self.needles)
    }

    /// SIGKILLs it if it still runs, and waits for it to go.
    pub fn kill(&self) {
        kill_matching(self.pid, &self.needles);
    }
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).context("pid out of range")?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("sending {signal} to pid {pid}")),
    }
}

/// Waits until every thread of `pid` is in state `T` (stopped) or `t` (traced), up to `limit`.
pub fn wait_stopped(pid: u32, limit: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .with_context(|| format!("threads of pid {pid}"))?;
        let all_stopped = tasks.filter_map(Result::ok).all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['T', 't'])))
                .unwrap_or(true)
        });
        if all_stopped {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!("pid {pid} did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILLs `pid` if its command line contains all `needles`, then waits up to 5 s for it to disappear.
pub fn kill_matching(pid: u32, needles: &[String]) {
    if !pid_matches(pid, needles) {
        return;
    }
    // Best effort: this is cleanup of leftovers, and the wait below tells whether it worked.
    let _ = signal(pid, Signal::SIGKILL);
    wait_gone(pid, Duration::from_secs(5));
}

/// Waits until `pid` is gone (or a zombie), at most `limit`; returns whether it is gone.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while pid_alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// `n` distinct free ports on 127.0.0.1, all held open until every one is chosen so none repeats.
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// True if something accepts TCP connections on `addr` (a quick probe, 300 ms at most).
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// The cargo target dir the running binary was built into.
///
/// Test binaries live in `<target>/<profile>/deps/`, binaries in `<target>/<profile>/`; cargo marks the
/// target dir itself with `CACHEDIR.TAG`. `$CARGO_TARGET_DIR` is only a fallback because cargo resolves a
/// relative one against its own working directory, which is not the test process's.
pub fn target_dir() -> PathBuf {
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf));
    if let Some(dir) = from_exe {
        return dir;
    }
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
    }
}

/// Where server data goes: tmpfs when there is one (InnoDB start and fsync are much faster there).
pub fn data_base_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() { shm.to_path_buf() } else { std::env::temp_dir() }
}

/// Last `max` bytes of a log file, for error messages when a server fails to start.
pub fn log_tail(path: &Path, max: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The `sluice` binary of this build. `cargo nextest run --workspace` builds it (the proxy crate has
/// integration tests); when it is missing or older than any source file of the crates it is made of
/// (a run of this crate's tests alone after an edit), it is built first, once per test process.
pub fn sluice_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| built_bin("sluice", "sluice", &["proxy", "protocol", "router", "cache"])).clone()
}

/// The `sluice-replay` binary of this build (what `sluice replay` runs), next to [`sluice_bin`]; built
/// as that one is.
pub fn sluice_replay_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| built_bin("sluice-replay", "sluice-replay", &["replay", "protocol", "router"]))
        .clone()
}

/// `<target>/debug/<bin>` of `package`, built first when missing or older than a source file of `crates`.
fn built_bin(package: &str, bin_name: &str, crates: &[&str]) -> PathBuf {
    let target = target_dir();
    let bin = target.join("debug").join(bin_name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built_at = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let stale = match built_at {
        None => true,
        Some(at) => crates.iter().any(|c| {
            newer_than(&root.join(c).join("src"), at) || newer_than(&root.join(c).join("Cargo.toml"), at)
        }),
    };
    if stale {
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", package, "--bin", bin_name])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cargo build -p {package} --bin {bin_name} failed");
    }
    bin
}

/// Whether `path` (a file, or any file below a directory) was modified after `at`.
fn newer_than(path: &Path, at: std::time::SystemTime) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    if meta.is_file() {
        return meta.modified().is_ok_and(|m| m > at);
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().any(|e| newer_than(&e.path(), at)))
        .unwrap_or(false)
}
