//! `[firewall]`: the digest allowlist (learn, then enforce).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the firewall does with a statement's digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallMode {
    /// Nothing is checked.
    #[default]
    Off,
    /// Every digest seen is added to the allowlist.
    Learn,
    /// A digest not in the allowlist is refused with ERR 1148 and counted.
    Enforce,
}

/// `[firewall]`: only known statement shapes run (admin `SHOW FIREWALL`, `FIREWALL MODE …`,
/// `FIREWALL ALLOW <digest>`, `FIREWALL SAVE`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallConfig {
    /// `off`, `learn` or `enforce`. Default off.
    pub mode: FirewallMode,
    /// The allowlist: one 16-hex-digit digest per line (`#` comments). Read at start (a missing file
    /// is an empty list); `FIREWALL SAVE` writes it. Default none.
    pub allowlist_file: Option<PathBuf>,
}
