//! Admin statements for capture: `CAPTURE START 'file' [DURATION n]`, `CAPTURE STOP`, `SHOW CAPTURE`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::admin::Answer;
use crate::admin::parse::CaptureCmd;
use crate::error::Error;
use crate::state::Shared;

fn fail(message: impl Into<String>) -> Error {
    Error::reply((1105, "HY000"), message.into())
}

fn text(s: impl ToString) -> Option<Bytes> {
    Some(Bytes::from(s.to_string()))
}

/// Runs a capture statement (parsed by [`crate::admin::parse`]).
pub async fn run(shared: &Arc<Shared>, cmd: CaptureCmd) -> Result<Answer, Error> {
    match cmd {
        CaptureCmd::Start { file, duration_s } => {
            // Past any clock: clamped (about 100 years), never a panic.
            let duration = duration_s.map(crate::clock::secs_f64);
            crate::capture::start(shared, PathBuf::from(file), duration).await.map_err(fail)?;
            Ok(Answer::Done(1))
        }
        CaptureCmd::Stop => shared
            .capture
            .stop()
            .map(|s| Answer::Done(s.counters.queued.load(Ordering::Relaxed)))
            .map_err(fail),
        CaptureCmd::Show => Ok(show(shared)),
    }
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
