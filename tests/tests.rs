//! strata's integration tests: one binary, one module per area (as ripgrep's `tests/`).

mod add_url;
mod build;
mod cache_export;
mod chroot;
mod differential;
mod exchange;
mod frontend;
mod frontend_graph;
mod frontend_parser;
mod hostile;
mod named_contexts;
mod outputs;
mod rawjson;
mod registry;
mod rootless;
mod run;
mod run_mount;
mod store;
mod util;
