//! Log output: tracing with the config's filter, as text or JSON lines on stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::core::config::{LogConfig, LogFormat};

/// Installs the global subscriber: `cfg.level` as the filter (`info` if it does not parse; a validated
/// config always parses), `cfg.format` as text or one JSON object per line, on stderr.
///
/// Safe to call more than once: the first subscriber stays (tests start several proxies in one process,
/// and a reload cannot swap the global subscriber anyway).
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // Colour codes only for a person at a terminal; journald and log files get plain text.
    let ansi = std::io::stderr().is_terminal();
    let _already_set = match cfg.format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_twice_keeps_the_first_and_does_not_panic() {
        // "off": the subscriber is process-wide and its output is not captured by the test harness.
        let mut cfg = LogConfig { level: "off".into(), ..LogConfig::default() };
        init(&cfg);
        cfg.format = LogFormat::Json;
        cfg.level = "not a [filter".into();
        init(&cfg);
        tracing::info!("logging works after a second init");
    }
}
