//! The admin interface: MySQL protocol on `[admin] listen` (6032), accounts from `[[admin.users]]`.
//! Any client or tool connects (`mysql -h127.0.0.1 -P6032 -uadmin -padmin`) and reads real result sets:
//!
//! ```text
//! SHOW DIGESTS [ORDER BY total|count|avg|max|p50|p95|p99|errors|rows] [LIMIT n]
//! SHOW BACKENDS | SHOW POOLS | SHOW PINS | SHOW SESSIONS | SHOW PLANS
//! RESET DIGESTS
//! SET BACKEND '<host:port>' OFFLINE | ONLINE      (drain for maintenance; reads move at once)
//! CAPTURE START '<file>' [DURATION seconds] | CAPTURE STOP | SHOW CAPTURE   (capture/admin.rs)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use sluice_protocol::constants::{command, errors, status};
use sluice_protocol::packets::{OkPacket, text_result_set};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::session::auth::{self, ClientStream};
use crate::state::Shared;

/// One admin connection.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
) {
    let conn_id = shared.next_conn_id();
    let Some((mut client, login)) = auth::accept(&shared, &shared.admin_users, stream, peer, conn_id).await
    else {
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
                let answer = match crate::capture::admin::statement(&shared, &sql).await {
                    Some(a) => a,
                    None => run(&shared, &sql),
                };
                match answer {
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

fn text(s: impl ToString) -> Option<Bytes> {
    Some(Bytes::from(s.to_string()))
}

fn parse_error(sql: &str) -> Error {
    Error::reply(
        errors::PARSE,
        format!(
            "sluice admin does not understand {sql:?}; it knows SHOW DIGESTS [ORDER BY total|count|avg|max|p50|p95|p99|errors|rows] [LIMIT n], SHOW BACKENDS, SHOW POOLS, SHOW PINS, SHOW SESSIONS, SHOW PLANS, RESET DIGESTS, SET BACKEND '<host:port>' OFFLINE|ONLINE, CAPTURE START '<file>' [DURATION n], CAPTURE STOP, SHOW CAPTURE"
        ),
    )
}

/// Runs one admin statement.
pub fn run(shared: &Shared, sql: &str) -> Result<Answer, Error> {
    let trimmed = sql.trim().trim_end_matches(';').trim();
    let lower = trimmed.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    match words.as_slice() {
        ["show", "digests", rest @ ..] => show_digests(shared, rest).ok_or_else(|| parse_error(trimmed)),
        ["show", "backends"] => Ok(show_backends(shared)),
        ["show", "pools"] => Ok(show_pools(shared)),
        ["show", "pins"] => Ok(show_pins(shared)),
        ["show", "sessions"] => Ok(show_sessions(shared)),
        ["show", "plans"] => Ok(show_plans(shared)),
        ["reset", "digests"] => {
            let n = shared.digests.snapshot().len() as u64;
            shared.digests.reset();
            Ok(Answer::Done(n))
        }
        ["set", "backend", _, state @ ("offline" | "online")] => {
            // The address as written (quotes optional), not lower-cased.
            let addr = trimmed.split_whitespace().nth(2).unwrap_or_default().trim_matches(['\'', '"', '`']);
            let Some(m) = shared.group.members.iter().find(|m| m.addr.address == addr) else {
                return Err(Error::reply(
                    (1105, "HY000"),
                    format!("no backend {addr:?} in group '{}'; SHOW BACKENDS lists them", shared.group.name),
                ));
            };
            m.offline.store(*state == "offline", Ordering::Relaxed);
            shared.publish_health(&shared.health.load());
            tracing::warn!(backend = addr, state, "backend state set by admin");
            Ok(Answer::Done(1))
        }
        // What clients send on connect (the mysql CLI's banner query, connectors' settings probes).
        ["select", rest @ ..] if rest.first().is_some_and(|w| w.starts_with("@@")) => {
            Ok(system_variables(trimmed))
        }
        ["select", "1"] => Ok(Answer::Rows(vec!["1"], vec![vec![text(1)]])),
        _ => Err(parse_error(trimmed)),
    }
}

/// `SELECT @@a, @@b [LIMIT 1]`: the few variables connectors ask for; others are NULL.
fn system_variables(sql: &str) -> Answer {
    let list = sql[6..].split(" limit").next().unwrap_or_default();
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for v in list.split(',').map(str::trim) {
        let name = v.trim_start_matches("@@").trim_start_matches("session.").trim_start_matches("global.");
        let value = match name.to_ascii_lowercase().as_str() {
            "version_comment" => text("sluice admin"),
            "max_allowed_packet" => text(16_777_216),
            "wait_timeout" | "interactive_timeout" => text(28_800),
            "version" => text(env!("CARGO_PKG_VERSION")),
            "autocommit" => text(1),
            _ => None,
        };
        // Column names live as long as the answer: leak-free by matching known ones, else a generic name.
        columns.push(match name.to_ascii_lowercase().as_str() {
            "version_comment" => "@@version_comment",
            "max_allowed_packet" => "@@max_allowed_packet",
            "wait_timeout" => "@@wait_timeout",
            "interactive_timeout" => "@@interactive_timeout",
            "version" => "@@version",
            "autocommit" => "@@autocommit",
            _ => "@@variable",
        });
        row.push(value);
    }
    Answer::Rows(columns, vec![row])
}

fn show_digests(shared: &Shared, rest: &[&str]) -> Option<Answer> {
    let mut order = "total";
    let mut limit = usize::MAX;
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1), rest.get(i + 2)) {
            ("order", Some(&"by"), Some(key)) => {
                order = key;
                i += 3;
            }
            ("limit", Some(n), _) => {
                limit = n.parse().ok()?;
                i += 2;
            }
            _ => return None,
        }
    }
    let mut all = shared.digests.snapshot();
    let key = |d: &crate::stats::DigestStats| -> Option<u64> {
        Some(match order {
            "total" => d.total_us,
            "count" => d.count,
            "avg" => d.avg_us(),
            "max" => d.max_us,
            "p50" => d.quantile_us(0.5),
            "p95" => d.quantile_us(0.95),
            "p99" => d.quantile_us(0.99),
            "errors" => d.errors,
            "rows" => d.rows_sent,
            _ => return None,
        })
    };
    if all.first().is_some_and(|d| key(d).is_none()) || (all.is_empty() && key_is_unknown(order)) {
        return None;
    }
    all.sort_by_key(|d| std::cmp::Reverse(key(d).unwrap_or(0)));
    let columns = vec![
        "digest",
        "digest_text",
        "user",
        "schema",
        "count",
        "first_seen",
        "last_seen",
        "total_us",
        "min_us",
        "avg_us",
        "max_us",
        "p50_us",
        "p95_us",
        "p99_us",
        "rows_sent",
        "rows_affected",
        "errors",
        "warnings",
        "no_index",
        "on_primary",
        "on_replica",
        "pinned",
    ];
    let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let rows = all
        .iter()
        .take(limit)
        .map(|d| {
            vec![
                text(format!("{:016x}", d.digest)),
                text(&d.text),
                text(&d.user),
                text(&d.schema),
                text(d.count),
                text(secs(d.first_seen)),
                text(secs(d.last_seen)),
                text(d.total_us),
                text(if d.count == 0 { 0 } else { d.min_us }),
                text(d.avg_us()),
                text(d.max_us),
                text(d.quantile_us(0.5)),
                text(d.quantile_us(0.95)),
                text(d.quantile_us(0.99)),
                text(d.rows_sent),
                text(d.rows_affected),
                text(d.errors),
                text(d.warnings),
                text(d.no_index),
                text(d.on_primary),
                text(d.on_replica),
                text(d.pinned),
            ]
        })
        .collect();
    Some(Answer::Rows(columns, rows))
}

fn key_is_unknown(order: &str) -> bool {
    !matches!(order, "total" | "count" | "avg" | "max" | "p50" | "p95" | "p99" | "errors" | "rows")
}

fn show_backends(shared: &Shared) -> Answer {
    let health = shared.health.load();
    let snap = shared.routing.load();
    let members: Vec<_> = health
        .groups
        .iter()
        .find(|(g, _)| *g == shared.group.name)
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    let rows = shared
        .group
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let h = members.iter().find(|h| h.address == m.addr.address);
            let role = if snap.primary == Some(i) { "primary" } else { "replica" };
            let offline = m.offline.load(Ordering::Relaxed);
            let state = match h {
                _ if offline => "offline",
                Some(h) if h.healthy => "online",
                Some(_) => "unhealthy",
                None => "unknown",
            };
            let pools = shared.pools.all();
            let (in_use, idle) = pools
                .iter()
                .filter(|p| p.spec().address == m.addr.address)
                .fold((0, 0), |(u, i), p| (u + p.in_use(), i + p.idle_count()));
            vec![
                text(&shared.group.name),
                text(&m.addr.address),
                text(role),
                text(state),
                h.and_then(|h| h.lag_ms).map(|l| Bytes::from(l.to_string())),
                h.and_then(|h| h.gtid.clone()).map(Bytes::from),
                text(m.weight),
                text(in_use),
                text(idle),
                h.and_then(|h| h.error.clone()).map(Bytes::from),
            ]
        })
        .collect();
    Answer::Rows(
        vec![
            "group",
            "address",
            "role",
            "state",
            "lag_ms",
            "gtid",
            "weight",
            "conns_in_use",
            "conns_idle",
            "last_error",
        ],
        rows,
    )
}

fn show_pools(shared: &Shared) -> Answer {
    let rows = shared
        .pools
        .all()
        .iter()
        .map(|p| {
            let s = p.spec();
            vec![
                text(&s.label),
                text(&s.user),
                text(s.found_rows),
                text(s.charset),
                text(p.in_use()),
                text(p.idle_count()),
                text(p.max()),
                text(p.opened()),
            ]
        })
        .collect();
    Answer::Rows(vec!["backend", "user", "found_rows", "collation", "in_use", "idle", "max", "opened"], rows)
}

fn show_pins(shared: &Shared) -> Answer {
    let rows = shared.pins.snapshot().into_iter().map(|(name, n)| vec![text(name), text(n)]).collect();
    Answer::Rows(vec!["reason", "count"], rows)
}

fn show_sessions(shared: &Shared) -> Answer {
    let rows = shared
        .sessions
        .list()
        .into_iter()
        .map(|(id, h)| {
            let running = h.running.try_lock().ok().and_then(|r| *r);
            vec![
                text(id),
                text(&h.user),
                running.and_then(|(m, _)| shared.member(m)).map(|a| Bytes::from(a.label.clone())),
                running.map(|(_, t)| Bytes::from(t.to_string())),
            ]
        })
        .collect();
    Answer::Rows(vec!["id", "user", "running_on", "backend_thread"], rows)
}

fn show_plans(shared: &Shared) -> Answer {
    let s = shared.plans.stats();
    Answer::Rows(
        vec!["shapes", "hits", "misses", "evictions", "unparsed"],
        vec![vec![
            text(shared.plans.len()),
            text(s.hits),
            text(s.misses),
            text(s.evictions),
            text(s.unparsed),
        ]],
    )
}
