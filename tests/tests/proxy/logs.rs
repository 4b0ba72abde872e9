//! Logs: everything a session logs is inside one `session` span naming the connection id, the
//! client address and the user; statements themselves log nothing at info level.

use std::sync::{Arc, Mutex};

use mysql_async::prelude::*;

use super::{connect, setup};

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_span_per_session_and_no_info_line_per_statement() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("sluice=debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime is single-threaded: sluice's tasks log on this thread, into this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let (topo, schema) = setup("logs").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..30 {
        let _: Option<i32> = c.query_first(format!("SELECT {i}")).await.expect("select");
    }
    for _ in 0..5 {
        c.query_drop("SELECT * FROM no_such_table").await.expect_err("failing statement");
        // Refused by sluice itself (an Err inside the session, not a backend ERR passed through).
        c.query_drop("KILL 999999").await.expect_err("no such connection");
    }
    let id = c.id();
    c.disconnect().await.expect("quit");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let out = String::from_utf8_lossy(&sink.0.lock().expect("sink").clone()).into_owned();
    let span = format!("session{{conn_id={id} client=127.0.0.1:");
    let mine: Vec<&str> = out.lines().filter(|l| l.contains(&span)).collect();
    assert!(
        mine.iter().any(|l| l.contains(" user=app}") && l.contains("session started")),
        "no `session` span with the client and user:\n{out}"
    );
    assert!(
        mine.iter().any(|l| l.contains(" DEBUG ") && l.contains("statement failed")),
        "failures sluice refuses are logged at debug, in the span:\n{out}"
    );
    let info: Vec<&&str> = mine.iter().filter(|l| l.contains(" INFO ") || l.contains(" WARN ")).collect();
    assert!(
        info.is_empty(),
        "40 statements logged at info/warn:\n{}",
        info.iter().map(|l| **l).collect::<Vec<_>>().join("\n")
    );
}
