//! Admin statements for capture: `CAPTURE START 'file' [DURATION n]`, `CAPTURE STOP`, `SHOW CAPTURE`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Answer, text};
use crate::core::error::Error;
use crate::frontend::state::Shared;

fn fail(e: crate::features::capture::CaptureError) -> Error {
    Error::reply((1105, "HY000"), e.to_string())
}

/// `CAPTURE START 'file' [DURATION n]`.
pub(super) async fn start(
    shared: &Arc<Shared>,
    file: String,
    duration_s: Option<f64>,
) -> Result<Answer, Error> {
    // Past any clock: clamped (about 100 years), never a panic.
    let duration = duration_s.map(crate::core::clock::secs_f64);
    let gtid = shared.primary_gtid();
    crate::features::capture::start(&shared.capture, PathBuf::from(file), duration, gtid, &shared.shutdown)
        .await
        .map_err(fail)?;
    Ok(Answer::Done(1))
}

/// `CAPTURE STOP`: the statements the capture queued.
pub(super) fn stop(shared: &Shared) -> Result<Answer, Error> {
    shared.capture.stop().map(|s| Answer::Done(s.counters.queued.load(Ordering::Relaxed))).map_err(fail)
}

/// `SHOW CAPTURE`: the running or last capture.
pub(super) fn show(shared: &Shared) -> Answer {
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
