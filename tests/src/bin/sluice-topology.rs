//! `sluice-topology`: supervisor of the MariaDB (or MySQL) + Redis topology shared by the test processes
//! of one run.
//!
//! `sluice-topology serve --root DIR --nonce N [--mysql-basedir DIR]` (spawned by the harness; MySQL
//! with `--mysql-basedir`), `sluice-topology stop` and `sluice-topology status` (for people and
//! scripts: both flavours' shared topologies; `--root DIR` names one root instead).
//! `sluice-topology mysql-template` initializes the MySQL data-dir template of `SLUICE_MYSQL_BASEDIR`
//! now (`scripts/test.sh` runs it before the tests, so a slow first initialization is not charged to
//! the first MySQL test's time limit).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_tests::flavor::{Flavor, Install};
use sluice_tests::shared_state::Paths;
use sluice_tests::supervisor;

const USAGE: &str = "usage: sluice-topology (serve --root DIR --nonce N [--mysql-basedir DIR] | stop [--root DIR] | status [--root DIR] | mysql-template)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let root = flag("--root").map(|r| Paths { root: PathBuf::from(r) });
    // Without --root, stop and status cover every flavour's shared topology.
    let all_roots = || match &root {
        Some(r) => vec![r.clone()],
        None => [Flavor::MariaDb, Flavor::MySql].into_iter().map(Paths::for_flavor).collect(),
    };
    let each = |f: fn(&Paths) -> anyhow::Result<String>| -> anyhow::Result<String> {
        let roots = all_roots();
        let many = roots.len() > 1;
        let mut lines = Vec::new();
        for paths in roots {
            let message = f(&paths)?;
            lines.push(if many { format!("{}: {message}", paths.root.display()) } else { message });
        }
        Ok(lines.join("\n"))
    };
    let result = match args.first().map(String::as_str) {
        Some("serve") => match flag("--nonce") {
            Some(nonce) => {
                let paths = root.clone().unwrap_or_else(Paths::default_root);
                let install = match flag("--mysql-basedir") {
                    Some(dir) => Install::mysql(Path::new(&dir)),
                    None => Ok(Install::MariaDb),
                };
                match install {
                    Ok(install) => supervisor::serve(&paths, &nonce, &install).await.map(|()| String::new()),
                    Err(e) => Err(e),
                }
            }
            None => Err(anyhow::anyhow!("serve needs --nonce\n{USAGE}")),
        },
        Some("mysql-template") => mysql_template(),
        Some("stop") => each(supervisor::stop),
        Some("status") => each(supervisor::status),
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

/// Ensures the MySQL data-dir template of `SLUICE_MYSQL_BASEDIR` exists; says where and how long it took.
fn mysql_template() -> anyhow::Result<String> {
    let t0 = std::time::Instant::now();
    match Install::mysql_from_env()? {
        Some(Install::MySql { basedir }) => {
            let dir = sluice_tests::mysql_template::ensure(&basedir)?;
            Ok(format!("MySQL data-dir template {} ready after {:.1?}", dir.display(), t0.elapsed()))
        }
        _ => Err(anyhow::anyhow!("{}", sluice_tests::MYSQL_NOT_RUN)),
    }
}
