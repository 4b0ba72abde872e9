//! The config parser and validator: any text gives a config or errors with a key path, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text, "fuzz.toml") {
        Ok(mut cfg) => {
            let _ = cfg.validate();
            // Environment overrides are applied from a fixed function: no process state is read.
            let _ = cfg.apply_env(|k| (k == "SLUICE_POOL_SIZE").then(|| text.chars().take(8).collect()));
            let _ = cfg.validate();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
