//! The `sluice-topology` supervisor: owns the shared topology's servers, exits when no test uses them.

use std::fs::{File, TryLockError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::flavor::Install;
use crate::private;
use crate::procs::{self, ProcRecord};
use crate::setup;
use crate::shared_state::{IDLE_EXIT, Paths, SUPERVISOR_BIN, State};

/// How often the supervisor checks its servers and the users lock.
const TICK: Duration = Duration::from_millis(250);

/// `sluice-topology serve`: starts the topology of `install`'s servers, publishes the state file, and
/// waits until it is idle, told to stop (SIGTERM/SIGINT), or a server dies; then kills everything and
/// removes the run dir.
pub async fn serve(paths: &Paths, nonce: &str, install: &Install) -> anyhow::Result<()> {
    let t0 = Instant::now();
    tracing::info!(pid = std::process::id(), nonce, flavor = install.flavor().name(), "supervisor starting");
    private::cleanup_stale(paths);
    let prefix = format!("sluice-topo-{}-", install.flavor().name());
    let mut running = setup::start(&prefix, install).await?;
    let state = State {
        nonce: nonce.to_string(),
        supervisor: ProcRecord {
            pid: std::process::id(),
            needles: vec![SUPERVISOR_BIN.to_string(), nonce.to_string()],
        },
        servers: running.records(),
        startup_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        topology: running.topology.clone(),
    };
    state.write(paths)?;
    let dir = state.topology.dir.display();
    tracing::info!(startup_ms = state.startup_ms, %dir, "shared topology ready");

    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let users = paths.open_lock(&paths.users_lock())?;
    let mut idle_since: Option<Instant> = None;
    let _start_guard = loop {
        tokio::select! {
            _ = sigterm.recv() => break lock_start(paths, Duration::from_secs(10)),
            _ = sigint.recv() => break lock_start(paths, Duration::from_secs(10)),
            () = tokio::time::sleep(TICK) => {}
        }
        if let Some(err) = running.servers.iter_mut().find_map(|s| s.check_running().err()) {
            // A dead server makes the topology useless; exiting lets the next test process start anew.
            tracing::error!(error = %format!("{err:#}"), "a server died; tearing down");
            break lock_start(paths, Duration::from_secs(10));
        }
        if !no_users(&users) {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < IDLE_EXIT {
            continue;
        }
        // Confirm under start.lock: a process attaching right now holds it until it has its users lock.
        let guard = lock_start(paths, Duration::from_secs(10));
        if no_users(&users) {
            tracing::info!("no test process for {IDLE_EXIT:?}; tearing down");
            break guard;
        }
        idle_since = None;
    };
    if State::read(paths).is_some_and(|s| s.nonce == nonce) {
        let _ = std::fs::remove_file(paths.state());
    }
    drop(running);
    tracing::info!("shared topology stopped");
    Ok(())
}

/// True if no process holds `users.lock`: an exclusive `try_lock` succeeds (and is released at once).
fn no_users(users: &File) -> bool {
    match users.try_lock() {
        Ok(()) => {
            // Unlock failing would only delay the next attacher until this process exits.
            let _ = users.unlock();
            true
        }
        Err(TryLockError::WouldBlock) => false,
        Err(TryLockError::Error(e)) => {
            tracing::warn!(error = %e, "users.lock");
            false
        }
    }
}

/// Takes `start.lock` exclusively, waiting at most `limit` (then proceeds without it: a stuck attacher
/// must not keep the servers alive forever; it will find the state gone or unhealthy and start anew).
fn lock_start(paths: &Paths, limit: Duration) -> Option<File> {
    let file = paths.open_lock(&paths.start_lock()).ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match file.try_lock() {
            Ok(()) => return Some(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => return None,
        }
    }
}

/// `sluice-topology stop`: asks the supervisor to stop (SIGTERM), waits, and kills leftovers if needed.
/// Also removes stale private topologies of dead test processes.
pub fn stop(paths: &Paths) -> anyhow::Result<String> {
    private::cleanup_stale(paths);
    let Some(state) = State::read(paths) else {
        return Ok("not running".to_string());
    };
    let message = if state.supervisor.alive() {
        procs::signal(state.supervisor.pid, nix::sys::signal::Signal::SIGTERM)?;
        if procs::wait_gone(state.supervisor.pid, Duration::from_secs(30)) {
            format!("stopped (supervisor pid {})", state.supervisor.pid)
        } else {
            state.kill_all();
            format!(
                "supervisor pid {} did not stop within 30 s; killed it and its servers",
                state.supervisor.pid
            )
        }
    } else {
        state.kill_all();
        "supervisor was dead; killed leftover servers".to_string()
    };
    // Whatever happened above, nothing of this state runs any more.
    for server in &state.servers {
        server.kill();
    }
    let _ = std::fs::remove_dir_all(&state.topology.dir);
    if State::read(paths).is_some_and(|s| s.nonce == state.nonce) {
        let _ = std::fs::remove_file(paths.state());
    }
    Ok(message)
}

/// `sluice-topology status`: the state file, whether it is healthy, whether a test process uses it.
pub fn status(paths: &Paths) -> anyhow::Result<String> {
    let Some(state) = State::read(paths) else {
        return Ok(format!("not running (no {})", paths.state().display()));
    };
    let users = paths.open_lock(&paths.users_lock())?;
    let in_use = !no_users(&users);
    let text = toml::to_string_pretty(&state).context("formatting the state")?;
    Ok(format!(
        "healthy = {}\nin_use = {in_use}\nstate_file = {:?}\n{text}",
        state.healthy(),
        paths.state().display().to_string()
    ))
}
