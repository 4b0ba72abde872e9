//! Real drivers with their own defaults through sluice, compared with the same sequences on direct
//! connections: the reported lost-writes sequence, then seeded sessions one after another. Each runs
//! against a default-config sluice and one with `pool.max_per_backend = 2`.
//!
//! - Python (`tests/python/differential_drivers.py`): PyMySQL, mysql-connector-python (both
//!   autocommit=False). Knobs: `SEED`, `PY_SESSIONS` (12), `PY_STEPS` (40), `DRIVERS`, `BYPASS=1`.
//! - JDBC (`tests/java/DifferentialDrivers.java`): MariaDB Connector/J (Debian `libmariadb-java`),
//!   its defaults and `useServerPrepStmts=true`; the catalogue's scripted sessions, seeded sessions one
//!   after another and a few at once. Knobs: `SEED`, `JDBC_SESSIONS` (6), `JDBC_STEPS` (40),
//!   `JDBC_CONCURRENT` (3), `JDBC_VARIANTS` (`text,serverprep`), `BYPASS=1`.
//! - Node (`tests/node/differential_drivers.js`, `npm ci` in tests/node): mysql2 and the mariadb
//!   connector, query() and execute() each. Knobs: `SEED`, `NODE_SESSIONS` (4), `NODE_STEPS` (40),
//!   `NODE_CONCURRENT` (3), `NODE_VARIANTS` (`mysql2,mysql2-execute,mariadb,mariadb-execute`), `BYPASS=1`.
//!
//! JDBC and Node share the step catalogue `tests/drivers/catalogue.tsv` (a port of the Python one).

use std::path::Path;
use std::time::Instant;

use super::env_u64;

#[tokio::test]
async fn differential_python_drivers_match_direct_connections() {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema("diffpy").await;
    let default = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut small = topo.sluice_config();
    small.pool.max_per_backend = 2;
    let small = sluice_tests::start_proxy(small).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/differential_drivers.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .env("MODE", "differential")
        .env(
            "SLUICE_PORTS",
            // BYPASS=1: the "sluice" twins connect directly too (must pass: the check of the check).
            if env_u64("BYPASS", 0) == 1 {
                topo.primary.addr.port().to_string()
            } else {
                format!("{},{}", default.addr().port(), small.addr().port())
            },
        )
        .env("DIRECT_PORT", topo.primary.addr.port().to_string())
        .env("SCHEMA", &schema)
        .env("SEED", env_u64("SEED", 0x5eed).to_string())
        .env("SESSIONS", env_u64("PY_SESSIONS", 12).to_string())
        .env("STEPS", env_u64("PY_STEPS", 40).to_string())
        .env("DRIVERS", std::env::var("DRIVERS").unwrap_or_else(|_| "pymysql,connector".into()))
        .env("FLAVOR", topo.flavor.name())
        .output()
        .await
        .expect("python3 runs (scripts/test.sh installs PyMySQL and mysql-connector-python)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(out.status.success(), "Python drivers diverged through sluice:\n{stderr}");
    default.shutdown().await;
    small.shutdown().await;
}

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `program args` with the topology's and both proxies' ports in its environment and fails the
/// test with its stderr unless it exits 0 (`what`: the drivers, for the messages).
#[allow(
    clippy::print_stdout,
    reason = "the drivers' report (coverage, timings) in the test's output, like the tests' own"
)]
async fn run_driver_program(
    what: &str,
    program: &str,
    args: &[&str],
    prefix: &str,
    knobs: &[(&str, String)],
) {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema(prefix).await;
    let default = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut small = topo.sluice_config();
    small.pool.max_per_backend = 2;
    let small = sluice_tests::start_proxy(small).await;
    // BYPASS=1: the "sluice" twins connect directly too (must pass: the check of the check).
    let ports = if env_u64("BYPASS", 0) == 1 {
        topo.primary.addr.port().to_string()
    } else {
        format!("{},{}", default.addr().port(), small.addr().port())
    };
    let replicas = topo.replicas.iter().map(|r| r.addr.port().to_string()).collect::<Vec<_>>().join(",");
    // The catalogue in MySQL's words on MySQL (see `mysql_words`).
    let catalogue_dir = tempfile::tempdir().expect("temp dir");
    let catalogue = catalogue_dir.path().join("catalogue.tsv");
    let text = std::fs::read_to_string(format!("{MANIFEST}/drivers/catalogue.tsv")).expect("catalogue");
    let text = if topo.flavor == sluice_tests::Flavor::MySql { super::mysql_words(&text) } else { text };
    std::fs::write(&catalogue, text).expect("catalogue copy");
    let started = Instant::now();
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("SLUICE_PORTS", ports)
        .env("DIRECT_PORT", topo.primary.addr.port().to_string())
        .env("REPLICA_PORTS", replicas)
        .env("SCHEMA", &schema)
        .env("SEED", env_u64("SEED", 0x5eed).to_string())
        .env("CATALOGUE", &catalogue)
        .envs(knobs.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: running {program}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{what}: {:.1} s\n{stderr}", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{what} diverged through sluice:\n{stderr}");
    default.shutdown().await;
    small.shutdown().await;
}

/// Fails the test naming how to install `tool` when it is not on PATH.
fn require_tool(tool: &str, install: &str) {
    let found = std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "`{tool}` is missing: {install} (scripts/test.sh does this)");
}

#[tokio::test]
async fn differential_jdbc_matches_direct_connections() {
    const INSTALL: &str = "apt-get install libmariadb-java openjdk-17-jdk-headless";
    require_tool("javac", INSTALL);
    require_tool("java", INSTALL);
    let jar = std::env::var("MARIADB_JAVA_CLIENT_JAR")
        .unwrap_or_else(|_| "/usr/share/java/mariadb-java-client.jar".into());
    assert!(
        Path::new(&jar).is_file(),
        "MariaDB Connector/J ({jar}) is missing: {INSTALL} (scripts/test.sh does this)"
    );
    let classes = tempfile::tempdir().expect("temp dir");
    let classes_dir = classes.path().to_str().expect("utf-8 temp path");
    let javac = tokio::process::Command::new("javac")
        .args(["-d", classes_dir, "-cp", &jar, &format!("{MANIFEST}/java/DifferentialDrivers.java")])
        .output()
        .await
        .expect("javac runs");
    assert!(javac.status.success(), "javac failed:\n{}", String::from_utf8_lossy(&javac.stderr));
    let cp = format!("{classes_dir}:{jar}");
    let knobs = [
        ("SESSIONS", env_u64("JDBC_SESSIONS", 6).to_string()),
        ("STEPS", env_u64("JDBC_STEPS", 40).to_string()),
        ("CONCURRENT", env_u64("JDBC_CONCURRENT", 3).to_string()),
        ("VARIANTS", std::env::var("JDBC_VARIANTS").unwrap_or_else(|_| "text,serverprep".into())),
    ];
    // Java's start-up is most of a short run's time on a loaded machine: one JVM, no JIT tiers beyond C1.
    let args = ["-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", &cp, "DifferentialDrivers"];
    run_driver_program("JDBC (MariaDB Connector/J)", "java", &args, "diffjdbc", &knobs).await;
}

#[tokio::test]
async fn differential_node_matches_direct_connections() {
    require_tool("node", "apt-get install nodejs npm");
    let modules = format!("{MANIFEST}/node/node_modules");
    for m in ["mysql2", "mariadb"] {
        assert!(
            Path::new(&format!("{modules}/{m}/package.json")).is_file(),
            "the Node driver {m} is missing: run `npm ci` in tests/node (scripts/test.sh does this)"
        );
    }
    let knobs = [
        ("SESSIONS", env_u64("NODE_SESSIONS", 4).to_string()),
        ("STEPS", env_u64("NODE_STEPS", 40).to_string()),
        ("CONCURRENT", env_u64("NODE_CONCURRENT", 3).to_string()),
        (
            "VARIANTS",
            std::env::var("NODE_VARIANTS")
                .unwrap_or_else(|_| "mysql2,mysql2-execute,mariadb,mariadb-execute".into()),
        ),
    ];
    let script = format!("{MANIFEST}/node/differential_drivers.js");
    run_driver_program("Node (mysql2, mariadb)", "node", &[&script], "diffnode", &knobs).await;
}
