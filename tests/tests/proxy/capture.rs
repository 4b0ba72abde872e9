//! Capture and replay end to end: a scripted workload through sluice (several sessions, transactions
//! with row contention, AUTO_INCREMENT, prepared statements) captured from the admin interface, then
//! replayed with `sluice_replay` against a copy of the starting data on the harness's primary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice_protocol::capture::{Record, decode_file};
use sluice_replay::{self as replay, Format, Options};
use sluice_tests::procs::{sluice_bin, sluice_replay_bin};
use sluice_tests::{Proxy, Topology};

use super::ops::col;
use super::{admin, connect, setup};

async fn show_capture(a: &mut Conn) -> Row {
    let rows: Vec<Row> = a.query("SHOW CAPTURE").await.expect("show capture");
    rows.into_iter().next().expect("one row")
}

/// CAPTURE STOP, then waits until the writer has closed the file; returns the last SHOW CAPTURE row.
async fn stop(a: &mut Conn) -> Row {
    a.query_drop("CAPTURE STOP").await.expect("capture stop");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = show_capture(a).await;
        if col(&row, "state") == "off" {
            return row;
        }
        assert!(Instant::now() < deadline, "capture still {:?}", col(&row, "state"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Statement records of a capture file.
fn statements(path: &Path) -> Vec<sluice_protocol::capture::Statement> {
    let data = std::fs::read(path).expect("read capture");
    decode_file(&data)
        .expect("decode capture")
        .into_iter()
        .filter_map(|r| if let Record::Statement(s) = r { Some(s) } else { None })
        .collect()
}

/// Replay options toward the harness primary as `app`.
fn options(topo: &Topology, file: PathBuf, map: &[(&str, &str)]) -> Options {
    Options {
        file,
        format: Format::Capture,
        host: topo.primary.addr.ip().to_string(),
        port: topo.primary.addr.port(),
        user: Some("app".into()),
        password: "app".into(),
        speed: 1.0,
        concurrency: None,
        duration: None,
        read_only: false,
        dry_run: false,
        allow_writes: true,
        schema_map: map.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
        order_timeout: Duration::from_secs(10),
        progress: false,
    }
}

const TABLES: [&str; 2] = [
    "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE ledger (id INT AUTO_INCREMENT PRIMARY KEY, account INT NOT NULL, amount BIGINT NOT NULL, note VARCHAR(40))",
];

/// The starting data, in `schema`.
async fn seed(topo: &Topology, schema: &str) {
    let mut c = Conn::new(topo.app_opts(&topo.primary).db_name(Some(schema))).await.expect("connect primary");
    for t in TABLES {
        c.query_drop(t).await.expect("create");
    }
    c.query_drop("INSERT INTO accounts VALUES (1, 100), (2, 200), (3, 300), (4, 400), (5, 500)")
        .await
        .expect("seed");
    c.disconnect().await.ok();
}

/// Session `i`'s part of the workload; returns the statements it sent.
async fn session(mut c: Conn, i: u64, rounds: u64) -> u64 {
    let mut n = 0;
    let update = c.prep("UPDATE /*w*/ accounts SET balance = balance + ? WHERE id = ?").await.expect("prep");
    let insert =
        c.prep("INSERT /*w*/ INTO ledger (account, amount, note) VALUES (?, ?, ?)").await.expect("prep");
    for r in 0..rounds {
        let hot = 1 + (r + i) % 3;
        let amount = (i * 10 + r) as i64;
        c.query_drop("BEGIN /*w*/").await.expect("begin");
        c.exec_drop(&update, (amount, hot)).await.expect("update");
        c.exec_drop(&insert, (hot, amount, format!("s{i}r{r}"))).await.expect("insert");
        let end = if r % 5 == 4 { "ROLLBACK /*w*/" } else { "COMMIT /*w*/" };
        c.query_drop(end).await.expect("end");
        let _: Option<i64> = c
            .query_first(format!("SELECT /*w*/ balance FROM accounts WHERE id = {hot}"))
            .await
            .expect("select");
        n += 5;
        if r % 3 == 0 {
            c.query_drop(format!("UPDATE /*w*/ accounts SET balance = balance - 1 WHERE id = {}", 4 + i % 2))
                .await
                .expect("autocommit update");
            n += 1;
        }
    }
    c.disconnect().await.ok();
    n
}

/// Both tables of `schema`, in order.
async fn contents(topo: &Topology, schema: &str) -> (Vec<(i32, i64)>, Vec<(i32, i32, i64, String)>) {
    let mut c = Conn::new(topo.app_opts(&topo.primary).db_name(Some(schema))).await.expect("connect primary");
    let a = c.query("SELECT id, balance FROM accounts ORDER BY id").await.expect("accounts");
    let l = c.query("SELECT id, account, amount, note FROM ledger ORDER BY id").await.expect("ledger");
    c.disconnect().await.ok();
    (a, l)
}

#[tokio::test]
async fn capture_then_replay_reproduces_the_final_tables() {
    let (topo, schema) = setup("cap_src").await;
    let copy = topo.fresh_schema("cap_copy").await;
    seed(topo, &schema).await;
    seed(topo, &copy).await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("work.cap");
    let p = super::proxy(topo).await;
    let mut a = admin(&p).await;
    a.query_drop(format!("CAPTURE START '{}'", file.display())).await.expect("capture start");
    let row = show_capture(&mut a).await;
    assert_eq!(col(&row, "state"), "on");
    // The primary's GTID position in its flavour's form: MariaDB `0-1-N`, MySQL `<server uuid>:1-N`.
    let start = col(&row, "start_gtid");
    let gtid_like = match topo.flavor {
        sluice_tests::Flavor::MariaDb => start.starts_with("0-"),
        sluice_tests::Flavor::MySql => start.split_once(':').is_some_and(|(uuid, _)| uuid.len() == 36),
    };
    assert!(gtid_like, "start gtid {start:?}");
    let again = a.query_drop(format!("CAPTURE START '{}'", dir.path().join("x").display())).await;
    assert!(again.expect_err("one capture at a time").to_string().contains("already running"));

    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = connect(&p, "app", "app", &schema).await;
        tasks.push(tokio::spawn(session(c, i, 15)));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.expect("session task");
    }
    let row = stop(&mut a).await;
    assert_eq!(col(&row, "dropped"), "0");
    let captured = statements(&file);
    let ours: Vec<_> =
        captured.iter().filter(|s| String::from_utf8_lossy(&s.sql).contains("/*w*/")).collect();
    assert_eq!(ours.len() as u64, sent, "every statement of the workload is in the capture");
    assert!(
        ours.iter().any(|s| s.command == sluice_protocol::capture::Command::Execute && s.params.len() == 3)
    );
    assert!(ours.iter().any(|s| !s.gtid.is_empty()), "commits carry their GTID");
    assert!(ours.iter().any(|s| s.insert_id > 0), "inserts carry their AUTO_INCREMENT value");
    p.shutdown().await;

    let summary = replay::replay(options(topo, file.clone(), &[(&schema, &copy)])).await.expect("replay");
    assert_eq!(summary.replayed, captured.len() as u64);
    assert_eq!(summary.error_mismatches, 0, "{:?}", summary.error_diffs);
    assert_eq!(summary.order_timeouts, 0);
    assert!(summary.digests.iter().any(|d| d.text.starts_with("insert into ledger") && d.then.is_some()));
    let (orig, replayed) = (contents(topo, &schema).await, contents(topo, &copy).await);
    assert_eq!(orig.1.len(), 6 * 12, "committed ledger rows");
    assert_eq!(orig, replayed, "the replay left the same tables as the captured run");

    // --concurrency 2: at most two sessions at once, everything replayed, nobody stuck on the order.
    let third = topo.fresh_schema("cap_conc").await;
    seed(topo, &third).await;
    let mut o = options(topo, file, &[(&schema, &third)]);
    o.concurrency = Some(2);
    o.speed = 0.0;
    let (summary, outcomes) = replay::replay_outcomes(o).await.expect("replay at concurrency 2");
    assert_eq!((summary.replayed, summary.order_timeouts), (captured.len() as u64, 0));
    let mut spans: std::collections::HashMap<usize, (u64, u64)> = Default::default();
    for o in &outcomes {
        let e = spans.entry(o.session).or_insert((u64::MAX, 0));
        e.0 = e.0.min(o.at_us);
        e.1 = e.1.max(o.at_us + o.latency_us);
    }
    let most = spans
        .values()
        .map(|&(a, _)| spans.values().filter(|&&(b0, b1)| b0 <= a && a < b1).count())
        .max()
        .unwrap_or(0);
    assert!(most <= 2, "{most} sessions ran at once");
    let ledger = contents(topo, &third).await.1;
    assert_eq!(ledger.len(), 6 * 12, "every committed insert replayed");
}

#[tokio::test]
async fn replay_honours_the_speed_factor() {
    let (topo, schema) = setup("cap_speed").await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("speed.cap");
    let p = super::proxy(topo).await;
    let mut a = admin(&p).await;
    a.query_drop(format!("CAPTURE START '{}' DURATION 30", file.display())).await.expect("capture start");
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..11 {
        let _: Option<i64> = c.query_first(format!("SELECT {i} + 1")).await.expect("select");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.disconnect().await.ok();
    stop(&mut a).await;
    p.shutdown().await;
    let span = {
        let s = statements(&file);
        let sel: Vec<_> = s.iter().filter(|s| s.sql.ends_with(b" + 1")).collect();
        assert_eq!(sel.len(), 11);
        (sel[10].offset_us - sel[0].offset_us) as f64 / 1e6
    };
    assert!(span >= 2.0, "captured span {span}");
    let mut o = options(topo, file, &[]);
    o.speed = 2.0;
    o.allow_writes = false; // reads only: no flag needed
    let summary = replay::replay(o).await.expect("replay");
    // Twice as fast: about span/2 (never less: statements wait for their time), generous on the top.
    assert!(summary.elapsed_s >= span / 2.0 * 0.95, "replay {:.2}s for span {span:.2}s", summary.elapsed_s);
    assert!(summary.elapsed_s < span / 2.0 + 0.9, "replay {:.2}s for span {span:.2}s", summary.elapsed_s);
    assert_eq!(summary.errors_now, 0);
    let sel = summary.digests.iter().find(|d| d.text == "select ? + ?").expect("the SELECT's digest");
    assert_eq!(sel.count, 11);
    assert!(sel.then.is_some() && sel.now.is_some());
    let doc = serde_json::to_value(&summary).expect("json");
    assert_eq!(doc["digests"][0]["text"], "select ? + ?");
    assert!(doc["digests"][0]["now"]["p99_us"].as_u64().is_some(), "{doc}");
    let html = replay::html::render(&summary);
    assert!(html.contains("<svg") && html.contains("<circle") && html.contains("select ? + ?"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained");
}

#[tokio::test]
async fn replay_refuses_writes_without_allow_writes() {
    let (topo, schema) = setup("cap_safe").await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("w.cap");
    let p = super::proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)").await.expect("create");
    let mut a = admin(&p).await;
    a.query_drop(format!("CAPTURE START '{}'", file.display())).await.expect("capture start");
    c.query_drop("INSERT INTO t (v) VALUES (1)").await.expect("insert");
    let _: Vec<i64> = c.query("SELECT v FROM t").await.expect("select");
    stop(&mut a).await;
    p.shutdown().await;

    let mut o = options(topo, file.clone(), &[]);
    o.allow_writes = false;
    let e = replay::replay(o.clone()).await.expect_err("writes refused");
    assert!(matches!(e, replay::Error::Writes { writes: 1.., .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("refusing to replay") && e.contains("--allow-writes") && e.contains("INSERT INTO t"),
        "{e}"
    );
    // --read-only replays the reads and leaves the data alone; --dry-run connects nowhere.
    o.read_only = true;
    let s = replay::replay(o.clone()).await.expect("read-only replay");
    assert_eq!((s.replayed, s.skipped, s.writes), (1, 1, 0));
    o.read_only = false;
    o.dry_run = true;
    o.port = 1;
    let s = replay::replay(o).await.expect("dry run");
    assert_eq!((s.replayed, s.target.as_str()), (0, "dry-run"));
    let mut c = Conn::new(topo.app_opts(&topo.primary).db_name(Some(&schema))).await.expect("primary");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await.expect("count");
    assert_eq!(n, Some(1), "nothing was replayed into the table");

    // The same through the command line: `sluice replay` runs the sluice-replay binary next to it, with
    // its arguments, output and exit code.
    let (sluice, replay_bin) = (sluice_bin(), sluice_replay_bin());
    assert_eq!(replay_bin.parent(), sluice.parent(), "built side by side");
    let target = topo.primary.addr.to_string();
    let run = |extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(&sluice);
        cmd.arg("replay").arg(&file).args(["--target", &target, "--user", "app", "--quiet"]).args(extra);
        cmd.env("SLUICE_REPLAY_PASSWORD", "app");
        cmd
    };
    let refused = run(&[]).output().await.expect("run sluice replay");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.starts_with("sluice replay: refusing to replay") && err.contains("--allow-writes"), "{err}");
    let html = dir.path().join("report.html");
    let html_arg = html.display().to_string();
    let ok = run(&["--read-only", "--json", "--html", &html_arg]).output().await.expect("run sluice replay");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("--json prints one document");
    assert_eq!((doc["replayed"].as_u64(), doc["skipped"].as_u64()), (Some(1), Some(1)), "{doc}");
    let mode = std::fs::metadata(&html).expect("the HTML report").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the report quotes statements: private");
    let help = tokio::process::Command::new(&sluice).args(["replay", "--help"]).output().await.expect("help");
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success() && help_text.contains("Usage: sluice replay"), "{help_text}");
    assert!(help_text.contains("--allow-writes"), "{help_text}");

    // Without sluice-replay beside it or on PATH: one line naming what to install, exit 127.
    let alone = tempfile::tempdir().expect("tmp");
    std::fs::copy(&sluice, alone.path().join("sluice")).expect("copy sluice");
    let missing = tokio::process::Command::new(alone.path().join("sluice"))
        .args(["replay", "x.cap", "--target", "127.0.0.1:1"])
        .env("PATH", alone.path())
        .output()
        .await
        .expect("run the lone sluice");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(127), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("sluice-replay") && err.contains("cargo build --release -p sluice-replay"), "{err}");
}

/// Eight sessions of SELECTs; returns how many each sent.
async fn load(p: &Proxy, schema: &str, sessions: u64, per: u64, pad: usize) -> u64 {
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let mut c = connect(p, "app", "app", schema).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                // Pseudo-random padding: compresses badly, so blocks are big.
                let junk: String = (0..pad)
                    .map(|k| char::from(b'a' + ((k as u64 * 7919 + i * 31 + s) % 26) as u8))
                    .collect();
                let _: Option<i64> =
                    c.query_first(format!("SELECT /*load*/ {i} + {s} /* {junk} */")).await.expect("select");
            }
            c.disconnect().await.ok();
        }));
    }
    for t in tasks {
        t.await.expect("load task");
    }
    sessions * per
}

#[tokio::test]
async fn capture_under_load_loses_nothing_when_the_writer_keeps_up() {
    let (topo, schema) = setup("cap_load").await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("load.cap");
    let p = super::proxy(topo).await;
    let mut a = admin(&p).await;
    a.query_drop(format!("CAPTURE START '{}'", file.display())).await.expect("capture start");
    let sent = load(&p, &schema, 8, 250, 0).await;
    let row = stop(&mut a).await;
    p.shutdown().await;
    let got = statements(&file).iter().filter(|s| s.sql.starts_with(b"SELECT /*load*/")).count() as u64;
    assert_eq!((got, col(&row, "dropped").as_str()), (sent, "0"));
    assert!(col(&row, "written").parse::<u64>().expect("written") >= sent);
}

#[tokio::test]
async fn capture_counts_drops_when_the_writer_falls_behind() {
    let (topo, schema) = setup("cap_drop").await;
    let dir = tempfile::tempdir().expect("tmp");
    // A FIFO nobody reads yet: the writer blocks once the pipe is full, as on a stalled disk.
    let fifo = dir.path().join("slow.cap");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(ok.success());
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&reader_path).expect("open fifo for reading");
        let _ = wait.recv();
        let mut out = Vec::new();
        f.read_to_end(&mut out).expect("read fifo");
        out
    });
    let mut config = topo.sluice_config();
    config.capture.queue_records = 1;
    config.capture.block_bytes = 1024;
    let p = sluice_tests::start_proxy(config).await;
    let mut a = admin(&p).await;
    a.query_drop(format!("CAPTURE START '{}'", fifo.display())).await.expect("capture start");
    let started = Instant::now();
    let sent = load(&p, &schema, 4, 300, 2000).await;
    let took = started.elapsed();
    let during = show_capture(&mut a).await;
    let dropped: u64 = col(&during, "dropped").parse().expect("dropped");
    assert!(dropped > 0, "a stalled writer with a 1-record queue drops: {during:?}");
    // Clients were never held up by the stalled writer.
    assert!(took < Duration::from_secs(60), "load took {took:?}");
    go.send(()).expect("start reading");
    let row = stop(&mut a).await;
    let data = reader.join().expect("reader thread");
    p.shutdown().await;
    let records = decode_file(&data).expect("decode the FIFO's capture");
    let got = records
        .iter()
        .filter(|r| matches!(r, Record::Statement(s) if s.sql.starts_with(b"SELECT /*load*/")))
        .count() as u64;
    let dropped: u64 = col(&row, "dropped").parse().expect("dropped");
    let footer = records
        .iter()
        .find_map(|r| if let Record::Footer { dropped, .. } = r { Some(*dropped) } else { None });
    assert_eq!(footer, Some(dropped), "the footer records the drops");
    // Everything queued reached the file, and every statement was either queued or counted as dropped
    // (the start position record may be a drop too).
    let queued: u64 = col(&row, "queued").parse().expect("queued");
    let in_file = records.iter().filter(|r| matches!(r, Record::Statement(_))).count() as u64;
    assert_eq!(in_file, queued, "every queued statement is in the file");
    assert!(
        got <= queued && got + dropped >= sent,
        "got {got} dropped {dropped} queued {queued} sent {sent}"
    );
}

#[tokio::test]
async fn private_general_log_replays() {
    let topo = Topology::private().await;
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("general.log");
    let src = "glog_src";
    let dst = "glog_dst";
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    root.query_drop(format!("CREATE DATABASE {src}")).await.expect("create db");
    root.query_drop(format!("CREATE DATABASE {dst}")).await.expect("create db");
    root.query_drop(format!("SET GLOBAL general_log_file = '{}'", log.display())).await.expect("log file");
    root.query_drop("SET GLOBAL log_output = 'FILE'").await.expect("log output");
    root.query_drop("SET GLOBAL general_log = 1").await.expect("general log on");
    let mut c = Conn::new(topo.app_opts(&topo.primary).db_name(Some(src))).await.expect("app");
    c.query_drop("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20), n INT)")
        .await
        .expect("create");
    for i in 0..20 {
        c.exec_drop("INSERT INTO t (v, n) VALUES (?, ?)", (format!("row\n{i}"), i)).await.expect("insert");
    }
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("UPDATE t SET n = n * 2 WHERE id % 3 = 0").await.expect("update");
    c.query_drop("DELETE FROM t WHERE id = 7").await.expect("delete");
    c.query_drop("COMMIT").await.expect("commit");
    let _: Vec<Row> = c.query("SELECT * FROM t").await.expect("select");
    c.disconnect().await.ok();
    root.query_drop("SET GLOBAL general_log = 0").await.expect("general log off");
    root.disconnect().await.ok();

    let mut o = options(&topo, log.clone(), &[(src, dst)]);
    o.format = Format::General;
    o.speed = 0.0;
    let s = replay::replay(o).await.expect("replay the general log");
    assert!(s.replayed >= 25, "replayed {}", s.replayed);
    let q = "SELECT id, v, n FROM t ORDER BY id";
    let mut c = Conn::new(topo.app_opts(&topo.primary)).await.expect("app");
    let a: Vec<(i32, String, i32)> = c.query(q.replace(" t ", &format!(" {src}.t "))).await.expect("src");
    let b: Vec<(i32, String, i32)> = c.query(q.replace(" t ", &format!(" {dst}.t "))).await.expect("dst");
    assert_eq!(a.len(), 19);
    assert_eq!(a, b, "the general log's replay left the same table");
}

#[tokio::test]
async fn capture_from_config_masks_literals() {
    let (topo, schema) = setup("cap_mask").await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("masked.cap");
    let mut config = topo.sluice_config();
    config.capture.enabled = true;
    config.capture.file = file.clone();
    config.capture.mask = sluice::config::Mask::Strings;
    let p = sluice_tests::start_proxy(config).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let _: Option<String> = c.query_first("SELECT CONCAT('secret', 'pw', 42)").await.expect("select");
    let _: Option<String> = c.exec_first("SELECT CONCAT(?, ?)", ("hidden", 7)).await.expect("exec");
    // What sluice answers or refuses itself is traffic the application sent too.
    c.query_drop("SHOW LAST ROUTE").await.expect("sluice's own statement");
    c.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES', character_set_client = 'sjis'")
        .await
        .expect_err("refused: a client character set that can hide a quote");
    let mut a = admin(&p).await;
    assert_eq!(col(&show_capture(&mut a).await, "state"), "on", "[capture] enabled starts at startup");
    a.disconnect().await.ok();
    // Shutdown stops the capture and waits for the writer: the file is complete, footer and all.
    p.shutdown().await;
    let records = decode_file(&std::fs::read(&file).expect("read")).expect("decode");
    assert!(matches!(records.last(), Some(Record::Footer { dropped: 0, .. })), "{:?}", records.last());
    let s = statements(&file);
    let text = s.iter().find(|s| s.sql.starts_with(b"SELECT CONCAT('")).expect("the query");
    assert_eq!(String::from_utf8_lossy(&text.sql), "SELECT CONCAT('xxxxxx', 'xx', 42)");
    let exec =
        s.iter().find(|s| s.command == sluice_protocol::capture::Command::Execute).expect("the execute");
    assert_eq!(exec.params.len(), 2);
    assert_eq!(exec.params[0], sluice_protocol::binary::Value::Bytes("xxxxxx".into()));
    assert!(s.iter().any(|s| s.sql == b"SHOW LAST ROUTE" && s.error == 0), "sluice's answer captured");
    let refused = s.iter().find(|s| s.sql.starts_with(b"SET sql_mode")).expect("the refused SET captured");
    assert_eq!(refused.error, 1235, "with the code of sluice's ERR");
    assert!(!std::fs::read(&file).expect("read").windows(6).any(|w| w == b"hidden" || w == b"secret"));
}
