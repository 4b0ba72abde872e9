//! `sluice-replay` (what `sluice replay` runs) on bad input: a clear message and exit 1, never a
//! panic; `--dry-run` reads a log and prints its summary (table or JSON) without connecting anywhere.

use std::process::{Command, Output};

/// Runs `sluice-replay`; `args` start with "replay" as a user types them after `sluice`.
fn sluice(args: &[&str]) -> Output {
    assert_eq!(args.first(), Some(&"replay"));
    Command::new(env!("CARGO_BIN_EXE_sluice-replay")).args(&args[1..]).output().expect("run sluice-replay")
}

fn fails_with(args: &[&str], needle: &str) {
    let out = sluice(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_files_and_flags_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p.display().to_string()
    };
    let junk = path("junk.cap", b"certainly not a capture file");
    let truncated = path("cut.cap", b"SLUICECAP\x01\x10\x00\x00\x00\x08\x00\x00");
    let mut corrupt = b"SLUICECAP\x01".to_vec();
    corrupt.extend_from_slice(&[4, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9]);
    let corrupt = path("bad.cap", &corrupt);
    let t = ["--target", "127.0.0.1:1"];
    fails_with(&["replay", &junk, t[0], t[1]], "not a sluice capture file");
    fails_with(&["replay", &truncated, t[0], t[1]], "truncated at byte 10");
    fails_with(&["replay", &corrupt, t[0], t[1]], "checksum");
    fails_with(&["replay", &junk, t[0], t[1], "--format", "binlog"], "unknown format \"binlog\"");
    fails_with(&["replay", &junk, t[0], t[1], "--format", "general"], "no statements found");
    fails_with(&["replay", &junk, "--target", "localhost"], "is not HOST:PORT");
    fails_with(&["replay", &junk, t[0], t[1], "--concurrency", "0"], "preserve or a number");
    fails_with(&["replay", "/nonexistent/x.cap", t[0], t[1]], "/nonexistent/x.cap");
}

#[test]
fn dry_run_reads_a_slow_log_and_prints_table_or_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("slow.log");
    std::fs::write(
        &log,
        "# User@Host: app[app] @ localhost []\n# Thread_id: 3  Schema: shop  QC_hit: No\n\
         # Query_time: 0.002000  Lock_time: 0  Rows_sent: 1  Rows_examined: 1\nSET timestamp=1700000000;\n\
         SELECT * FROM t WHERE id = 1;\n\
         # User@Host: app[app] @ localhost []\n# Thread_id: 3  Schema: shop  QC_hit: No\n\
         # Query_time: 0.001000  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSET timestamp=1700000001;\n\
         UPDATE t SET v = 2 WHERE id = 1;\n",
    )
    .expect("write");
    let log = log.display().to_string();
    // Writes are refused before anything connects (port 1: nothing listens there).
    let out = sluice(&["replay", &log, "--format", "slow", "--target", "127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to replay: the workload has 1 writes"), "{err}");
    let out = sluice(&["replay", &log, "--format", "slow", "--target", "127.0.0.1:1", "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("replay of a slow (1 sessions, 2 statements) against dry-run"), "{text}");
    let out = sluice(&["replay", &log, "--format", "slow", "--target", "127.0.0.1:1", "--dry-run", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["statements"], 2);
    assert_eq!(doc["format"], "slow");
    let html = dir.path().join("report.html");
    let h = html.display().to_string();
    let out =
        sluice(&["replay", &log, "--format", "slow", "--target", "127.0.0.1:1", "--dry-run", "--html", &h]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.starts_with("<!doctype html>") && page.contains("<svg"), "{page}");
}
