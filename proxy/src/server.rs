//! Process life: the pingora-core server that owns the listening socket in production (signals, graceful
//! shutdown, and later the zero-downtime upgrade), and an in-process listener on a plain tokio socket for
//! tests and benches. Both hand each client to [`crate::session::serve`].

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

use crate::config::Config;
use crate::state::Shared;

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

async fn build_shared(config: Config) -> Result<Arc<Shared>, std::io::Error> {
    let mut shared = Shared::new(config).map_err(std::io::Error::other)?;
    shared.learn_server_version().await;
    Ok(Arc::new(shared))
}

/// Starts sluice in-process on a tokio listener; returns once it accepts connections.
pub async fn start(config: Config) -> Result<Running, std::io::Error> {
    let shared = build_shared(config).await?;
    shared.start_monitor(Duration::from_secs(2)).await.map_err(std::io::Error::other)?;
    let listener = bind(shared.config().server.listen, shared.config().server.listen_backlog)?;
    let addr = listener.local_addr()?;
    let (admin_addr, http_addr) = start_ops(&shared).await?;
    let accept = tokio::spawn(accept_loop(listener, shared.clone(), "client", crate::session::serve));
    tracing::info!(%addr, "sluice listening (in-process)");
    Ok(Running { addr, admin_addr, http_addr, shared, accept })
}

/// Binds the admin and HTTP listeners (when enabled) and serves them on the current runtime.
async fn start_ops(shared: &Arc<Shared>) -> Result<(Option<SocketAddr>, Option<SocketAddr>), std::io::Error> {
    crate::capture::start_from_config(shared).await;
    let mut admin = None;
    if shared.config().admin.enabled {
        let l = bind(shared.config().admin.listen, shared.config().server.listen_backlog)?;
        admin = Some(l.local_addr()?);
        tracing::info!(addr = ?admin, "admin interface listening");
        tokio::spawn(accept_loop(l, shared.clone(), "admin", crate::admin::serve));
    }
    let mut http = None;
    if shared.config().http.enabled {
        let l = bind(shared.config().http.listen, shared.config().server.listen_backlog)?;
        http = Some(l.local_addr()?);
        tracing::info!(addr = ?http, "http listening (/, /metrics, /status, /digests, /advice, /health)");
        tokio::spawn(accept_loop(l, shared.clone(), "http", |s, stream, _| crate::http::serve(s, stream)));
    }
    Ok((admin, http))
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
pub fn run(config: Config, path: &std::path::Path) -> Result<(), std::io::Error> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let shared = rt.block_on(build_shared(config))?;
    shared.set_config_path(path);
    drop(rt);
    let listen = shared.config().server.listen.to_string();
    let workers = match shared.config().server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let grace = shared.config().server.shutdown_grace_ms.div_ceil(1000);
    // On SIGTERM pingora stops the listeners, then `SluiceApp::cleanup` drains the sessions and exits
    // as soon as they are done. pingora's own grace period (a fixed sleep) is only the fallback.
    let conf = ServerConf {
        threads: workers,
        grace_period_seconds: Some(grace + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = pingora_core::server::Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let monitor = pingora_core::services::background::background_service(
        "health monitor",
        MonitorService { shared: shared.clone() },
    );
    server.add_service(monitor);
    let app = SluiceApp { shared, watching: AtomicBool::new(false) };
    let mut service = pingora_core::services::listening::Service::new("sluice".to_owned(), app);
    service.add_tcp(&listen);
    service.threads = Some(workers);
    server.add_service(service);
    tracing::info!(%listen, workers, "sluice listening");
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
}

#[async_trait]
impl pingora_core::services::background::BackgroundService for MonitorService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::spawn(reload_on_sighup(self.shared.clone()));
        if let Err(e) = start_ops(&self.shared).await {
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
        crate::session::serve(self.shared.clone(), io, peer).await;
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
