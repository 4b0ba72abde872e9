//! L2: the same entries in Redis, shared by every sluice instance, with the generations and last-write
//! GTIDs in Redis too and invalidations published on one channel.
//!
//! Keys: `sluice:e:<sha256 of the full key>` (the value holds the full key, compared on every hit),
//! `sluice:g:t:<schema.table>`, `sluice:g:s:<schema>`, `sluice:g:epoch` (INCR counters) and
//! `sluice:w:<schema.table>` / `sluice:w:s:<schema>` (GTID of the last write to the table / of the last
//! write bumping the whole schema). A lookup is one MGET of the entry and the counters
//! of the tables it reads, so an entry is served only if Redis's counters still equal the ones it was
//! stored under. Every Redis call has a timeout; any failure marks L2 down (sessions carry on with L1 and
//! the backend) until a background check sees it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::gens::{Stamp, TableId, schema_of};

/// The invalidation channel.
pub const CHANNEL: &str = "sluice:invalidate";

/// A Redis connection for the cache.
pub struct L2 {
    client: redis::Client,
    conn: ConnectionManager,
    timeout: Duration,
    up: AtomicBool,
    /// A bump failed to reach Redis: its counters may be behind; bump the epoch before using L2 again.
    lost_bump: AtomicBool,
    /// Errors and timeouts seen.
    pub errors: AtomicU64,
    /// This instance's id in published messages (its own are skipped).
    pub instance: u64,
}

/// What one MGET found.
#[derive(Debug)]
pub struct Found {
    /// The encoded entry, if any.
    pub value: Option<Vec<u8>>,
    /// The counters now (epoch, then schema and table per table).
    pub stamp: Stamp,
    /// Last-write GTIDs: per table, its own and its schema's.
    pub last_writes: Vec<Option<String>>,
}

/// The Redis key of a full cache key.
pub fn entry_key(key: &[u8]) -> String {
    format!("sluice:e:{}", hex::encode(Sha256::digest(key)))
}

impl L2 {
    /// Connects (bounded by `timeout` per attempt).
    pub async fn connect(url: &str, timeout: Duration, instance: u64) -> redis::RedisResult<L2> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client.clone(), config))
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
        Ok(L2 {
            client,
            conn,
            timeout,
            up: AtomicBool::new(true),
            lost_bump: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            instance,
        })
    }

    /// The client (for the pub/sub connection).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Whether L2 is in use now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn failed(&self, what: &str, e: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %e, "redis {what} failed: L2 cache unavailable until redis answers again");
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, what: &str, cmd: &redis::Pipeline) -> Option<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.failed(what, &e);
                None
            }
            Err(_) => {
                self.failed(what, &format_args!("no answer within {} ms", self.timeout.as_millis()));
                None
            }
        }
    }

    /// The entry stored under `key` and the counters of `tables`, in one round trip. `None` when L2 is
    /// down or failed.
    pub async fn lookup(&self, key: &[u8], tables: &[TableId]) -> Option<Found> {
        if !self.is_up() {
            return None;
        }
        let mut keys = Vec::with_capacity(2 + 4 * tables.len());
        keys.push(entry_key(key));
        keys.push("sluice:g:epoch".to_owned());
        for t in tables {
            keys.push(format!("sluice:g:s:{}", schema_of(t)));
            keys.push(format!("sluice:g:t:{t}"));
            keys.push(format!("sluice:w:{t}"));
            keys.push(format!("sluice:w:s:{}", schema_of(t)));
        }
        let mut p = redis::pipe();
        p.cmd("MGET").arg(&keys);
        let (vals,): (Vec<Option<Vec<u8>>>,) = self.run("lookup", &p).await?;
        if vals.len() != keys.len() {
            self.failed("lookup", &"short MGET reply");
            return None;
        }
        let num = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut stamp = vec![num(&vals[1])];
        let mut last_writes = Vec::with_capacity(tables.len());
        let text = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
        for i in 0..tables.len() {
            stamp.push(num(&vals[2 + 4 * i]));
            stamp.push(num(&vals[3 + 4 * i]));
            last_writes.push(text(&vals[4 + 4 * i]));
            last_writes.push(text(&vals[5 + 4 * i]));
        }
        let value = vals.into_iter().next().flatten();
        Some(Found { value, stamp: Stamp(stamp), last_writes })
    }

    /// Stores an encoded entry with a TTL.
    pub async fn store(&self, key: &[u8], value: Vec<u8>, ttl: Duration) {
        if !self.is_up() {
            return;
        }
        let mut p = redis::pipe();
        p.cmd("SET").arg(entry_key(key)).arg(value).arg("PX").arg(ttl.as_millis().max(1) as u64).ignore();
        let _: Option<()> = self.run("store", &p).await;
    }

    /// A write to `tables` (GTID when known), or to every table of `schema`: counters bumped in Redis
    /// and published. A bump that cannot reach Redis is remembered (see [`L2::recover`]).
    pub async fn bump(&self, tables: &[TableId], schema: Option<&str>, gtid: Option<&str>) {
        if !self.is_up() {
            self.lost_bump.store(true, Ordering::Release);
            return;
        }
        let mut p = redis::pipe();
        let mut msg = format!("{}", self.instance);
        for t in tables {
            if let Some(g) = gtid {
                p.cmd("SET").arg(format!("sluice:w:{t}")).arg(g).ignore();
            }
            p.cmd("INCR").arg(format!("sluice:g:t:{t}")).ignore();
            msg.push_str("\nt ");
            msg.push_str(t);
            if let Some(g) = gtid {
                msg.push(' ');
                msg.push_str(g);
            }
        }
        if let Some(s) = schema {
            if let Some(g) = gtid {
                p.cmd("SET").arg(format!("sluice:w:s:{s}")).arg(g).ignore();
            }
            p.cmd("INCR").arg(format!("sluice:g:s:{s}")).ignore();
            msg.push_str("\ns ");
            msg.push_str(s);
            if let Some(g) = gtid {
                msg.push(' ');
                msg.push_str(g);
            }
        }
        p.cmd("PUBLISH").arg(CHANNEL).arg(msg).ignore();
        if self.run::<()>("invalidation", &p).await.is_none() {
            self.lost_bump.store(true, Ordering::Release);
        }
    }

    /// Everything in L2 is invalid (FLUSH CACHE, or bumps were lost): the epoch moves.
    pub async fn bump_epoch(&self) -> bool {
        let mut p = redis::pipe();
        p.cmd("INCR").arg("sluice:g:epoch").ignore();
        p.cmd("PUBLISH").arg(CHANNEL).arg(format!("{}\na", self.instance)).ignore();
        self.run::<()>("flush", &p).await.is_some()
    }

    /// Checks a down L2: when Redis answers again, lost bumps become an epoch bump (so no entry stored
    /// before them is served), then L2 is used again. Returns whether it is up.
    pub async fn recover(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let mut conn = self.conn.clone();
        let ping =
            tokio::time::timeout(self.timeout, redis::cmd("PING").query_async::<String>(&mut conn)).await;
        if !matches!(ping, Ok(Ok(_))) {
            return false;
        }
        if self.lost_bump.swap(false, Ordering::AcqRel) {
            self.up.store(true, Ordering::Release);
            if !self.bump_epoch().await {
                self.lost_bump.store(true, Ordering::Release);
                self.up.store(false, Ordering::Release);
                return false;
            }
        }
        self.up.store(true, Ordering::Release);
        tracing::info!("redis answers again: L2 cache in use");
        true
    }
}

/// One published invalidation, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// Tables written, with the write's GTID when known.
    Tables(Vec<(String, Option<String>)>),
    /// A schema's tables, with the write's GTID when known.
    Schema(String, Option<String>),
    /// Everything.
    All,
}

/// Parses a message of [`CHANNEL`]: `instance` then lines `t table [gtid]`, `s schema` or `a`.
/// Returns the sender and what it invalidates.
pub fn parse_message(msg: &str) -> Option<(u64, Vec<Invalidation>)> {
    let mut lines = msg.lines();
    let sender = lines.next()?.trim().parse().ok()?;
    let mut tables = Vec::new();
    let mut out = Vec::new();
    for l in lines {
        let mut w = l.split(' ');
        match (w.next(), w.next(), w.next()) {
            (Some("t"), Some(t), g) => tables.push((t.to_owned(), g.map(str::to_owned))),
            (Some("s"), Some(s), g) => out.push(Invalidation::Schema(s.to_owned(), g.map(str::to_owned))),
            (Some("a"), _, _) => out.push(Invalidation::All),
            _ => {}
        }
    }
    if !tables.is_empty() {
        out.push(Invalidation::Tables(tables));
    }
    Some((sender, out))
}

/// Keeps a pub/sub subscription and applies what others publish; after any gap (disconnect) everything
/// local is invalidated, because messages may have been missed. Runs until `stop` resolves.
pub async fn subscribe_loop(
    l2: Arc<L2>,
    apply: impl Fn(Invalidation) + Send + Sync + 'static,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    use futures_util::StreamExt;
    tokio::pin!(stop);
    let mut first = true;
    loop {
        let sub = async {
            let mut ps =
                tokio::time::timeout(l2.timeout * 4, l2.client.get_async_pubsub()).await.ok()?.ok()?;
            ps.subscribe(CHANNEL).await.ok()?;
            Some(ps)
        };
        let ps = tokio::select! { ps = sub => ps, () = &mut stop => return };
        if let Some(ps) = ps {
            if !first {
                // Messages published while we were away are lost.
                apply(Invalidation::All);
            }
            first = false;
            let mut stream = ps.into_on_message();
            loop {
                let msg = tokio::select! { m = stream.next() => m, () = &mut stop => return };
                let Some(msg) = msg else { break };
                let Ok(text) = msg.get_payload::<String>() else { continue };
                if let Some((sender, inv)) = parse_message(&text)
                    && sender != l2.instance
                {
                    inv.into_iter().for_each(&apply);
                }
            }
            tracing::warn!("redis pub/sub connection lost: local cache entries are dropped when it returns");
            apply(Invalidation::All);
        }
        tokio::select! { () = tokio::time::sleep(Duration::from_millis(200)) => {}, () = &mut stop => return }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        let (s, inv) = parse_message("7\nt app.a 0-1-9\nt app.b\ns app\na").unwrap();
        assert_eq!(s, 7);
        assert_eq!(
            inv,
            vec![
                Invalidation::Schema("app".into(), None),
                Invalidation::All,
                Invalidation::Tables(vec![("app.a".into(), Some("0-1-9".into())), ("app.b".into(), None)]),
            ]
        );
        assert!(parse_message("x\nt a").is_none());
    }

    #[test]
    fn entry_keys_are_stable_hashes() {
        assert_eq!(entry_key(b"k"), entry_key(b"k"));
        assert_ne!(entry_key(b"k"), entry_key(b"K"));
        assert_eq!(entry_key(b"k").len(), "sluice:e:".len() + 64);
    }
}
