//! Differential acceptance test: every client session through sluice must answer exactly like its own
//! connection to the primary would, whatever other sessions did before on the same pooled backend
//! connections.
//!
//! Each session draws a seeded random sequence from [`catalogue`] (tracked and untracked session
//! variables, transactions, DDL, temporary tables, user variables, named locks, LOCK TABLES, text and
//! binary prepared statements, warnings and errors, info functions, multi-statements, COM_CHANGE_USER,
//! COM_RESET_CONNECTION, clients vanishing) and runs every step twice: through sluice and on its own
//! direct connection to the primary (its twin, on tables of its own). After every step it compares the
//! result sets as text (column names and values), affected rows, last insert id, warning count, the
//! AUTOCOMMIT and IN_TRANS status bits, or the error code and message. A session stops at its first
//! divergence; the test fails listing every divergent session with its whole sequence.
//!
//! Phases: `concurrent` (SESSIONS sessions at once through a default-config sluice) and `sequential`
//! (SEQ_SESSIONS sessions one after another through a sluice with `pool.max_per_backend = 2`, so each
//! session gets connections earlier sessions used).
//!
//! Knobs (env): `SEED` (default 0x5eed), `SESSIONS` (12), `STEPS` (150), `SEQ_SESSIONS` (24),
//! `SEQ_STEPS` (30), `DURATION` (seconds: repeat rounds with seeds SEED, SEED+1, … until elapsed and
//! print coverage), `EXCLUDE` / `ONLY` (comma-separated catalogue entry names), `BYPASS=1` (both twins
//! connect directly: must always pass; proves a divergence is sluice's, not the test's).
//!
//! `cargo nextest run -p sluice-tests --test proxy differential --no-capture`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::*;
use mysql_async::{ChangeUserOpts, Conn, OptsBuilder, Params, Row, Value};
use sluice_tests::Topology;

mod catalogue;
mod drivers;
mod idle;
mod known;
mod writes;

use catalogue::{ENTRIES, Op, READ_STATE, READ_STATE2, Rng};

pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if v.starts_with("0x") => u64::from_str_radix(&v[2..], 16).unwrap_or(default),
        Ok(v) => v.parse().unwrap_or(default),
        Err(_) => default,
    }
}

/// The names one twin's templates resolve to.
#[derive(Debug, Clone)]
struct Names {
    tag: String,
    schema: String,
    other: String,
    lock_prefix: String,
    /// The twins run on MySQL: the catalogue's MariaDB variable names become MySQL's.
    mysql: bool,
    /// A generated sequence (not a known one): on MySQL, `LOCK TABLES` is left out ([`mysql_words`]).
    generated: bool,
}

/// A catalogue statement in MySQL's words: `tx_isolation`/`tx_read_only` are `transaction_…`,
/// `max_statement_time` (seconds) is `max_execution_time` (ms; the catalogue sets 0 or a
/// small value), and MySQL has no `@@in_transaction` (the status flags compare it anyway).
///
/// The locale is `en_GB` there: MySQL 9.7 refuses `SET lc_time_names = 'de_DE'` (ERR 1231) on a
/// connection with autocommit off whose previous statement failed to parse (measured by hand with the
/// mysql client; `en_GB` is accepted, and a statement in between or a COMMIT makes `de_DE` work
/// again). sluice runs a SET of tracked variables on any connection, without that history, so the
/// twins would differ by a server quirk rather than by what sluice does.
///
/// In generated sequences `LOCK TABLES` is left out there (`DO 0`; the known ones keep it): MySQL 9.7.2 writes a
/// transaction without its rows to the binlog after `LOCK TABLES …; SET autocommit = OFF; INSERT …;`
/// a statement failing on a table not locked (ERR 1100); `COMMIT` — the primary keeps the rows, the
/// replicas never get them (found with the generated sequences, then reduced to those five statements
/// on the server alone), so a replica read diverges through no fault of sluice's. It also takes the
/// implicit READ lock on a foreign-key child only on a connection that was never reset, which the
/// direct twin's reset and change-user steps undo and sluice's renewed connections keep
/// (`Pool::renew`); after such a reset an INSERT failing its foreign key check also uses up an
/// AUTO_INCREMENT value (a new connection's does not), and it checks the foreign key after the
/// primary key (1062 where a new connection gives 1452, and an id above the counter moves it), so the
/// child inserts (which fail when the parent row is gone) name a new id below every other (minus one
/// minus the rows there: every id is such a one; not MIN(id), which MariaDB answers from the index
/// without setting FOUND_ROWS()).
///
/// `SELECT @a, ? + 1` casts `@a`: MySQL fixes a user variable's column type when the statement is
/// prepared, and sluice prepares a client's statement again on the connection it executes on, where
/// the variable may hold another type than at the client's prepare (docs/architecture.md, "Server
/// behaviours sluice does not reproduce").
pub fn mysql_words(sql: &str) -> String {
    sql.replace("lc_time_names = 'de_DE'", "lc_time_names = 'en_GB'")
        .replace("SELECT @a, ? + 1", "SELECT CAST(@a AS SIGNED), ? + 1")
        .replace("tx_isolation", "transaction_isolation")
        .replace("tx_read_only", "transaction_read_only")
        // Seconds there, milliseconds here: 30 ms would interrupt a busy machine's reads at random.
        .replace("max_statement_time = 30", "max_execution_time = 30000")
        .replace("max_statement_time", "max_execution_time")
        .replace("@@in_transaction", "@@autocommit")
}

impl Names {
    fn resolve(&self, template: &str) -> String {
        let template = match (self.mysql, self.generated) {
            (true, true) => mysql_words(template)
                .replace("LOCK TABLES {t} WRITE", "DO 0")
                .replace("LOCK TABLES {t} READ", "DO 0")
                // A new id each time, below the AUTO_INCREMENT counter: MySQL 9.7 checks the
                // foreign key before the primary key on a new connection (1452) and after it once
                // the connection was reset (1062 on a duplicate; a larger id moves the counter).
                .replace(
                    "INSERT INTO {c} (pid) VALUES (999)",
                    "INSERT INTO {c} (id, pid) SELECT -1 - COUNT(*), 999 FROM {c}",
                )
                // The parent row 1 may be gone: the same insert then fails its foreign key.
                .replace(
                    "INSERT INTO {c} (pid) VALUES (1)",
                    "INSERT INTO {c} (id, pid) SELECT -1 - COUNT(*), 1 FROM {c}",
                ),
            (true, false) => mysql_words(template),
            (false, _) => template.to_owned(),
        };
        template
            .replace("{tmp}", &format!("tmp_{}", self.tag))
            .replace("{lk}", &self.lock_prefix)
            .replace("{other}", &self.other)
            .replace("{db}", &self.schema)
            .replace("{t}", &format!("t_{}", self.tag))
            .replace("{c}", &format!("c_{}", self.tag))
            .replace("{d}", &format!("d_{}", self.tag))
    }

    /// An answer with this twin's names replaced by neutral ones, so twins compare equal.
    fn normalize(&self, answer: String) -> String {
        answer.replace(&self.lock_prefix, "{lk}").replace(&self.tag, "TAG")
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => format!("'{}'", String::from_utf8_lossy(b)),
        other => format!("{other:?}"),
    }
}

fn err_text(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("ERR {} ({}): {}; ", s.code, s.state, s.message),
        other => format!("CLIENT ERROR: {other}; "),
    }
}

/// What the client saw after the last OK: affected rows, last insert id, warnings, status bits.
fn ok_text(conn: &Conn) -> String {
    match conn.last_ok_packet() {
        None => "no OK packet".into(),
        Some(ok) => {
            let f = ok.status_flags();
            format!(
                "affected={} insert_id={:?} warnings={} autocommit={} in_trans={}",
                ok.affected_rows(),
                ok.last_insert_id(),
                ok.warnings(),
                f.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
                f.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
            )
        }
    }
}

async fn collect_sets<P: mysql_async::prelude::Protocol>(
    mut r: mysql_async::QueryResult<'_, 'static, P>,
    out: &mut String,
) {
    loop {
        if r.is_empty() {
            break;
        }
        let cols: Vec<String> = r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect();
        match r.collect::<Row>().await {
            Ok(rows) => {
                out.push_str(&format!("[{}]", cols.join(",")));
                for row in rows {
                    let vals: Vec<String> = row.unwrap().iter().map(value_text).collect();
                    out.push_str(&format!(" ({})", vals.join(",")));
                }
                out.push_str("; ");
            }
            Err(e) => {
                out.push_str(&err_text(&e));
                return;
            }
        }
    }
    // An error in a later statement of a multi-statement can still be pending here.
    if let Err(e) = r.drop_result().await {
        out.push_str(&err_text(&e));
    }
}

/// One twin: its connection options, names and connection.
struct Twin {
    side: &'static str,
    opts: OptsBuilder,
    names: Names,
    conn: Option<Conn>,
}

impl Twin {
    async fn connect(&mut self) -> Result<(), String> {
        match Conn::new(self.opts.clone()).await {
            Ok(c) => {
                self.conn = Some(c);
                Ok(())
            }
            Err(e) => Err(format!("connect: {}", err_text(&e))),
        }
    }

    /// Runs `op`; the answer as normalized text.
    async fn run(&mut self, op: &Op) -> String {
        if self.conn.is_none()
            && let Err(e) = self.connect().await
        {
            return e;
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut out = String::new();
        match op {
            Op::Query(t) => match conn.query_iter(self.names.resolve(t)).await {
                Ok(r) => collect_sets(r, &mut out).await,
                Err(e) => out.push_str(&err_text(&e)),
            },
            Op::Exec(t, params) => {
                let p = Params::Positional(params.iter().map(|&v| Value::Int(v)).collect());
                match conn.exec_iter(self.names.resolve(t), p).await {
                    Ok(r) => collect_sets(r, &mut out).await,
                    Err(e) => out.push_str(&err_text(&e)),
                }
            }
            Op::ChangeUser => match conn.change_user(ChangeUserOpts::default()).await {
                Ok(()) => out.push_str("changed user; "),
                Err(e) => out.push_str(&err_text(&e)),
            },
            Op::Reset => match conn.reset().await {
                Ok(b) => out.push_str(&format!("reset {b}; ")),
                Err(e) => out.push_str(&err_text(&e)),
            },
            Op::Reconnect => {
                // No COM_QUIT: the socket is just closed, like a client process dying.
                drop(self.conn.take());
                if let Err(e) = self.connect().await {
                    return e;
                }
                // The server (directly, or behind sluice once it sees the socket close) frees the old
                // connection's named locks when it notices, not when the client goes: wait for that
                // on both twins, or the next lock probe races the cleanup.
                let probe = self
                    .names
                    .resolve("SELECT IS_USED_LOCK('{lk}') IS NULL AND IS_USED_LOCK('{lk}2') IS NULL");
                let conn = self.conn.as_mut().expect("connected");
                for _ in 0..250 {
                    match conn.query_first::<i64, _>(probe.as_str()).await {
                        Ok(Some(1)) => break,
                        Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        Err(e) => return err_text(&e),
                    }
                }
                return "reconnected".into();
            }
        }
        if !out.starts_with("CLIENT ERROR") {
            out.push_str(&ok_text(conn));
        }
        if out.contains("CLIENT ERROR") {
            // The connection is unusable; the next step starts a new one (and will diverge anyway).
            self.conn = None;
        }
        self.names.normalize(out)
    }

    async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.disconnect().await;
        }
    }
}

/// Shared by every session of a run.
struct Ctx {
    topo: &'static Topology,
    schema: String,
    other: String,
    run_id: String,
    seed: u64,
    allowed: Vec<&'static str>,
}

#[derive(Default)]
struct Outcome {
    statements: usize,
    coverage: BTreeMap<&'static str, usize>,
    divergence: Option<String>,
}

fn tag(side: char, phase: &str, sid: usize) -> String {
    format!("{side}{}x{sid}y", &phase[..1])
}

/// Creates the twin tables of one session (directly on the primary).
async fn create_tables(conn: &mut Conn, schema: &str, tag: &str) -> anyhow::Result<()> {
    conn.query_drop(format!(
        "CREATE TABLE `{schema}`.t_{tag} (id INT PRIMARY KEY AUTO_INCREMENT, v INT, s VARCHAR(8)) ENGINE=InnoDB;\
         INSERT INTO `{schema}`.t_{tag} (v, s) VALUES (1, 'a'), (2, 'b'), (3, 'c');\
         CREATE TABLE `{schema}`.c_{tag} (id INT PRIMARY KEY AUTO_INCREMENT, pid INT, \
           CONSTRAINT fk_{tag} FOREIGN KEY (pid) REFERENCES `{schema}`.t_{tag} (id)) ENGINE=InnoDB"
    ))
    .await?;
    Ok(())
}

async fn run_session(
    ctx: Arc<Ctx>,
    sluice: OptsBuilder,
    phase: &'static str,
    sid: usize,
    steps: usize,
) -> Outcome {
    let mk_names = |side: char| Names {
        tag: tag(side, phase, sid),
        schema: ctx.schema.clone(),
        other: ctx.other.clone(),
        lock_prefix: format!("lk_{}_{}", ctx.run_id, tag(side, phase, sid)),
        mysql: ctx.topo.flavor == sluice_tests::Flavor::MySql,
        generated: true,
    };
    let direct = ctx.topo.app_opts(&ctx.topo.primary).db_name(Some(ctx.schema.clone()));
    let mut s = Twin {
        side: "sluice",
        opts: sluice.db_name(Some(ctx.schema.clone())),
        names: mk_names('s'),
        conn: None,
    };
    let mut d = Twin { side: "direct", opts: direct, names: mk_names('d'), conn: None };
    let mut rng =
        Rng::new(ctx.seed ^ (sid as u64).wrapping_mul(0x100_0000_01b3) ^ (phase.len() as u64 * 0x9e37));
    let mut out = Outcome::default();
    let mut history: Vec<String> = Vec::new();
    let mut plan: Vec<(&'static str, Op)> = vec![("read_state", Op::Query(READ_STATE.into()))];
    let mut i = 0usize;
    let mut sluice_done: Option<Instant> = None;
    let mut longest_idle = Duration::ZERO;
    while i < steps + 2 {
        let (entry, op) = match plan.pop() {
            Some(p) => p,
            None => {
                let e = catalogue::draw(&mut rng, &ctx.allowed);
                (
                    ENTRIES.iter().find(|(n, _)| *n == e).map(|(n, _)| *n).unwrap_or("?"),
                    catalogue::generate(e, &mut rng),
                )
            }
        };
        if matches!(op, Op::ChangeUser | Op::Reset | Op::Reconnect) {
            plan.push(("read_state2", Op::Query(READ_STATE2.into())));
            plan.push(("read_state", Op::Query(READ_STATE.into())));
        }
        *out.coverage.entry(entry).or_default() += 1;
        out.statements += 1;
        // Each twin under its own limit, so a report says which side hung (sluice, or the server
        // itself on an overloaded machine).
        let limit = Duration::from_secs(30);
        // How long the sluice twin waited for its direct twin before this step: idle time on the
        // sluice session, which sluice's idle limits (`[pool] hold_*_ms`) count.
        let idle_before = sluice_done.map(|t: Instant| t.elapsed());
        let timed_sluice = async {
            let r = tokio::time::timeout(limit, s.run(&op)).await;
            (r, Instant::now())
        };
        let ((a, done), b) = tokio::join!(timed_sluice, tokio::time::timeout(limit, d.run(&op)));
        sluice_done = Some(done);
        let timed_out = |r: &Result<String, _>| r.is_err();
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => (
                if timed_out(&a) { "TIMEOUT after 30 s".to_string() } else { a.unwrap_or_default() },
                if timed_out(&b) {
                    "TIMEOUT after 30 s (the direct connection too)".to_string()
                } else {
                    b.unwrap_or_default()
                },
            ),
        };
        longest_idle = longest_idle.max(idle_before.unwrap_or_default());
        history.push(format!("  {i:>3} [{entry}] {op}\n        -> {b}"));
        if a != b {
            let _ = s.side;
            out.divergence = Some(format!(
                "DIVERGENCE seed={:#x} phase={phase} session={sid} step={i} entry={entry}\n  statement: {op}\n  sluice: {a}\n  direct: {b}\n  the sluice session was idle {:?} before this step (the slowest wait of the session: {:?})\n  sequence so far (direct answers):\n{}",
                ctx.seed,
                idle_before.unwrap_or_default(),
                longest_idle,
                history.join("\n")
            ));
            break;
        }
        i += 1;
    }
    s.close().await;
    d.close().await;
    out
}

/// One round: both phases with `seed`. Returns (statements, coverage, divergences).
async fn round(
    topo: &'static Topology,
    seed: u64,
    quick: bool,
) -> (usize, BTreeMap<&'static str, usize>, Vec<String>) {
    let schema = topo.fresh_schema("diff").await;
    let other = topo.fresh_schema("diff_other").await;
    let only: Vec<String> = std::env::var("ONLY")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    let exclude: Vec<String> = std::env::var("EXCLUDE")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    let allowed: Vec<&'static str> = ENTRIES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| (only.is_empty() || only.iter().any(|o| o == n)) && !exclude.iter().any(|x| x == n))
        .collect();
    assert!(!allowed.is_empty(), "ONLY/EXCLUDE left no catalogue entry");
    let sessions = env_u64("SESSIONS", 12) as usize;
    let steps = env_u64("STEPS", if quick { 150 } else { 300 }) as usize;
    let seq_sessions = env_u64("SEQ_SESSIONS", 24) as usize;
    let seq_steps = env_u64("SEQ_STEPS", 30) as usize;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let ctx = Arc::new(Ctx {
        topo,
        schema: schema.clone(),
        other,
        run_id: format!("{}_{nanos:x}", std::process::id()),
        seed,
        allowed,
    });

    let mut setup = topo.connect_root(&topo.primary).await.expect("root");
    for sid in 0..sessions {
        for side in ['s', 'd'] {
            create_tables(&mut setup, &schema, &tag(side, "concurrent", sid)).await.expect("tables");
        }
    }
    for sid in 0..seq_sessions {
        for side in ['s', 'd'] {
            create_tables(&mut setup, &schema, &tag(side, "sequential", sid)).await.expect("tables");
        }
    }
    setup.disconnect().await.ok();
    topo.wait_replicas_caught_up().await;

    let mut statements = 0;
    let mut coverage: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut divergences = Vec::new();
    let mut absorb = |o: Outcome| {
        statements += o.statements;
        for (k, v) in o.coverage {
            *coverage.entry(k).or_default() += v;
        }
        divergences.extend(o.divergence);
    };

    // Phase 1: concurrent sessions through sluice with the default config, but for how long a
    // connection holding a session's warnings waits for its next statement: a direct connection keeps
    // them for ever, sluice lets them go after `[pool] hold_diagnostics_ms` idle (by design, so idle
    // clients hold no backend connection; docs/architecture.md). A sluice twin idles while its direct
    // twin finishes a step, for seconds on a loaded machine (MySQL 9.7: two warnings read as 0 in
    // long runs), so the harness keeps them for longer than a step may take
    // (DIFF_HOLD_DIAGNOSTICS_MS to try shorter).
    let hold_diagnostics_ms = env_u64("DIFF_HOLD_DIAGNOSTICS_MS", 120_000);
    let mut cfg = topo.sluice_config();
    cfg.pool.hold_diagnostics_ms = hold_diagnostics_ms;
    if std::env::var_os("DIFF_READS_ON_PRIMARY").is_some() {
        cfg.routing.read_write_split = false;
    }
    let p = sluice_tests::start_proxy(cfg).await;
    // BYPASS=1: the "sluice" twin connects to the primary directly too. Every step must then agree: a
    // check that the catalogue and the comparison are deterministic (no divergence is the test's own).
    let bypass = env_u64("BYPASS", 0) == 1;
    let front =
        |p: &sluice_tests::Proxy| if bypass { topo.app_opts(&topo.primary) } else { p.opts("app", "app") };
    let mut set = tokio::task::JoinSet::new();
    for sid in 0..sessions {
        set.spawn(run_session(ctx.clone(), front(&p), "concurrent", sid, steps));
    }
    while let Some(o) = set.join_next().await {
        absorb(o.expect("session task"));
    }
    p.shutdown().await;

    // Phase 2: one session at a time through a small pool: each inherits earlier sessions' connections.
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 2;
    cfg.pool.hold_diagnostics_ms = hold_diagnostics_ms;
    let p = sluice_tests::start_proxy(cfg).await;
    for sid in 0..seq_sessions {
        absorb(run_session(ctx.clone(), front(&p), "sequential", sid, seq_steps).await);
    }
    p.shutdown().await;
    // A long run makes hundreds of rounds; the harness's data dirs live in memory (/dev/shm), where
    // 489 rounds' schemas once took 19 GB. A round that diverged keeps its tables to look at.
    if divergences.is_empty() {
        let mut root = topo.connect_root(&topo.primary).await.expect("root");
        for db in [&ctx.schema, &ctx.other] {
            root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .await
                .expect("drop the round's schema");
        }
        root.disconnect().await.ok();
    }
    (statements, coverage, divergences)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differential_sessions_match_direct_connections() {
    let topo = sluice_tests::shared().await;
    let seed = env_u64("SEED", 0x5eed);
    let duration = env_u64("DURATION", 0);
    let started = Instant::now();
    let mut rounds = 0u64;
    let mut statements = 0usize;
    let mut coverage: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut divergences = Vec::new();
    loop {
        let (n, cov, div) = round(topo, seed + rounds, duration == 0).await;
        rounds += 1;
        statements += n;
        for (k, v) in cov {
            *coverage.entry(k).or_default() += v;
        }
        divergences.extend(div);
        if !divergences.is_empty() || started.elapsed().as_secs() >= duration {
            break;
        }
    }
    let cov: Vec<String> = coverage.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "differential: seed {seed:#x}, {rounds} round(s), {statements} steps in {:.1}s; coverage: {}",
        started.elapsed().as_secs_f64(),
        cov.join(" ")
    );
    if !divergences.is_empty() {
        let mut by_entry: BTreeMap<String, usize> = BTreeMap::new();
        for d in &divergences {
            let e = d.split("entry=").nth(1).and_then(|s| s.split('\n').next()).unwrap_or("?").to_string();
            *by_entry.entry(e).or_default() += 1;
        }
        panic!(
            "{} session(s) diverged from their direct twins (first divergence per session; by entry: {by_entry:?})\n\n{}",
            divergences.len(),
            divergences.join("\n\n")
        );
    }
}
