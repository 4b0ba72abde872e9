//! Admin `SHOW FIREWALL`, `FIREWALL MODE off|learn|enforce`, `FIREWALL ALLOW '<digest>'` and
//! `FIREWALL SAVE` over [`crate::features::firewall::Firewall`].

use std::sync::atomic::Ordering;

use super::{Answer, text};
use crate::core::config::FirewallMode;
use crate::core::error::Error;
use crate::frontend::state::Shared;

/// `SHOW FIREWALL`: mode and counters as `name | value` rows.
pub(super) fn show(shared: &Shared) -> Answer {
    let fw = &shared.firewall;
    let mode = match fw.mode() {
        FirewallMode::Off => "off",
        FirewallMode::Learn => "learn",
        FirewallMode::Enforce => "enforce",
    };
    let rows = vec![
        vec![text("mode"), text(mode)],
        vec![text("allowed_digests"), text(fw.len())],
        vec![text("learned"), text(fw.learned.load(Ordering::Relaxed))],
        vec![text("blocked"), text(fw.blocked.load(Ordering::Relaxed))],
    ];
    Answer::Rows(vec!["name", "value"], rows)
}

/// `FIREWALL MODE …`.
pub(super) fn set_mode(shared: &Shared, mode: FirewallMode) -> Answer {
    shared.firewall.set_mode(mode);
    tracing::warn!(?mode, "firewall mode set by admin");
    Answer::Done(1)
}

/// `FIREWALL ALLOW '<digest>'`: 1 when the digest was not on the list yet.
pub(super) fn allow(shared: &Shared, digest: u64) -> Answer {
    Answer::Done(u64::from(shared.firewall.allow(digest)))
}

/// `FIREWALL SAVE`: the allowlist into `[firewall] allowlist_file`.
pub(super) fn save(shared: &Shared) -> Result<Answer, Error> {
    let bad = |m: &str| Error::reply((1105, "HY000"), m.to_owned());
    match shared.config().firewall.allowlist_file.clone() {
        Some(path) => {
            shared.firewall.save(&path).map(|n| Answer::Done(n as u64)).map_err(|e| bad(&e.to_string()))
        }
        None => Err(bad("FIREWALL SAVE needs [firewall] allowlist_file in the config")),
    }
}
