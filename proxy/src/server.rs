//! Process life: the pingora-core server that owns the listening socket in production, and an in-process
//! listener on a plain tokio socket for tests and benches. Both hand each client to `Session::run`.

use std::net::SocketAddr;

use crate::config::Config;

/// A sluice started in-process (tests, benches).
pub struct Running {
    /// The address clients connect to (the real port when the config asked for port 0).
    pub addr: SocketAddr,
}

impl Running {
    /// Stops accepting, lets statements finish, closes sessions.
    pub async fn shutdown(self) {}
}

/// Starts sluice in-process on a tokio listener; returns once it accepts connections.
pub async fn start(_config: Config) -> Result<Running, std::io::Error> {
    Err(std::io::Error::other("not implemented yet"))
}

/// Runs sluice as a server process under pingora-core until SIGTERM/SIGINT. Blocks.
pub fn run(_config: Config) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("not implemented yet"))
}
