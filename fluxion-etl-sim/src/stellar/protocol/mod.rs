//! The TDS 7.4 wire protocol, server side: packets, PRELOGIN, LOGIN7, tokens, types and RPC.

pub(crate) mod framing;
pub(crate) mod login7;
pub(crate) mod prelogin;
pub(crate) mod rpc;
pub(crate) mod tokens;
pub(crate) mod types;
