//! `server add|import|list|install-token|rotate-key|replace-key|discard-staging|remove|events|set-uuid|fetch-account|export-cert`
//! and `check`: argument parsing ([`args`]), one
//! [`mdmlink::store::registry::Registry`] call per command ([`commands`]),
//! output formatting ([`output`]); `add` and `rotate-key` with `--via-api`
//! ([`via_api`]).

mod args;
mod commands;
mod output;
mod via_api;

pub use args::*;
pub use commands::*;
