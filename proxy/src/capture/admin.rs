//! Admin statements for capture: `CAPTURE START 'file' [DURATION n]`, `CAPTURE STOP`, `SHOW CAPTURE`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::admin::Answer;
use crate::error::Error;
use crate::state::Shared;

fn fail(message: impl Into<String>) -> Error {
    Error::reply((1105, "HY000"), message.into())
}

fn text(s: impl ToString) -> Option<Bytes> {
    Some(Bytes::from(s.to_string()))
}

/// Answers a capture statement; `None` when `sql` is not one.
pub async fn statement(shared: &Arc<Shared>, sql: &str) -> Option<Result<Answer, Error>> {
    let trimmed = sql.trim().trim_end_matches(';').trim();
    let lower = trimmed.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    match words.as_slice() {
        ["capture", "start", ..] => Some(start(shared, trimmed).await),
        ["capture", "stop"] => Some(
            shared
                .capture
                .stop()
                .map(|s| Answer::Done(s.counters.queued.load(Ordering::Relaxed)))
                .map_err(fail),
        ),
        ["show", "capture"] => Some(Ok(show(shared))),
        ["capture", ..] => Some(Err(usage(trimmed))),
        _ => None,
    }
}

fn usage(sql: &str) -> Error {
    Error::reply(
        sluice_protocol::constants::errors::PARSE,
        format!(
            "sluice admin does not understand {sql:?}; capture statements are CAPTURE START '/path/file' [DURATION seconds], CAPTURE STOP, SHOW CAPTURE"
        ),
    )
}

/// `CAPTURE START 'file' [DURATION n]`: the file as written (quotes optional), the duration in seconds.
async fn start(shared: &Arc<Shared>, sql: &str) -> Result<Answer, Error> {
    let rest = sql.get("capture start".len()..).unwrap_or_default().trim();
    let (file, after) = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let end = rest[1..].find(q).ok_or_else(|| usage(sql))?;
            (&rest[1..=end], rest[end + 2..].trim())
        }
        _ => rest.split_once(char::is_whitespace).map_or((rest, ""), |(f, a)| (f, a.trim())),
    };
    if file.is_empty() {
        return Err(usage(sql));
    }
    let duration = match after.split_whitespace().collect::<Vec<_>>().as_slice() {
        [] => None,
        [kw, n] if kw.eq_ignore_ascii_case("duration") => {
            let secs: f64 =
                n.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).ok_or_else(|| usage(sql))?;
            Some(crate::clock::secs_f64(secs))
        }
        _ => return Err(usage(sql)),
    };
    crate::capture::start(shared, PathBuf::from(file), duration).await.map_err(fail)?;
    Ok(Answer::Done(1))
}

/// `SHOW CAPTURE`: the running or last capture.
fn show(shared: &Shared) -> Answer {
    let columns = vec![
        "state",
        "file",
        "started_unix_ms",
        "start_gtid",
        "duration_s",
        "queued",
        "written",
        "dropped",
        "bytes",
    ];
    let Some((s, running)) = shared.capture.status() else {
        let mut row = vec![text("off")];
        row.resize(columns.len(), None);
        return Answer::Rows(columns, vec![row]);
    };
    let c = &s.counters;
    let gtid = s.start_gtid.lock().map(|g| g.clone()).unwrap_or_default();
    let row = vec![
        text(s.state(running)),
        text(s.file.display()),
        text(s.started_unix_ms),
        text(gtid),
        s.duration.map(|d| Bytes::from(d.as_secs_f64().to_string())),
        text(c.queued.load(Ordering::Relaxed)),
        text(c.written.load(Ordering::Relaxed)),
        text(c.dropped.load(Ordering::Relaxed)),
        text(c.bytes.load(Ordering::Relaxed)),
    ];
    Answer::Rows(columns, vec![row])
}
