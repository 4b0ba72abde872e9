//! The packaging in deploy/ against the real thing: every example config is one sluice accepts, the
//! Grafana dashboard is valid JSON whose panels all have the `${DS_PROMETHEUS}` datasource and a query,
//! its queries are PromQL promtool accepts, and every series they name is one sluice's /metrics
//! exports. (scripts/lint-deploy.sh lints the rest.)

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use serde_json::Value;

use super::observability::{exported_series, have, series_named_in};
use super::ops::http_get;
use super::{connect, setup};

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/sluice-dashboard.json");
const DATASOURCE: &str = "${DS_PROMETHEUS}";

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).expect("deploy/grafana/sluice-dashboard.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, rows' nested panels included (a collapsed row keeps its panels inside it).
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Every PromQL expression: the panels' targets and the template variables' queries.
fn expressions(dash: &Value) -> Vec<String> {
    let mut out: Vec<String> = panels(dash)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let q = &v["query"];
        if let Some(q) = q["query"].as_str().or(q.as_str()) {
            out.push(q.to_owned());
        }
    }
    out
}

/// Every `.toml` under `dir` (recursively), skipping `deploy/local/data` (the local topology's files).
fn tomls(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read deploy/").flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("local/data") {
            tomls(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// What `sluice check-config` does, without the binary and the SLUICE_* environment.
#[test]
fn every_config_in_deploy_passes_check_config() {
    let mut files = Vec::new();
    tomls(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy")), &mut files);
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read config");
        let cfg = sluice::config::Config::parse(&text, &f.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(issues) = cfg.validate() {
            panic!("{}: {issues:?}", f.display());
        }
    }
}

#[test]
fn dashboard_panels_have_the_datasource_input_and_a_query() {
    let dash = dashboard();
    let inputs = dash["__inputs"].as_array().expect("__inputs (an exported dashboard)");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input: {inputs:?}"
    );
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()), "the dashboard needs a stable uid");
    let all = panels(&dash);
    let shown: Vec<&&Value> = all.iter().filter(|p| p["type"] != "row").collect();
    assert!(shown.len() >= 15, "only {} panels", shown.len());
    let mut ids = Vec::new();
    for p in &shown {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {p}");
        assert_eq!(p["datasource"]["uid"], DATASOURCE, "panel {title:?}: datasource");
        assert_eq!(p["datasource"]["type"], "prometheus", "panel {title:?}: datasource type");
        assert!(p["gridPos"]["w"].as_u64().is_some_and(|w| w > 0 && w <= 24), "panel {title:?}: gridPos");
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(expr.contains("sluice_"), "panel {title:?}: target without a sluice series: {t}");
            assert_eq!(t["datasource"]["uid"], DATASOURCE, "panel {title:?}: target datasource");
        }
        ids.push(p["id"].as_u64().expect("panel id"));
    }
    for p in all.iter().filter(|p| p["type"] == "row") {
        ids.push(p["id"].as_u64().expect("row id"));
    }
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "panel ids are not unique");
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            assert_eq!(v["datasource"]["uid"], DATASOURCE, "variable {}: datasource", v["name"]);
        }
    }
}

#[test]
fn dashboard_queries_are_promql_that_promtool_accepts() {
    if !have("promtool") {
        return;
    }
    // Each expression as a recording rule, Grafana's variables replaced by what they expand to.
    let dash = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in expressions(&dash).iter().enumerate() {
        let e = e.replace("$__rate_interval", "5m").replace("$instance", ".*");
        let e = if e.starts_with("label_values(") {
            // A Grafana function, not PromQL: check the series selector inside it.
            e.trim_start_matches("label_values(").split(',').next().unwrap_or_default().to_owned()
        } else {
            e
        };
        let quoted = serde_json::to_string(&e).expect("a JSON string is a YAML string");
        rules.push_str(&format!("      - record: dashboard:expr{i}\n        expr: {quoted}\n"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, &rules).expect("write rules");
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool rejects a dashboard query:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn dashboard_names_only_series_sluice_exports() {
    let dash = dashboard();
    let named = series_named_in(&expressions(&dash).join("\n"));
    assert!(named.len() >= 20, "{named:?}");

    let (topo, schema) = setup("dashboard").await;
    // The cache on (its series are exported only then), every cacheable SELECT cached.
    let mut cfg = topo.sluice_config();
    cfg.cache.enabled = true;
    cfg.cache.cache_all = true;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE d (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO d VALUES (1, 1), (2, 2)").await.expect("insert");
    topo.wait_replicas_caught_up().await;
    for _ in 0..3 {
        // A miss, then hits; reads on replicas, so their pools exist.
        let _: Vec<(i32, i32)> = c.query("SELECT id, v FROM d ORDER BY id").await.expect("select");
    }
    // A transaction (a pin on the primary), a write (an invalidation), an error.
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("UPDATE d SET v = 3 WHERE id = 1").await.expect("update");
    c.query_drop("COMMIT").await.expect("commit");
    c.query_drop("SELECT * FROM no_such_table").await.expect_err("an error");

    // Lag is exported once the monitor has measured the replicas: wait for everything a while.
    let http = p.http_addr().expect("http");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, metrics) = http_get(http, "/metrics").await;
        assert_eq!(code, 200);
        let exported = exported_series(&metrics);
        let missing: Vec<&String> = named.iter().filter(|s| !exported.contains(&s.as_str())).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard names {missing:?}, which /metrics does not export:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
