//! Observability end to end: the slow log read by pt-query-digest, advice (N+1, INSERT loops, missing
//! indexes) over admin and HTTP, EXPLAIN DIGEST on a replica, SHOW CONFIG without secrets, the
//! Prometheus rules against /metrics, and the status page rendered by headless Chromium.

use std::time::Duration;

use mysql_async::Row;
use mysql_async::prelude::*;

use super::ops::{col, http_get};
use super::{admin, connect, setup};

/// Whether `tool` runs (scripts/test.sh installs it; a machine without apt is the only excuse).
pub(crate) fn have(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: {tool} is not installed (scripts/test.sh installs it with apt-get)");
    }
    ok
}

#[tokio::test]
async fn slow_log_is_read_by_pt_query_digest() {
    let (topo, schema) = setup("slowlog").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("slow.log");
    let mut cfg = topo.sluice_config();
    cfg.log.slow_log = Some(path.clone());
    cfg.log.slow_query_ms = 20;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for _ in 0..4 {
        c.query_drop("SELECT SLEEP(0.06), 'top'").await.expect("slow select");
    }
    for _ in 0..2 {
        c.query_drop("SELECT SLEEP(0.03), 'second'").await.expect("slower select");
    }
    for i in 0..20 {
        c.query_drop(format!("SELECT {i}")).await.expect("fast select");
    }
    // The writer thread is asynchronous: wait for the six entries.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let t = std::fs::read_to_string(&path).unwrap_or_default();
        if t.matches("# Time: ").count() >= 6 {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "slow log incomplete:\n{t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(text.matches("# Time: ").count(), 6, "fast statements in the slow log:\n{text}");
    assert!(text.contains("# User@Host: app[app] @ localhost [127.0.0.1]"), "{text}");
    assert!(text.contains("SET timestamp="), "{text}");
    assert!(text.contains(&format!("use {schema};")), "{text}");
    assert!(text.contains("SELECT SLEEP(0.06), 'top';\n"), "{text}");
    let slow = &p.shared().expect("in-process").slow_log;
    assert_eq!((slow.queued(), slow.dropped()), (6, 0));

    // sluice's own top digest by total time …
    let mut a = admin(&p).await;
    let top: Vec<Row> = a.query("SHOW DIGESTS ORDER BY total LIMIT 1").await.expect("digests");
    assert_eq!(col(&top[0], "digest_text"), "select sleep (?), ?");
    assert_eq!(col(&top[0], "count"), "6");
    if !have("pt-query-digest") {
        return;
    }
    // … is pt-query-digest's top query too (its fingerprint folds literals the same way).
    let out = std::process::Command::new("pt-query-digest")
        .args(["--output", "json", "--no-version-check"])
        .arg(&path)
        .output()
        .expect("run pt-query-digest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pt-query-digest failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("pt-query-digest JSON");
    let classes = report["classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 1, "one shape in the slow log: {stdout}");
    let first = &classes[0];
    assert_eq!(first["fingerprint"], "select sleep(?), ?", "{stdout}");
    assert_eq!(first["query_count"], 6, "{stdout}");
    let example = first["example"]["query"].as_str().unwrap_or_default();
    assert!(example.starts_with("SELECT SLEEP(0.06)"), "slowest sample: {example}");
    let total: f64 =
        first["metrics"]["Query_time"]["sum"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    assert!((0.29..2.0).contains(&total), "Query_time sum {total}");
}

#[tokio::test]
async fn advice_finds_n_plus_one_and_insert_loops_not_in_lists() {
    let (topo, schema) = setup("advice").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await.expect("create");
    c.query_drop("CREATE TABLE log (id INT PRIMARY KEY AUTO_INCREMENT, v INT)").await.expect("create");
    let values: Vec<String> = (1..=30).map(|i| format!("({i}, 'v{i}')")).collect();
    c.query_drop(format!("INSERT INTO t VALUES {}", values.join(","))).await.expect("fill");
    topo.wait_replicas_caught_up().await;
    // The N+1: one point select per id, in a loop.
    for i in 1..=15 {
        let _: Option<String> =
            c.query_first(format!("SELECT v FROM t WHERE id = {i}")).await.expect("point");
    }
    // One-row INSERTs in a loop.
    for i in 0..12 {
        c.query_drop(format!("INSERT INTO log (v) VALUES ({i})")).await.expect("insert");
    }
    // What it should have been, in another session: a single IN query.
    let mut other = connect(&p, "app", "app", &schema).await;
    let ids: Vec<String> = (1..=15).map(|i| i.to_string()).collect();
    let rows: Vec<String> =
        other.query(format!("SELECT v FROM t WHERE id IN ({})", ids.join(","))).await.expect("in list");
    assert_eq!(rows.len(), 15);
    // A full scan (no index on v), and a function around a column.
    let _: Vec<String> = other.query("SELECT v FROM t WHERE v = 'v3'").await.expect("scan");
    let _: Vec<i32> = other.query("SELECT id FROM t WHERE UPPER(v) = 'V3'").await.expect("function");

    let mut a = admin(&p).await;
    let advice: Vec<Row> = a.query("SHOW ADVICE").await.expect("show advice");
    let kinds: Vec<(String, String)> =
        advice.iter().map(|r| (col(r, "kind"), col(r, "digest_text"))).collect();
    let n1: Vec<&Row> = advice.iter().filter(|r| col(r, "kind") == "n_plus_one").collect();
    assert_eq!(n1.len(), 1, "{kinds:?}");
    let n1 = n1[0];
    assert_eq!(col(n1, "digest_text"), "select v from t where id = ?");
    assert_eq!(col(n1, "session"), c.id().to_string(), "the looping session is named");
    assert_eq!(col(n1, "user"), "app");
    assert_eq!(col(n1, "schema"), schema);
    let count: u64 = col(n1, "count").parse().expect("count");
    assert!((10..=15).contains(&count), "{count}");
    assert!(
        col(n1, "suggestion").contains("select v from t where id in (?, ?, …)"),
        "{}",
        col(n1, "suggestion")
    );
    assert!(col(n1, "evidence").contains(&format!("session {}", c.id())), "{}", col(n1, "evidence"));
    assert!(
        !advice.iter().any(|r| col(r, "kind") == "n_plus_one" && col(r, "digest_text").contains(" in ")),
        "the IN query is not an N+1: {kinds:?}"
    );
    let ins = advice.iter().find(|r| col(r, "kind") == "single_row_insert").expect("insert loop advice");
    assert_eq!(col(ins, "digest_text"), "insert into log (v) values (...)");
    assert!(col(ins, "suggestion").contains("multi-row INSERT"));
    let f = advice.iter().find(|r| col(r, "kind") == "function_on_column").expect("function lint");
    assert_eq!(col(f, "digest_text"), "select id from t where upper (v) = ?");
    assert!(col(f, "evidence").contains("upper (v)"), "{}", col(f, "evidence"));
    let scan = advice
        .iter()
        .find(|r| col(r, "kind") == "no_index" && col(r, "digest_text") == "select v from t where v = ?")
        .unwrap_or_else(|| panic!("no no-index advice for the full scan: {kinds:?}"));
    assert!(col(scan, "suggestion").contains("EXPLAIN DIGEST"), "{}", col(scan, "suggestion"));

    // The same over HTTP, as JSON.
    let (code, body) = http_get(p.http_addr().expect("http"), "/advice").await;
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_str(&body).expect("advice JSON");
    let list = json.as_array().expect("array");
    let n1 = list.iter().find(|f| f["kind"] == "n_plus_one").expect("n_plus_one over HTTP");
    assert_eq!(n1["session"], u64::from(c.id()));
    assert!(n1["evidence"].as_str().is_some_and(|e| e.contains("statements of this shape")));
}

#[tokio::test]
async fn explain_digest_runs_on_a_replica_and_flags_full_scans() {
    let (topo, schema) = setup("explain").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE e (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO e VALUES (1, 5), (2, 4), (3, 3), (4, 2), (5, 1)").await.expect("fill");
    topo.wait_replicas_caught_up().await;
    let _: Vec<i32> = c.query("SELECT id FROM e WHERE v > 1 ORDER BY v").await.expect("scan");
    let _: Option<i32> = c.query_first("SELECT v FROM e WHERE id = 3").await.expect("point");
    let mut a = admin(&p).await;
    let digests: Vec<Row> = a.query("SHOW DIGESTS").await.expect("digests");
    let id_of = |text: &str| {
        digests.iter().find(|r| col(r, "digest_text") == text).map(|r| col(r, "digest")).expect("digest")
    };
    let scan = id_of("select id from e where v > ? order by v");
    let plan: Vec<Row> = a.query(format!("EXPLAIN DIGEST {scan}")).await.expect("explain scan");
    assert_eq!(plan.len(), 1);
    assert_eq!(col(&plan[0], "type"), "ALL");
    let warning = col(&plan[0], "warning");
    assert!(warning.contains("full table scan") && warning.contains("filesort"), "{warning}");
    assert!(col(&plan[0], "ran_on").contains("replica"), "{}", col(&plan[0], "ran_on"));
    assert_eq!(col(&plan[0], "statement"), "SELECT id FROM e WHERE v > 1 ORDER BY v");
    let point = id_of("select v from e where id = ?");
    let plan: Vec<Row> = a.query(format!("EXPLAIN DIGEST '{point}'")).await.expect("explain point");
    assert_eq!(col(&plan[0], "type"), "const");
    assert_eq!(col(&plan[0], "warning"), "");
    let e = a.query_drop("EXPLAIN DIGEST xyz").await.expect_err("bad id");
    assert!(e.to_string().contains("1064") && e.to_string().contains("16 hex digits"), "{e}");
    let e = a.query_drop("EXPLAIN DIGEST 00000000000000aa").await.expect_err("unknown id");
    assert!(e.to_string().contains("1105") && e.to_string().contains("SHOW DIGESTS"), "{e}");
}

#[tokio::test]
async fn show_config_shows_the_running_config_without_secrets() {
    let (topo, _schema) = setup("showcfg").await;
    let cfg = topo.sluice_config();
    let hash = cfg.users[0].mysql_native_password.clone().expect("hash");
    let p = sluice_tests::start_proxy(cfg).await;
    let mut a = admin(&p).await;
    let rows: Vec<Row> = a.query("SHOW CONFIG").await.expect("show config");
    let get = |k: &str| rows.iter().find(|r| col(r, "key") == k).map(|r| col(r, "value"));
    assert_eq!(get("groups[0].members[1].address"), Some(topo.replicas[0].addr.to_string()));
    assert_eq!(get("users[0].name").as_deref(), Some("app"));
    assert_eq!(get("users[0].mysql_native_password").as_deref(), Some("<hidden>"));
    assert_eq!(get("admin.users[0].caching_sha2_password").as_deref(), Some("<hidden>"));
    assert_eq!(get("log.slow_query_ms").as_deref(), Some("1000"));
    assert!(get("backend.credentials.password_file").is_some(), "where the password comes from is shown");
    let hash_hex = hash.trim_start_matches('*').to_ascii_lowercase();
    assert!(
        rows.iter().all(|r| !col(r, "value").to_ascii_lowercase().contains(&hash_hex)),
        "a password hash is visible in SHOW CONFIG"
    );
}

/// Series names (`sluice_…`) in `text`, each once, in order of appearance; `#` comment lines are skipped.
pub(crate) fn series_named_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("sluice_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // Alert names (SluiceBackendDown) are not series; series are lower-case.
            if !out.contains(&name) {
                out.push(name.clone());
            }
            rest = &rest[at + name.len()..];
        }
    }
    out
}

/// The series names of /metrics' sample lines (a name once per sample).
pub(crate) fn exported_series(metrics: &str) -> Vec<&str> {
    metrics.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect()
}

/// Series named in deploy/prometheus/alerts.yml.
fn alert_series() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus/alerts.yml");
    series_named_in(&std::fs::read_to_string(path).expect("alerts.yml"))
}

#[tokio::test]
async fn alert_rules_check_and_name_only_series_sluice_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus/alerts.yml");
    if have("promtool") {
        let out =
            std::process::Command::new("promtool").args(["check", "rules", path]).output().expect("promtool");
        assert!(
            out.status.success(),
            "promtool check rules failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (topo, schema) = setup("alerts").await;
    // The cache on, so its series (hit rate, L2 up) are exported too.
    let mut cfg = topo.sluice_config();
    cfg.cache.enabled = true;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for _ in 0..3 {
        let _: Option<i32> = c.query_first("SELECT 1").await.expect("select");
    }
    let (code, metrics) = http_get(p.http_addr().expect("http"), "/metrics").await;
    assert_eq!(code, 200);
    let exported = exported_series(&metrics);
    let series = alert_series();
    assert!(series.len() >= 10, "{series:?}");
    for s in &series {
        assert!(
            exported.contains(&s.as_str()),
            "alerts.yml names {s}, which /metrics does not export:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn status_page_renders_real_backends_in_headless_chromium() {
    let (topo, schema) = setup("statuspage").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..5 {
        let _: Option<i32> = c.query_first(format!("SELECT {i}")).await.expect("select");
    }
    let http = p.http_addr().expect("http");
    let (code, page) = http_get(http, "/").await;
    assert_eq!(code, 200);
    assert!(page.contains("<canvas") || page.contains("<svg"), "a chart element");
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "no external assets");
    if !have("chromium") {
        return;
    }
    let url = format!("http://{http}/");
    let shot = sluice_tests::procs::target_dir().join("status-page.png");
    let run = |extra: Vec<String>| {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cmd = tokio::process::Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .kill_on_drop(true);
        async move {
            let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
                .await
                .expect("chromium finished within 60 s")
                .expect("run chromium");
            drop(profile);
            out
        }
    };
    let out = run(vec!["--dump-dom".into()]).await;
    let dom = String::from_utf8_lossy(&out.stdout);
    for m in [&topo.primary, &topo.replicas[0], &topo.replicas[1]] {
        let needle = format!("data-address=\"{}\"", m.addr);
        assert!(dom.contains(&needle), "no backend row for {}: {dom}", m.addr);
    }
    assert_eq!(dom.matches("class=\"backend\"").count(), 3, "{dom}");
    assert!(dom.contains("data-role=\"primary\"") && dom.contains("data-state=\"online\""), "{dom}");
    assert!(dom.contains("class=\"digest\""), "no digest rows: {dom}");
    assert!(dom.contains("class=\"latency-bar\""), "no latency chart: {dom}");
    let out = run(vec![format!("--screenshot={}", shot.display())]).await;
    assert!(out.status.success(), "screenshot: {}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "screenshot at {}", shot.display());
}

#[tokio::test]
async fn advice_flags_a_digest_whose_p99_rises() {
    let (topo, schema) = setup("p99").await;
    let mut cfg = topo.sluice_config();
    // Intervals are driven by hand below (the ticker would run once an hour).
    cfg.advice.p99_interval_ms = 3_600_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let shared = p.shared().expect("in-process").clone();
    let mut c = connect(&p, "app", "app", &schema).await;
    let tick = || shared.advice.tick(&shared.digests.snapshot());
    // 200 statements per interval: its p99 is then not one statement's hiccup on a loaded machine
    // (with 25, one stall of a millisecond looked like a rise).
    let mut run = async |sleep: &str| {
        for i in 0..200 {
            let _: Option<(i32, i32)> =
                c.query_first(format!("SELECT {i}, SLEEP({sleep})")).await.expect("select");
        }
    };
    tick();
    run("0").await;
    tick();
    run("0").await;
    tick();
    let mut a = admin(&p).await;
    let rows: Vec<Row> = a.query("SHOW ADVICE").await.expect("advice");
    assert!(rows.iter().all(|r| col(r, "kind") != "rising_p99"), "steady latency is not rising");
    run("0.004").await;
    tick();
    let rows: Vec<Row> = a.query("SHOW ADVICE").await.expect("advice");
    let r = rows.iter().find(|r| col(r, "kind") == "rising_p99").expect("rising p99 advice");
    assert_eq!(col(r, "digest_text"), "select ?, sleep (?)");
    assert_eq!(col(r, "count"), "200");
    assert!(col(r, "evidence").contains("was"), "{}", col(r, "evidence"));
}

/// The record phase runs for every statement: sluice's own answers and refusals are digests too, once
/// each, with their errors; a forwarded statement still counts where it ran.
#[tokio::test]
async fn every_statement_is_recorded_once_whatever_its_path() {
    let (topo, schema) = setup("recorded").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let _: Vec<Row> = c.query("SHOW LAST ROUTE").await.expect("sluice answers");
    let e = c.query_drop("SET NAMES big5").await.expect_err("refused by sluice");
    assert!(e.to_string().contains("big5"), "{e}");
    let _: Option<i64> = c.query_first("SELECT 41 + 1").await.expect("forwarded");
    let mut a = admin(&p).await;
    let digests: Vec<Row> = a.query("SHOW DIGESTS").await.expect("digests");
    let row = |prefix: &str| {
        let found: Vec<&Row> = digests.iter().filter(|r| col(r, "digest_text").starts_with(prefix)).collect();
        assert_eq!(found.len(), 1, "one digest for {prefix:?}");
        (
            col(found[0], "count"),
            col(found[0], "errors"),
            col(found[0], "on_primary"),
            col(found[0], "on_replica"),
        )
    };
    assert_eq!(row("show last route"), ("1".into(), "0".into(), "0".into(), "0".into()));
    assert_eq!(row("set names"), ("1".into(), "1".into(), "0".into(), "0".into()));
    let (count, errors, primary, replica) = row("select ? + ?");
    assert_eq!((count.as_str(), errors.as_str()), ("1", "0"));
    assert_eq!(primary.parse::<u64>().unwrap_or(0) + replica.parse::<u64>().unwrap_or(0), 1);
}
