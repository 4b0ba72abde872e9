//! `sluice-topology`: supervisor of the MariaDB + Redis topology shared by the test processes of one run.
//!
//! `sluice-topology serve --root DIR --nonce N` (spawned by the harness), `sluice-topology stop` and
//! `sluice-topology status` (for people and scripts; `--root DIR` overrides `<target>/sluice-topology`).

use std::path::PathBuf;
use std::process::ExitCode;

use sluice_tests::shared_state::Paths;
use sluice_tests::supervisor;

const USAGE: &str =
    "usage: sluice-topology (serve --root DIR --nonce N | stop [--root DIR] | status [--root DIR])";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let paths = flag("--root").map(|r| Paths { root: PathBuf::from(r) }).unwrap_or_else(Paths::default_root);
    let result = match args.first().map(String::as_str) {
        Some("serve") => match flag("--nonce") {
            Some(nonce) => supervisor::serve(&paths, &nonce).await.map(|()| String::new()),
            None => Err(anyhow::anyhow!("serve needs --nonce\n{USAGE}")),
        },
        Some("stop") => supervisor::stop(&paths),
        Some("status") => supervisor::status(&paths),
        _ => Err(anyhow::anyhow!("{USAGE}")),
    };
    match result {
        Ok(message) => {
            if !message.is_empty() {
                // A CLI's answer belongs on stdout; stderr carries the logs.
                #[allow(clippy::print_stdout)]
                {
                    println!("{message}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice-topology: {e:#}");
            ExitCode::FAILURE
        }
    }
}
