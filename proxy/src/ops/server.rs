//! Process life: the pingora-core server that owns the listening socket in production (signals, graceful
//! shutdown, and later the zero-downtime upgrade), and an in-process listener on a plain tokio socket for
//! tests and benches. Both hand each client to [`crate::frontend::session::serve`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::server::configuration::ServerConf;
use tokio::net::{TcpListener, TcpStream};

use crate::core::config::Config;
use crate::frontend::state::Shared;
use crate::ops::http::Settings as HttpSettings;

/// A sluice started in-process (tests, benches).
pub struct Running {
    /// The address clients connect to (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    /// The admin interface's address, when enabled.
    pub admin_addr: Option<SocketAddr>,
    /// The HTTP listener's address, when enabled.
    pub http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets statements in flight finish (up to `shutdown_grace_ms`), closes sessions.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        let _ = self.accept.await;
        let grace = Duration::from_millis(self.shared.config().server.shutdown_grace_ms);
        self.shared.drain(grace).await;
    }

    /// The shared state (pools, users) of this instance.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// The shared state, and `[http]` as it is at start (token resolved, limits: a reload changes it only
/// after a restart). A token that cannot be read stops the start.
async fn build_shared(config: Config) -> Result<(Arc<Shared>, Arc<HttpSettings>), std::io::Error> {
    let http = HttpSettings::from_config(&config.http).map_err(std::io::Error::other)?;
    let mut shared = Shared::new(config).map_err(std::io::Error::other)?;
    shared.learn_server_version().await;
    Ok((Arc::new(shared), Arc::new(http)))
}

/// Starts sluice in-process on a tokio listener; returns once it accepts connections.
pub async fn start(config: Config) -> Result<Running, std::io::Error> {
    let (shared, http) = build_shared(config).await?;
    shared.start_monitor(Duration::from_secs(2)).await.map_err(std::io::Error::other)?;
    let listener = bind(shared.config().server.listen, shared.config().server.listen_backlog)?;
    let addr = listener.local_addr()?;
    let (admin_addr, http_addr) = start_ops(&shared, &http, Duration::ZERO).await?;
    let accept =
        tokio::spawn(accept_loop(listener, shared.clone(), "client", crate::frontend::session::serve));
    tracing::info!(%addr, "sluice listening (in-process)");
    Ok(Running { addr, admin_addr, http_addr, shared, accept })
}

/// Binds the admin and HTTP listeners (when enabled) and serves them on the current runtime. A port
/// still held by the old process of an upgrade is retried in the background for up to `retry`.
async fn start_ops(
    shared: &Arc<Shared>,
    http_settings: &Arc<HttpSettings>,
    retry: Duration,
) -> Result<(Option<SocketAddr>, Option<SocketAddr>), std::io::Error> {
    let config = shared.config_full();
    let gtid = shared.primary_gtid();
    crate::features::capture::start_from_config(&shared.capture, &config.capture, gtid, &shared.shutdown)
        .await;
    let backlog = config.server.listen_backlog;
    let mut admin = None;
    if config.admin.enabled {
        admin = serve_ops(shared, "admin", config.admin.listen, backlog, retry, crate::ops::admin::serve)?;
    }
    let mut http = None;
    if config.http.enabled {
        let settings = http_settings.clone();
        http = serve_ops(shared, "http", config.http.listen, backlog, retry, move |s, stream, _| {
            crate::ops::http::serve(s, settings.clone(), stream)
        })?;
    }
    Ok((admin, http))
}

/// Binds `addr` and accepts on it; `None` when the port is taken and is being retried.
fn serve_ops<F, Fut>(
    shared: &Arc<Shared>,
    what: &'static str,
    addr: SocketAddr,
    backlog: u32,
    retry: Duration,
    serve: F,
) -> Result<Option<SocketAddr>, std::io::Error>
where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    match bind(addr, backlog) {
        Ok(l) => {
            let local = l.local_addr()?;
            tracing::info!(listener = what, addr = %local, "listening");
            tokio::spawn(accept_loop(l, shared.clone(), what, serve));
            Ok(Some(local))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && !retry.is_zero() => {
            tracing::info!(listener = what, %addr, "port still held (by the process being upgraded?); retrying");
            let shared = shared.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + retry;
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    match bind(addr, backlog) {
                        Ok(l) => {
                            tracing::info!(listener = what, %addr, "listening");
                            return accept_loop(l, shared, what, serve).await;
                        }
                        Err(e) if tokio::time::Instant::now() >= deadline => {
                            tracing::error!(listener = what, %addr, error = %e, "listener not started");
                            return;
                        }
                        Err(_) => {}
                    }
                }
            });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A listening socket with `backlog` (tokio's `TcpListener::bind` uses a small one: a burst of
/// connects beyond it is dropped by the kernel after the client already believes it is connected).
fn bind(addr: SocketAddr, backlog: u32) -> Result<TcpListener, std::io::Error> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts on `listener` until shutdown, serving each connection in its own task.
async fn accept_loop<F, Fut>(listener: TcpListener, shared: Arc<Shared>, what: &'static str, serve: F)
where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(shared.clone(), stream, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// Runs sluice as a server process under pingora-core until SIGTERM or SIGINT (graceful: stop
/// accepting, let statements finish, close); SIGHUP reloads the config file `path`. Blocks until then.
///
/// `upgrade`: take the listening socket over from the running sluice instead of binding it (pingora's
/// fd handoff on `[server] upgrade_sock`); with `[server] pid_file` the old process is sent the SIGQUIT
/// that starts the handover. The old process keeps accepting for pingora's 5 s close timeout (both
/// accept meanwhile, so no connection is refused), then drains and exits.
pub fn run(config: Config, path: &std::path::Path, upgrade: bool) -> Result<(), std::io::Error> {
    // Before anything starts: an unusable upgrade socket directory is a configuration error.
    let upgrade_sock =
        config.server.upgrade_sock.clone().unwrap_or_else(crate::core::private_fs::default_upgrade_sock);
    crate::core::private_fs::secure_upgrade_dir(&upgrade_sock).map_err(std::io::Error::other)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (shared, http) = rt.block_on(build_shared(config))?;
    shared.set_config_path(path);
    drop(rt);
    let config = shared.config_full();
    let listen = config.server.listen.to_string();
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let grace = config.server.shutdown_grace_ms.div_ceil(1000);
    // On SIGTERM pingora stops the listeners, then `SluiceApp::cleanup` drains the sessions and exits
    // as soon as they are done. pingora's own grace period (a fixed sleep) is only the fallback.
    let conf = ServerConf {
        threads: workers,
        grace_period_seconds: Some(grace + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: upgrade_sock.display().to_string(),
        ..ServerConf::default()
    };
    if upgrade {
        // The old process named itself (it spawned this one on SIGUSR2), or the pid file names it.
        let named = match std::env::var(UPGRADE_FROM_ENV) {
            Ok(pid) => Some((pid, format!("${UPGRADE_FROM_ENV}"))),
            Err(_) => match &config.server.pid_file {
                Some(file) => Some(std::fs::read_to_string(file).map(|pid| (pid, file.display().to_string())).map_err(
                    |e| {
                        std::io::Error::other(format!(
                            "--upgrade: cannot read [server] pid_file {}: {e} (is the old sluice running?)",
                            file.display()
                        ))
                    },
                )?),
                None => None,
            },
        };
        match named {
            Some((pid, source)) => signal_old_process(&pid, &source)?,
            None => {
                tracing::warn!(sock = %upgrade_sock.display(), "waiting for the listening socket: send SIGQUIT to the running sluice now")
            }
        }
    }
    run_server(shared, http, conf, &listen, workers, upgrade)
}

/// The environment variable through which a sluice that spawns its successor (SIGUSR2) names itself.
const UPGRADE_FROM_ENV: &str = "SLUICE_UPGRADE_FROM";

/// Sends SIGQUIT to the old process (`pid`, read from `source`) shortly after this one starts
/// listening on the upgrade socket (pingora retries both sides for 5 s, so the order is forgiving).
fn signal_old_process(pid: &str, source: &str) -> Result<(), std::io::Error> {
    let pid: i32 = pid
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("--upgrade: {source} does not hold a process id")))?;
    let pid = nix::unistd::Pid::from_raw(pid);
    // Signal 0: is it there (and ours to signal)?
    nix::sys::signal::kill(pid, None).map_err(|e| {
        std::io::Error::other(format!(
            "--upgrade: the old sluice (pid {pid} from {source}) is not running: {e}"
        ))
    })?;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT) {
            Ok(()) => {
                tracing::info!(%pid, "sent SIGQUIT to the old sluice: it hands over its listening socket")
            }
            Err(e) => tracing::error!(%pid, error = %e, "could not signal the old sluice"),
        }
    });
    Ok(())
}

fn run_server(
    shared: Arc<Shared>,
    http: Arc<HttpSettings>,
    conf: ServerConf,
    listen: &str,
    workers: usize,
    upgrade: bool,
) -> Result<(), std::io::Error> {
    let opt = pingora_core::server::configuration::Opt { upgrade, ..Default::default() };
    let mut server = pingora_core::server::Server::new_with_opt_and_conf(Some(opt), conf);
    // With `upgrade`, this blocks until the old process has sent its listening sockets.
    server.bootstrap();
    if let Some(pid_file) = &shared.config().server.pid_file
        && let Err(e) = std::fs::write(pid_file, format!("{}\n", std::process::id()))
    {
        tracing::error!(file = %pid_file.display(), error = %e, "cannot write the pid file");
    }
    let monitor = pingora_core::services::background::background_service(
        "health monitor",
        MonitorService {
            shared: shared.clone(),
            http,
            ops_retry: if upgrade { Duration::from_secs(60) } else { Duration::ZERO },
            // Read now: once a new version is installed over it, /proc/self/exe says "(deleted)".
            exe: std::env::current_exe().unwrap_or_else(|_| std::path::PathBuf::from("sluice")),
        },
    );
    server.add_service(monitor);
    let app = SluiceApp { shared, watching: AtomicBool::new(false) };
    let mut service = pingora_core::services::listening::Service::new("sluice".to_owned(), app);
    service.add_tcp(listen);
    service.threads = Some(workers);
    server.add_service(service);
    tracing::info!(%listen, workers, upgrade, "sluice listening");
    server.run(pingora_core::server::RunArgs { shutdown_signal: Box::new(Signals) });
    Ok(())
}

/// SIGTERM and SIGINT both drain gracefully (pingora's default makes SIGINT a fast exit); SIGQUIT
/// is pingora's graceful upgrade (hand the listening socket to a new process).
struct Signals;

#[async_trait]
impl pingora_core::server::ShutdownSignalWatch for Signals {
    async fn recv(&self) -> pingora_core::server::ShutdownSignal {
        use pingora_core::server::ShutdownSignal;
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::quit()))
        else {
            tracing::error!("cannot install signal handlers; stop sluice with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::GracefulTerminate,
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
        }
    }
}

/// The health monitor and the admin/HTTP listeners as a pingora background service (on pingora's
/// runtime).
struct MonitorService {
    shared: Arc<Shared>,
    /// `[http]` as it was at start.
    http: Arc<HttpSettings>,
    /// How long the admin and HTTP ports are retried (an upgrade: the old process still holds them).
    ops_retry: Duration,
    /// The binary this process was started from (SIGUSR2 starts it again as the successor).
    exe: std::path::PathBuf,
}

#[async_trait]
impl pingora_core::services::background::BackgroundService for MonitorService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::spawn(reload_on_sighup(self.shared.clone()));
        tokio::spawn(upgrade_on_sigusr2(self.shared.clone(), self.exe.clone()));
        notify_systemd();
        if let Err(e) = start_ops(&self.shared, &self.http, self.ops_retry).await {
            tracing::error!(error = %e, "admin/http listeners not started");
        }
        match self.shared.start_monitor(Duration::from_secs(2)).await {
            Ok(task) => {
                let _ = shutdown.changed().await;
                task.abort();
            }
            Err(e) => tracing::error!(error = %e, "health monitor not started: reads go to the primary"),
        }
    }
}

/// On SIGUSR2, starts the binary at `exe` (the path this process was started from: an installed new
/// version is what runs) with `--config <file> --upgrade`, as a child: it inherits stdout/stderr (the
/// journal) and this service's cgroup, takes the listening socket over, tells systemd it is the main
/// process now, and sends this process the SIGQUIT that starts the handover. A successor that fails
/// to start exits and this process serves on: a later SIGUSR2 tries again.
async fn upgrade_on_sigusr2(shared: Arc<Shared>, exe: std::path::PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr2) = signal(SignalKind::user_defined2()) else {
        tracing::error!("cannot install the SIGUSR2 handler; upgrade with `sluice --upgrade` instead");
        return;
    };
    loop {
        tokio::select! {
            got = usr2.recv() => if got.is_none() { return },
            () = shared.shutdown.cancelled() => return,
        }
        let Some(config_path) = shared.config_path() else {
            tracing::error!("SIGUSR2: no config file to start the new process with");
            continue;
        };
        tracing::warn!(exe = %exe.display(), "SIGUSR2: starting the new process, which takes the listening socket over");
        let child = std::process::Command::new(&exe)
            .arg("--config")
            .arg(&config_path)
            .arg("--upgrade")
            .env(UPGRADE_FROM_ENV, std::process::id().to_string())
            .stdin(std::process::Stdio::null())
            .spawn();
        match child {
            // Reaped if it ends while this process still lives (a failed start); else it outlives us.
            Ok(mut child) => {
                std::thread::spawn(move || {
                    if let Ok(status) = child.wait()
                        && !status.success()
                    {
                        tracing::error!(%status, "the new process exited; this one keeps serving");
                    }
                });
            }
            Err(e) => {
                tracing::error!(exe = %exe.display(), error = %e, "SIGUSR2: cannot start the new process")
            }
        }
    }
}

/// Tells systemd (`Type=notify`, `NotifyAccess=all`) that this process is ready and is the service's
/// main process: after an upgrade the new process takes over as the main one. Nothing without
/// `$NOTIFY_SOCKET`.
pub fn notify_systemd() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let msg = format!("READY=1\nMAINPID={}\nSTATUS=serving\n", std::process::id());
    let sent = (|| {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        match path.as_encoded_bytes().strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(msg.as_bytes(), &addr)
            }
            None => sock.send_to(msg.as_bytes(), &path),
        }
    })();
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot notify systemd ($NOTIFY_SOCKET)");
    }
}

/// Reloads the config file on every SIGHUP until shutdown; a rejected file is logged and changes nothing.
async fn reload_on_sighup(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload with the admin RELOAD statement");
        return;
    };
    loop {
        tokio::select! {
            got = hup.recv() => if got.is_none() { return },
            () = shared.shutdown.cancelled() => return,
        }
        tracing::info!("SIGHUP: reloading the config");
        if let Err(e) = shared.reload() {
            tracing::error!(error = %e, "config reload rejected; the running config stays");
        }
    }
}

/// The pingora application: every accepted connection is one session.
struct SluiceApp {
    shared: Arc<Shared>,
    watching: AtomicBool,
}

#[async_trait]
impl ServerApp for SluiceApp {
    async fn process_new(self: &Arc<Self>, io: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if !self.watching.swap(true, Ordering::AcqRel) {
            // Turn pingora's shutdown signal into the sessions' cancellation token, once.
            let mut watch = shutdown.clone();
            let token = self.shared.shutdown.clone();
            tokio::spawn(async move {
                while !*watch.borrow() {
                    if watch.changed().await.is_err() {
                        break;
                    }
                }
                token.cancel();
            });
        }
        let peer = io
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet().copied()))
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        crate::frontend::session::serve(self.shared.clone(), io, peer).await;
        None
    }

    /// Called once the listeners are closed (SIGTERM, or the old process of an upgrade): statements in
    /// flight finish, sessions close, then the process exits without waiting out pingora's grace period.
    async fn cleanup(&self) {
        let grace = Duration::from_millis(self.shared.config().server.shutdown_grace_ms);
        let left = self.shared.live_session_count();
        tracing::info!(sessions = left, "stopped accepting; draining sessions");
        if self.shared.drain(grace).await {
            tracing::info!("all sessions closed; exiting");
        } else {
            tracing::warn!(
                sessions = self.shared.live_session_count(),
                "grace period over; exiting with sessions open"
            );
        }
        std::process::exit(0);
    }
}
