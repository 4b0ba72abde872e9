//! Python drivers with their own defaults (PyMySQL, mysql-connector-python: both autocommit=False)
//! through sluice, compared with the same sequences on direct connections: the reported lost-writes
//! sequence, then seeded sessions one after another (`tests/python/differential_drivers.py`). Runs
//! against a default-config sluice and one with `pool.max_per_backend = 2`.
//!
//! Knobs (env): `SEED`, `PY_SESSIONS` (12), `PY_STEPS` (40), `DRIVERS` (`pymysql,connector`), `BYPASS=1`.

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
        .output()
        .await
        .expect("python3 runs (scripts/test.sh installs PyMySQL and mysql-connector-python)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(out.status.success(), "Python drivers diverged through sluice:\n{stderr}");
    default.shutdown().await;
    small.shutdown().await;
}
