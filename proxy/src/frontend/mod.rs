//! Layer 4, frontend: the client side — pre-auth limits, users, the shared state a session reads
//! (`state::Shared`: the handles of the layers below), pins and the session itself (auth, the
//! statement phases, relay).

pub(crate) mod pins;
pub(crate) mod preauth;
pub(crate) mod session;
pub mod state;
pub(crate) mod users;
