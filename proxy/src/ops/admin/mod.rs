//! The admin interface: MySQL protocol on `[admin] listen` (6032), accounts from `[[admin.users]]`.
//! Any client or tool connects (`mysql -h127.0.0.1 -P6032 -uadmin -padmin`) and reads real result sets:
//!
//! ```text
//! SHOW DIGESTS [ORDER BY total|count|avg|max|p50|p95|p99|errors|rows] [LIMIT n]
//! SHOW BACKENDS | SHOW POOLS | SHOW PINS | SHOW SESSIONS | SHOW PLANS
//! SHOW CONFIG                                     (the running config; secrets and hashes hidden)
//! SHOW ADVICE                                     (N+1 loops, missing indexes, rising p99, plan lints)
//! EXPLAIN DIGEST <id>                             (EXPLAIN of the digest's last statement, on a replica)
//! RESET DIGESTS
//! RELOAD                                          (read the config file again; SIGHUP does the same)
//! SET BACKEND '<host:port>' OFFLINE | ONLINE      (drain for maintenance; reads move at once)
//! SWITCHOVER [TO '<host:port>']                   (move the primary to a caught-up replica; switchover.rs)
//! SHOW CACHE | FLUSH CACHE [schema.table]         (the result cache)
//! SHOW FIREWALL | FIREWALL MODE off|learn|enforce | FIREWALL ALLOW '<digest>' | FIREWALL SAVE
//! SHOW MIGRATIONS | SET MIGRATION '<table>' READ FROM old|new   (dual writes while a table moves)
//! CAPTURE START '<file>' [DURATION seconds] | CAPTURE STOP | SHOW CAPTURE
//! ```
//!
//! A statement is parsed ([`parse`], parse.rs) into an [`AdminCommand`], one variant per command,
//! without touching any state; [`AdminCommand::apply`] is one `match` that runs it. The features
//! (firewall, migration, capture, the result cache, switchover) know nothing of the admin interface:
//! the files here read their state and format it as result sets ([`Answer`]).

mod cache;
mod capture;
mod firewall;
mod migration;
mod ops;
pub mod parse;
mod show;

pub use parse::{AdminCommand, parse};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use sluice_protocol::constants::{command, errors, status};
use sluice_protocol::packets::{OkPacket, text_result_set};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::core::error::Error;
use crate::frontend::session::auth::{self, ClientStream};
use crate::frontend::state::Shared;

/// One admin connection.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
) {
    // The admin port is as reachable as its listen address makes it: bound the connections a peer
    // can hold open, and how long one may sit in the handshake.
    let limit = shared.config().admin.max_connections;
    let Some(_slot) = shared.admin_slots.take(limit) else {
        tracing::warn!(%peer, "refused admin connection: [admin] max_connections reached");
        shared.digests.totals.refuse(crate::features::stats::Refusal::AdminMaxConnections);
        let why = format!(
            "Too many connections: the sluice admin interface allows {limit} ([admin] max_connections)"
        );
        crate::frontend::preauth::refuse(stream, why).await;
        return;
    };
    let conn_id = shared.next_conn_id();
    let timeout = std::time::Duration::from_millis(shared.config().server.handshake_timeout_ms);
    let accepted =
        tokio::time::timeout(timeout, auth::accept(&shared, &shared.admin_users, stream, peer, conn_id))
            .await;
    let Ok(Some((mut client, login))) = accepted else {
        if accepted.is_err() {
            tracing::info!(%peer, "admin handshake timed out ([server] handshake_timeout_ms)");
        }
        return;
    };
    let login = match login {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(%peer, error = %e, "admin login failed");
            let seq = client.next_seq();
            client.write(seq, &e.to_err_packet().to_bytes());
            let _ = client.flush().await;
            return;
        }
    };
    let caps = login.caps;
    if ok(&mut client, login.seq, caps, 0).await.is_err() {
        return;
    }
    tracing::info!(%peer, user = %login.user.name, "admin session started");
    loop {
        let p = tokio::select! {
            p = client.read() => p,
            () = shared.shutdown.cancelled() => break,
        };
        let Ok(Some(p)) = p else { break };
        let seq = p.next_seq;
        let r = match p.payload.first().copied() {
            Some(command::QUIT) | None => break,
            Some(command::PING | command::INIT_DB) => ok(&mut client, seq, caps, 0).await,
            Some(command::QUERY) => {
                let sql = String::from_utf8_lossy(&p.payload[1..]).into_owned();
                match run(&shared, &sql).await {
                    Ok(Answer::Rows(columns, rows)) => {
                        let mut s = seq;
                        for packet in text_result_set(&columns, &rows, caps, status::AUTOCOMMIT) {
                            s = client.write(s, &packet);
                        }
                        client.flush().await.map_err(|_| ())
                    }
                    Ok(Answer::Done(affected)) => ok(&mut client, seq, caps, affected).await,
                    Err(e) => {
                        client.write(seq, &e.to_err_packet().to_bytes());
                        client.flush().await.map_err(|_| ())
                    }
                }
            }
            Some(cmd) => {
                let e = Error::reply(
                    errors::UNKNOWN_COMMAND,
                    format!("command 0x{cmd:02x} is not supported by the sluice admin interface"),
                );
                client.write(seq, &e.to_err_packet().to_bytes());
                client.flush().await.map_err(|_| ())
            }
        };
        if r.is_err() {
            break;
        }
    }
    client.shutdown().await;
}

async fn ok<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut ClientStream<S>,
    seq: u8,
    caps: u32,
    affected: u64,
) -> Result<(), ()> {
    let mut out = BytesMut::with_capacity(16);
    OkPacket { affected_rows: affected, status: status::AUTOCOMMIT, ..OkPacket::default() }
        .encode(caps, &mut out);
    client.write(seq, &out);
    client.flush().await.map_err(|_| ())
}

/// What an admin statement answers.
#[derive(Debug)]
pub enum Answer {
    /// A result set.
    Rows(Vec<&'static str>, Vec<Vec<Option<Bytes>>>),
    /// OK with affected rows.
    Done(u64),
}

pub(crate) fn text(s: impl ToString) -> Option<Bytes> {
    Some(Bytes::from(s.to_string()))
}

/// Runs one admin statement.
pub async fn run(shared: &Arc<Shared>, sql: &str) -> Result<Answer, Error> {
    parse(sql)?.apply(shared).await
}

impl AdminCommand {
    /// Executes the command.
    pub async fn apply(self, shared: &Arc<Shared>) -> Result<Answer, Error> {
        use AdminCommand as C;
        Ok(match self {
            C::ShowDigests { order, limit } => show::show_digests(shared, order, limit),
            C::ShowBackends => show::show_backends(shared),
            C::ShowPools => show::show_pools(shared),
            C::ShowPins => show::show_pins(shared),
            C::ShowSessions => show::show_sessions(shared),
            C::ShowPlans => show::show_plans(shared),
            C::ShowConfig => ops::show_config(shared),
            C::ShowAdvice => ops::show_advice(shared),
            C::ExplainDigest(id) => ops::explain_digest(shared, id).await?,
            C::Reload => ops::reload(shared)?,
            C::Switchover(to) => ops::switchover(shared, to.as_deref()).await?,
            C::ResetDigests => {
                let n = shared.digests.snapshot().len() as u64;
                shared.digests.reset();
                shared.advice.reset();
                Answer::Done(n)
            }
            C::SetBackend { addr, offline } => set_backend(shared, &addr, offline)?,
            C::ShowCache => cache::show(shared)?,
            C::FlushCache(table) => cache::flush(shared, table.as_deref())?,
            C::ShowFirewall => firewall::show(shared),
            C::FirewallMode(mode) => firewall::set_mode(shared, mode),
            C::FirewallAllow(digest) => firewall::allow(shared, digest),
            C::FirewallSave => firewall::save(shared)?,
            C::ShowMigrations => migration::show(shared),
            C::SetMigrationReads { table, new } => migration::set_reads(shared, &table, new)?,
            C::CaptureStart { file, duration_s } => capture::start(shared, file, duration_s).await?,
            C::CaptureStop => capture::stop(shared)?,
            C::ShowCapture => capture::show(shared),
            C::Variables(vars) => variables(&vars),
            C::SelectOne => Answer::Rows(vec!["1"], vec![vec![text(1)]]),
        })
    }
}

/// `SET BACKEND '<host:port>' OFFLINE|ONLINE`: drains a member of the default group (reads move at
/// once), or brings it back.
fn set_backend(shared: &Shared, addr: &str, offline: bool) -> Result<Answer, Error> {
    let group = shared.group();
    let Some(m) = group.position(addr).and_then(|i| group.member(i)) else {
        return Err(Error::reply(
            (1105, "HY000"),
            format!("no backend {addr:?} in group '{}'; SHOW BACKENDS lists them", group.name),
        ));
    };
    m.offline.store(offline, Ordering::Relaxed);
    shared.publish_health(&shared.health.load());
    let state = if offline { "offline" } else { "online" };
    tracing::warn!(backend = addr, state, "backend state set by admin");
    Ok(Answer::Done(1))
}

/// `SELECT @@…`: what clients send on connect (the mysql CLI's banner query, connectors' settings
/// probes).
fn variables(vars: &[parse::SysVar]) -> Answer {
    use parse::SysVar;
    let row = vars
        .iter()
        .map(|v| match v {
            SysVar::VersionComment => text("sluice admin"),
            SysVar::MaxAllowedPacket => text(16_777_216),
            SysVar::WaitTimeout | SysVar::InteractiveTimeout => text(28_800),
            SysVar::Version => text(env!("CARGO_PKG_VERSION")),
            SysVar::Autocommit => text(1),
            SysVar::Other => None,
        })
        .collect();
    Answer::Rows(vars.iter().map(|v| v.column()).collect(), vec![row])
}
